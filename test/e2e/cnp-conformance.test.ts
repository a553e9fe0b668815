// network-policy-api's ClusterNetworkPolicy conformance profile (24 tests,
// cnp-conformance-cases.ts) on the real agent and kernel: two node
// namespaces, the suite's houses as namespaces with two pods each (ordinal 0
// on node1, 1 on node2; label conformance-house), servers on TCP 80/8080, UDP
// 53/5353 and SCTP 9003/9005 (container ports `web` TCP 80 and `dns` UDP 53),
// and the suite's host-network `centaur` servers in node1's namespace, the
// watching `felix` in both node namespaces (test/e2e/step-daemons.ts). Each
// upstream test writes its manifests and waits until both nodes programmed
// them, then runs its sub-tests in order: mutations are written and programmed,
// pokes are real connections whose verdict is the kernel's. SCTP goes over raw sockets (an
// INIT answered by an INIT ACK: pod-server.py), as this kernel has no SCTP.
//
// A poke expected to connect waits up to 3 s; one expected blocked 600 ms. The
// pokes of a sub-test, and of the sub-tests after it that change nothing, run
// at the same time. A UDP poke expected blocked that answered is tried twice
// more (its random source port may have met an earlier allowed flow's conntrack
// entry); a TCP or SCTP one is not (a new handshake is a new flow).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { type Protocol, requirementsMissing, Topology, type TopoNode, type TopoPod } from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { eventually, felixDaemon, ManifestDir, nodeManifest, podManifest } from "./cluster.js";
import { CNP_CONFORMANCE, type Mutation } from "./cnp-conformance-cases.js";
import { byName, cnp, HNP, HOUSE_LABEL, type House, priorityFixture, rule } from "./cnp-fixtures.js";
import { StepDaemons } from "./step-daemons.js";

const skip = requirementsMissing();
const OPEN_MS = 3000;
const BLOCKED_MS = 600;

const HOUSES: Record<House, { pod: string; short: string; subnet: number }> = {
  gryffindor: { pod: "harry-potter", short: "harry", subnet: 10 },
  slytherin: { pod: "draco-malfoy", short: "draco", subnet: 20 },
  hufflepuff: { pod: "cedric-diggory", short: "cedric", subnet: 30 },
  ravenclaw: { pod: "luna-lovegood", short: "luna", subnet: 40 },
};
const NAMESPACES = [...Object.keys(HOUSES), "forbidden-forrest"];
const SERVERS = { tcp: [80, 8080], udp: [53, 5353], sctp: [9003, 9005] };
const CENTAUR = { tcp: [HNP[0], HNP[1]], udp: [HNP[2], HNP[4]], sctp: [HNP[6]] };
const PORTS = [
  { name: "web", containerPort: 80, protocol: "TCP" as const },
  { containerPort: 8080, protocol: "TCP" as const },
  { name: "dns", containerPort: 53, protocol: "UDP" as const },
  { containerPort: 5353, protocol: "UDP" as const },
  { containerPort: 9003, protocol: "SCTP" as const },
  { containerPort: 9005, protocol: "SCTP" as const },
];
const IP_POOL = {
  apiVersion: "projectcalico.org/v3",
  kind: "IPPool",
  metadata: { name: "default-ipv4-ippool" },
  spec: { cidr: "10.67.0.0/16", ipipMode: "Never", vxlanMode: "Never", natOutgoing: false },
};

type Obj = Record<string, unknown> & { metadata: { name: string; namespace?: string }; spec: Record<string, unknown> };

describe(
  "ClusterNetworkPolicy conformance (network-policy-api's 24 tests, real felix, real kernel)",
  skipIf(skip),
  () => {
    let topo: Topology;
    let dir: ManifestDir;
    let nodes: TopoNode[];
    const pods = new Map<string, TopoPod>();
    let centaur: TopoNode;
    let steps: StepDaemons;
    let pokes = 0;
    const staleUdp: string[] = [];

    /** The cluster: the pool, the houses' namespaces (with their label values), the nodes and the pods. */
    function clusterDocs(nsLabels: Record<string, string>): object[] {
      const docs: object[] = [IP_POOL];
      for (const ns of NAMESPACES) {
        const labels = { [HOUSE_LABEL]: nsLabels[ns] ?? ns };
        docs.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels } });
      }
      for (const n of nodes) {
        const m = nodeManifest(n) as { metadata: Record<string, unknown> };
        docs.push({ ...m, metadata: { ...m.metadata, labels: { "kubernetes.io/os": "linux" } } });
      }
      for (const p of pods.values()) docs.push(podManifest(p, { [HOUSE_LABEL]: p.namespace }, PORTS));
      return docs;
    }

    /** Writes the cluster and the policies as one step; waits until both nodes programmed it. */
    async function program(nsLabels: Record<string, string>, policies: readonly object[]): Promise<void> {
      await steps.program([...clusterDocs(nsLabels), ...policies]);
    }

    function mutate(docs: Obj[], nsLabels: Record<string, string>, m: Mutation): Obj[] {
      const find = (name: string) => {
        const d = docs.find((x) => x.kind === "ClusterNetworkPolicy" && x.metadata.name === name);
        if (!d) throw new Error(`no ClusterNetworkPolicy ${name}`);
        return d.spec;
      };
      const rules = (name: string, d: "ingress" | "egress") => find(name)[d] as Record<string, unknown>[];
      if ("swap" in m) {
        const r = rules(m.swap.cnp, m.swap.dir);
        [r[m.swap.i], r[m.swap.j]] = [r[m.swap.j]!, r[m.swap.i]!];
      } else if ("action" in m) rules(m.action.cnp, m.action.dir)[m.action.i]!.action = m.action.to;
      else if ("priority" in m) find(m.priority.cnp).priority = m.priority.to;
      else if ("namedPort" in m) {
        rules(m.namedPort.cnp, m.namedPort.dir)[m.namedPort.i]!.protocols = [
          { destinationNamedPort: m.namedPort.port },
        ];
      } else if ("prependEgress" in m) {
        const spec = find(m.prependEgress.cnp);
        spec.egress = [m.prependEgress.rule((k) => pod(k).ip), ...(spec.egress as unknown[])];
      } else if ("namespaceLabel" in m) nsLabels[m.namespaceLabel.ns] = m.namespaceLabel.value;
      else {
        const { namespace, name } = m.deleteNetworkPolicy;
        return docs.filter(
          (d) => !(d.kind === "NetworkPolicy" && d.metadata.name === name && d.metadata.namespace === namespace),
        );
      }
      return docs;
    }

    /** `harry-0` → gryffindor/harry-potter-0. */
    function pod(short: string): TopoPod {
      const [first, ordinal] = short.split("-");
      const house = (Object.keys(HOUSES) as House[]).find((h) => HOUSES[h].short === first);
      const p = house && pods.get(`${house}/${HOUSES[house].pod}-${ordinal}`);
      if (!p) throw new Error(`unknown pod ${short}`);
      return p;
    }

    async function poke(spec: string): Promise<string | undefined> {
      const m = /^(\S+) > (\S+) (tcp|udp|sctp)\/(\d+) ([+-])$/.exec(spec);
      if (!m) throw new Error(`bad poke ${spec}`);
      const [, from, to, proto, port, sign] = m;
      const want = sign === "+";
      const server = to === "centaur" ? centaur : pod(to!);
      const once = () =>
        topo.probeDetail(pod(from!), server, Number(port), proto as Protocol, want ? OPEN_MS : BLOCKED_MS);
      pokes++;
      let r = await once();
      for (let k = 0; !want && r.ok && proto === "udp" && k < 2; k++) {
        const again = await once();
        if (!again.ok) {
          staleUdp.push(spec);
          r = again;
        }
      }
      if (r.ok === want) return undefined;
      return `${spec}: expected ${want ? "connected" : "blocked"}, got ${r.ok ? `connected (${r.reply})` : `blocked (${r.error})`}`;
    }

    before(async () => {
      await Topology.cleanupStale("cn");
      topo = await Topology.create({ stem: "cn", underlayCIDR: "172.31.253.0/24", gateway: "172.31.253.254" });
      const n1 = await topo.addNode("node1", { underlayIp: "172.31.253.1", podCIDR: "10.67.1.0/24", servers: CENTAUR });
      const n2 = await topo.addNode("node2", { underlayIp: "172.31.253.2", podCIDR: "10.67.2.0/24" });
      nodes = [n1, n2];
      centaur = n1;
      const adds: Promise<TopoPod>[] = [];
      for (const [house, h] of Object.entries(HOUSES)) {
        for (const ordinal of [0, 1]) {
          const node = nodes[ordinal]!;
          const ip = `10.67.${ordinal + 1}.${h.subnet + ordinal}`;
          adds.push(topo.addPod(node, { namespace: house, name: `${h.pod}-${ordinal}`, ip, servers: SERVERS }));
        }
      }
      for (const p of await Promise.all(adds)) pods.set(p.key, p);
      dir = new ManifestDir();
      // Step markers: 10.67.100-249.0/24 in the pool, routed via an unused underlay address.
      steps = new StepDaemons(topo, dir, nodes, {
        markerCIDR: (n) => `10.67.${100 + (n % 150)}.0/24`,
        markerIp: "172.31.253.250",
      });
    });

    after(async () => {
      await steps?.stop();
      await topo?.destroy();
      dir?.destroy();
      console.log(
        `# ClusterNetworkPolicy conformance: ${steps?.stepMs.length} steps programmed by the watching agents (both nodes), ${pokes} pokes; ` +
          `UDP pokes expected blocked that first answered (an earlier flow's conntrack entry), then were blocked: ${staleUdp.length}`,
      );
    });

    test("without policies every pod reaches every other on TCP, UDP and SCTP, and node1's host-network servers", async () => {
      await program({}, []);
      const specs: string[] = [];
      for (const c of ["harry-0", "draco-1"]) {
        for (const s of ["luna-0", "cedric-1"]) {
          for (const p of ["tcp/80", "tcp/8080", "udp/53", "udp/5353", "sctp/9003", "sctp/9005"]) {
            specs.push(`${c} > ${s} ${p} +`);
          }
        }
        for (const p of [`tcp/${HNP[0]}`, `udp/${HNP[2]}`, `sctp/${HNP[6]}`]) specs.push(`${c} > centaur ${p} +`);
      }
      const failures = (await Promise.all(specs.map(poke))).filter((f): f is string => f !== undefined);
      assert.deepEqual(failures, []);
    });

    test("[api-overview] a pod reaching its own IP is not subject to ClusterNetworkPolicy; others are", async () => {
      const denyAll = cnp("deny-all-gryffindor", "Admin", 1, byName("gryffindor"), {
        ingress: [rule("ingress", "deny-all-in", "Deny", [{ namespaces: {} }])],
        egress: [rule("egress", "deny-all-out", "Deny", [{ namespaces: {} }, { networks: ["0.0.0.0/0"] }])],
      });
      await program({}, [denyAll]);
      const pokes = ["harry-0 > harry-0 tcp/80 +", "harry-1 > harry-1 udp/53 +", "harry-0 > harry-0 sctp/9003 +"];
      pokes.push("luna-0 > harry-0 tcp/80 -", "harry-0 > luna-0 tcp/80 -", "harry-0 > harry-1 udp/53 -");
      const failures = (await Promise.all(pokes.map(poke))).filter((f): f is string => f !== undefined);
      assert.deepEqual(failures, []);
    });

    test("the watching daemons follow ClusterNetworkPolicy edits as they are written (priority, action, deletion)", async () => {
      const docs = JSON.parse(JSON.stringify(priorityFixture())) as Obj[];
      await steps.stop(); // this test's own daemons, on files edited in place; the next step starts them again
      dir.write("cluster.yaml", clusterDocs({}));
      dir.write("policies.yaml", docs);
      const daemons = nodes.map((n) => felixDaemon(topo, dir.path, n));
      const until = (open: boolean) =>
        eventually(
          () => topo.probe(pod("draco-1"), pod("harry-0"), 80, "tcp", 300),
          (ok) => ok === open,
        ).catch((e: Error) => {
          throw new Error(`${e.message}\nnode1 daemon:\n${daemons[0]!.output().slice(-3000)}`);
        });
      try {
        for (const d of daemons) {
          await eventually(
            async () => d.output(),
            (o) => /"msg":"dataplane (programmed|already in sync)/.test(o),
          );
        }
        await until(false); // priority 50's Deny before priority 60's Pass
        const spec = (name: string) => docs.find((d) => d.metadata.name === name)!.spec;
        spec("old-priority-60-new-priority-40-example").priority = 40;
        dir.write("policies.yaml", docs);
        const passed = await until(true); // the Pass now runs first: the Baseline's Accept decides
        (spec("default").ingress as Record<string, unknown>[])[0]!.action = "Deny";
        dir.write("policies.yaml", docs);
        const denied = await until(false);
        dir.remove("policies.yaml");
        const removed = await until(true);
        console.log(
          `# daemons: a CNP priority change enforced in ${passed.ms.toFixed(0)} ms, an action change in ` +
            `${denied.ms.toFixed(0)} ms, the policies file's removal in ${removed.ms.toFixed(0)} ms (probes included)`,
        );
      } finally {
        for (const d of daemons) await d.kill();
        dir.remove("policies.yaml");
        dir.remove("cluster.yaml");
      }
    });

    for (const u of CNP_CONFORMANCE) {
      test(`[upstream ${u.shortName}] conformance/tests/${u.file} (${u.features.join(", ")})`, async (t) => {
        // A JSON copy: no two documents share an object a mutation could change in both.
        let docs = JSON.parse(JSON.stringify(u.manifests())) as Obj[];
        const nsLabels: Record<string, string> = {};
        await program(nsLabels, docs);
        // A sub-test without mutations pokes the state the one before it left: its pokes start with that
        // one's, at the same time (a blocked poke waits out its timeout; they need not wait in turn).
        const started = new Map<(typeof u.subtests)[number], Promise<(string | undefined)[]>>();
        const startPokes = (i: number) => {
          for (let j = i; j < u.subtests.length && (j === i || !u.subtests[j]!.mutations?.length); j++) {
            const sub = u.subtests[j]!;
            const p = Promise.all(sub.pokes.map(poke));
            p.catch(() => {}); // awaited by its own sub-test
            started.set(sub, p);
          }
        };
        for (const [i, sub] of u.subtests.entries()) {
          await t.test(sub.name, async () => {
            if (sub.mutations?.length) {
              for (const m of sub.mutations) docs = mutate(docs, nsLabels, m);
              await program(nsLabels, docs);
            }
            if (!started.has(sub)) startPokes(i);
            const failures = (await started.get(sub)!).filter((f): f is string => f !== undefined);
            assert.deepEqual(
              failures,
              [],
              `${failures.join("\n")}\n\npolicies:\n${docs.map((d) => stringify(d)).join("---\n")}`,
            );
          });
        }
      });
    }
  },
);
