// Calico's policy model in the kernel: tiers with Pass, a high-tier Deny
// overriding a Kubernetes allow, a global default-deny with exceptions, a Log
// rule that logs and goes on, network sets (global and namespaced), and staged policies having no effect, by real connections between pods on two
// node namespaces, each programmed by the real `felix --once` from
// projectcalico.org/v3 manifests. Each step writes its policies, programs
// both nodes and probes; the verdict is the kernel's.
//
// Pods: prod/web (node1, app=web), prod/api (node2, app=api), prod/db (node1,
// app=db), quarantine/bad (node2), other/client (node1); TCP and UDP servers
// on 80 and 81 in every pod.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { requirementsMissing, Topology, type TopoNode, type TopoPod } from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { clusterManifests, eventually, felixDaemon, felixOnce, ManifestDir } from "./cluster.js";
import { chainNames, chainRules, ruleCounter } from "./dataplane-mode.js";

const skip = requirementsMissing();
/** Successful probes here take well under 100 ms; a blocked one times out. */
const OPEN_MS = 2000;
const BLOCKED_MS = 500;

const tier = (name: string, order: number, defaultAction: "Deny" | "Pass") => ({
  apiVersion: "projectcalico.org/v3",
  kind: "Tier",
  metadata: { name },
  spec: { order, defaultAction },
});

/** A Kubernetes NetworkPolicy letting everything reach prod/web on TCP 80 and 81. */
const k8sAllowWeb = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: "allow-web", namespace: "prod" },
  spec: { podSelector: { matchLabels: { pod: "web" } }, ingress: [{ ports: [{ port: 80 }, { port: 81 }] }] },
};

describe("Calico policy model, end to end", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let nodes: TopoNode[];
  const pods: Record<string, TopoPod> = {};

  /** Writes the step's policies (replacing the last step's) and programs both nodes. */
  async function program(docs: object[]): Promise<void> {
    dir.write("policies.yaml", docs);
    const runs = await felixOnce(topo, dir.path, nodes);
    for (const r of runs) assert.equal(r.code, 0, r.output);
  }

  async function reaches(from: string, to: string, port: number, protocol: "tcp" | "udp" = "tcp") {
    return topo.probe(pods[from], pods[to], port, protocol, OPEN_MS);
  }

  async function blocked(from: string, to: string, port: number, protocol: "tcp" | "udp" = "tcp") {
    return !(await topo.probe(pods[from], pods[to], port, protocol, BLOCKED_MS));
  }

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    const n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
    const n2 = await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24" });
    nodes = [n1, n2];
    const servers = { tcp: [80, 81], udp: [80, 81] };
    const add = async (node: TopoNode, namespace: string, name: string, ip: string, labels: Record<string, string>) => {
      pods[name] = await topo.addPod(node, { namespace, name, ip, servers, labels });
    };
    await add(n1, "prod", "web", "10.65.1.2", { app: "web" });
    await add(n2, "prod", "api", "10.65.2.2", { app: "api" });
    await add(n1, "prod", "db", "10.65.1.3", { app: "db" });
    await add(n2, "quarantine", "bad", "10.65.2.3", { app: "bad" });
    await add(n1, "other", "client", "10.65.1.4", { app: "client" });
    dir = new ManifestDir();
    dir.write("cluster.yaml", clusterManifests(topo, { quarantine: { quarantine: "true" } }));
  });

  after(async () => {
    await topo?.destroy();
    dir?.destroy();
  });

  test("a high-tier Deny overrides a Kubernetes allow; what it passes, the default tier decides", async () => {
    await program([
      tier("security", 100, "Deny"),
      {
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: "security.quarantine" },
        spec: {
          tier: "security",
          order: 10,
          selector: "has(app)",
          types: ["Ingress"],
          ingress: [{ action: "Deny", source: { namespaceSelector: "quarantine == 'true'" } }, { action: "Pass" }],
        },
      },
      k8sAllowWeb,
    ]);
    assert.equal(await blocked("bad", "web", 80), true, "the security tier denies quarantine despite the k8s allow");
    assert.equal(await reaches("api", "web", 80), true, "passed on, the k8s policy allows it");
    assert.equal(await reaches("client", "web", 81), true);
    // Passed, and no policy of a later tier selects db: its namespace profile allows (Calico's semantics).
    assert.equal(await reaches("client", "db", 80), true, "passed by the security tier, allowed by db's profile");
  });

  test("defaultAction Pass lets what a tier's policies leave undecided go on; Deny drops it", async () => {
    const udpDeny = {
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkPolicy",
      metadata: { name: "security.web-no-udp", namespace: "prod" },
      spec: { tier: "security", selector: "app == 'web'", ingress: [{ action: "Deny", protocol: "UDP" }] },
    };
    const udpAllow = {
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkPolicy",
      metadata: { name: "web-udp", namespace: "prod" },
      spec: {
        selector: "app == 'web'",
        order: 2000,
        ingress: [{ action: "Allow", protocol: "UDP", destination: { ports: [80] } }],
      },
    };
    await program([tier("security", 100, "Pass"), udpDeny, k8sAllowWeb, udpAllow]);
    // UDP first: an allowed UDP probe's conntrack entry could carry a later one through.
    assert.equal(await blocked("api", "web", 80, "udp"), true, "the security tier denies UDP");
    assert.equal(await reaches("api", "web", 80), true, "TCP is passed to the default tier, which allows it");
    await program([tier("security", 100, "Deny"), udpDeny, k8sAllowWeb, udpAllow]);
    assert.equal(await blocked("api", "web", 81), true, "with defaultAction Deny the end of the tier drops it");
    assert.equal(await reaches("api", "db", 80), true, "db is in no tier: its profile allows");
  });

  test("a global default-deny with exceptions", async () => {
    await program([
      {
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: "default-deny" },
        spec: { selector: "projectcalico.org/namespace != 'kube-system'", types: ["Ingress", "Egress"] },
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: "api-to-web" },
        spec: {
          order: 100,
          selector: "app in {'api', 'web'}",
          types: ["Ingress", "Egress"],
          ingress: [
            {
              action: "Allow",
              protocol: "TCP",
              source: { selector: "app == 'api'" },
              destination: { selector: "app == 'web'", ports: ["80:80"] },
            },
          ],
          egress: [{ action: "Allow", protocol: "TCP", destination: { selector: "app == 'web'", ports: [80] } }],
        },
      },
    ]);
    assert.equal(await reaches("api", "web", 80), true, "the exception");
    assert.equal(await blocked("api", "web", 81), true, "not in the exception");
    assert.equal(await blocked("client", "db", 80), true, "default deny, ingress and egress");
    assert.equal(await blocked("web", "api", 80), true, "web's egress to api is not an exception");
  });

  test("a Log rule logs (its kernel counter counts the connection) and lets the next rule decide", async () => {
    await program([
      {
        apiVersion: "projectcalico.org/v3",
        kind: "NetworkPolicy",
        metadata: { name: "log-then-allow", namespace: "prod" },
        spec: {
          selector: "app == 'web'",
          ingress: [
            { action: "Log", protocol: "TCP", destination: { ports: [81] } },
            { action: "Allow", protocol: "TCP", destination: { ports: [81] } },
          ],
        },
      },
    ]);
    const ns = pods.web.node.netns;
    const logRule = { iptables: /-j LOG --log-prefix "calico-packet: "/, nftables: /log prefix "calico-packet: "/ };
    let logChain: string | undefined;
    for (const c of await chainNames(ns, "filter")) {
      if (
        c.startsWith("cali-pi-") &&
        (await chainRules(ns, "filter", c)).some((r) => logRule.nftables.test(r) || logRule.iptables.test(r))
      )
        logChain = c;
    }
    assert.ok(logChain, "the LOG rule is programmed");
    const chain = logChain;
    const logCount = () => ruleCounter(ns, "filter", chain, logRule);
    const before = await logCount();
    assert.equal(await reaches("api", "web", 81), true, "logged, then allowed");
    assert.equal(await blocked("api", "web", 80), true, "not logged, not allowed");
    // The connection's first packet (a retransmitted SYN would count twice; established ones skip policy).
    const after = await logCount();
    assert.ok(after > before && after <= before + 2, `LOG counted ${after - before} packets`);
  });

  test("the watching daemon applies tier changes as they are written: defaultAction, order, deletion", async () => {
    dir.write("policies.yaml", [
      {
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: "web-ingress" },
        spec: {
          tier: "security",
          selector: "app == 'web'",
          ingress: [{ action: "Allow", source: { selector: "app == 'api'" } }],
        },
      },
      k8sAllowWeb,
    ]);
    dir.write("tier.yaml", [tier("security", 100, "Pass")]);
    const daemons = nodes.map((n) => felixDaemon(topo, dir.path, n));
    try {
      for (const d of daemons) {
        await eventually(
          async () => d.output(),
          (o) => /"msg":"dataplane (programmed|already in sync)/.test(o),
        );
      }
      const until = (open: boolean) =>
        eventually(
          () => topo.probe(pods.client, pods.web, 80, "tcp", 300),
          (ok) => ok === open,
        ).catch((e: Error) => {
          throw new Error(`${e.message}\nnode1 daemon:\n${daemons[0].output().slice(-3000)}`);
        });
      // Passed on by the security tier: the Kubernetes allow decides.
      await until(true);
      // defaultAction Deny: what the tier's policy does not allow ends there.
      dir.write("tier.yaml", [tier("security", 100, "Deny")]);
      const denied = await until(false);
      assert.equal(await reaches("api", "web", 80), true, "allowed in the security tier");
      // Ordered after the default tier: the Kubernetes allow there decides first.
      dir.write("tier.yaml", [tier("security", 2_000_000, "Deny")]);
      await until(true);
      dir.write("tier.yaml", [tier("security", 100, "Deny")]);
      await until(false);
      // The tier deleted: its policy runs in a last tier (after default, which allows), and it is reported.
      dir.remove("tier.yaml");
      await until(true);
      await eventually(
        async () => daemons[0].output(),
        (o) => o.includes("tier security does not exist"),
      );
      console.log(`# daemon: a tier's defaultAction change enforced in ${denied.ms.toFixed(0)} ms (including probes)`);
    } finally {
      for (const d of daemons) await d.kill();
      dir.remove("tier.yaml");
    }
  });

  test("network sets: a rule selector matches their nets; a namespaced set only serves its own namespace", async () => {
    const netSet = (
      kind: string,
      name: string,
      labels: Record<string, string>,
      nets: string[],
      namespace?: string,
    ) => ({
      apiVersion: "projectcalico.org/v3",
      kind,
      metadata: namespace === undefined ? { name, labels } : { name, namespace, labels },
      spec: { nets },
    });
    const sets = [
      netSet("GlobalNetworkSet", "trusted-hosts", { role: "trusted" }, [`${pods.api.ip}/32`]),
      // A tenant in `other` labels bad's address "trusted" and "partner": it must widen nobody's access.
      netSet("NetworkSet", "sneaky-trusted", { role: "trusted" }, [`${pods.bad.ip}/32`], "other"),
      netSet("NetworkSet", "sneaky-partner", { role: "partner" }, [`${pods.bad.ip}/32`], "other"),
      netSet("NetworkSet", "partners", { role: "partner" }, [`${pods.client.ip}/32`], "prod"),
    ];
    const webFromTrusted = {
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkPolicy",
      metadata: { name: "web-from-trusted" },
      spec: {
        selector: "app == 'web'",
        types: ["Ingress"],
        ingress: [{ action: "Allow", source: { selector: "role == 'trusted'", namespaceSelector: "global()" } }],
      },
    };
    await program([...sets, webFromTrusted]);
    assert.equal(await reaches("api", "web", 80), true, "api's address is in the global set");
    assert.equal(await blocked("bad", "web", 80), true, "a namespaced set is not global()");
    assert.equal(await blocked("client", "web", 80), true, "no set holds client yet for this policy");
    const webFromPartners = {
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkPolicy",
      metadata: { name: "web-from-partners", namespace: "prod" },
      spec: { selector: "app == 'web'", ingress: [{ action: "Allow", source: { selector: "role == 'partner'" } }] },
    };
    await program([...sets, webFromTrusted, webFromPartners]);
    assert.equal(await reaches("client", "web", 81), true, "prod's own network set names client");
    assert.equal(await blocked("bad", "web", 81), true, "other's set is outside prod's policy's scope");
  });

  test("staged policies have no effect", async () => {
    await program([
      {
        apiVersion: "projectcalico.org/v3",
        kind: "StagedGlobalNetworkPolicy",
        metadata: { name: "deny-everything" },
        spec: { selector: "all()", types: ["Ingress", "Egress"], ingress: [{ action: "Deny" }] },
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "StagedKubernetesNetworkPolicy",
        metadata: { name: "isolate", namespace: "prod" },
        spec: { podSelector: {}, policyTypes: ["Ingress"] },
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "StagedNetworkPolicy",
        metadata: { name: "deny-web", namespace: "prod" },
        spec: { selector: "all()", ingress: [{ action: "Deny" }] },
      },
    ]);
    assert.equal(await reaches("client", "web", 80), true);
    assert.equal(await reaches("bad", "db", 81), true);
    assert.equal(await reaches("web", "api", 80), true);
  });
});
