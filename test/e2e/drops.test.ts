// Live drop reports, in the kernel: with dropNflogGroup set, the real
// `felix --once` programs NFLOG rules before the drops; `felix-dump drops
// --live` runs in the server's node namespace, a real connection is refused
// by policy, and the report names the denying Calico policy and rule (or the
// end of the tier) within a second of the connection attempt (the issue's
// contract). `hits --live` then maps the kernel's counters to the same rules
// (iptables' or, in nftables mode, our nft table's).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type Background,
  exec,
  iptablesCmd,
  requirementsMissing,
  Topology,
  type TopoPod,
} from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { clusterManifests, FELIX_DUMP, felixOnce, ManifestDir } from "./cluster.js";
import { TEST_DATAPLANE } from "./dataplane-mode.js";

const skip = requirementsMissing();
const GROUP = "7";
/** felix-dump reads the agent's settings the way the agent does: from the same environment. */
const ENV = { ...process.env, FELIX_DROPNFLOGGROUP: GROUP };

const DENY_WEB = {
  apiVersion: "projectcalico.org/v3",
  kind: "NetworkPolicy",
  metadata: { name: "deny-web", namespace: "srv" },
  spec: {
    selector: "app == 'web'",
    ingress: [
      { action: "Deny", protocol: "TCP", destination: { ports: [80] } },
      { action: "Allow", protocol: "UDP" },
    ],
  },
};

interface Report {
  src?: string;
  dst?: string;
  dport?: number;
  origin?: Record<string, unknown>;
}

describe("felix-dump drops --live: NFLOG reports of policy drops", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let client: TopoPod;
  let web: TopoPod;
  let listener: Background;

  before(async () => {
    await Topology.cleanupStale("fdr");
    topo = await Topology.create({ stem: "fdr" });
    const n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
    const n2 = await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24" });
    client = await topo.addPod(n1, { namespace: "cli", name: "client", ip: "10.65.1.2", servers: {} });
    web = await topo.addPod(n2, { namespace: "srv", name: "web", ip: "10.65.2.2", labels: { app: "web" } });
    dir = new ManifestDir();
    dir.write("cluster.yaml", clusterManifests(topo));
    dir.write("policy.yaml", [DENY_WEB]);
    const runs = await felixOnce(topo, dir.path, [n1, n2], { FELIX_DROPNFLOGGROUP: GROUP });
    for (const r of runs) assert.equal(r.code, 0, r.output);
    listener = topo.spawn(
      n2,
      process.execPath,
      [FELIX_DUMP, "drops", "--live", "--resources", dir.path, "--node-name", "node2", "-o", "json"],
      ENV,
    );
    // The client's prober process starts on its first probe: start it now (an allowed probe), so
    // the one-second window below measures the report, not a process start.
    assert.equal(await topo.probe(client, web, 80, "udp", 2000), true);
    const t0 = Date.now();
    while (!listener.output().includes("listening for drops")) {
      if (Date.now() - t0 > 20_000) throw new Error(`the listener did not start:\n${listener.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    await listener?.kill();
    await topo?.destroy();
    dir?.destroy();
  });

  const reports = (): Report[] =>
    listener
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Report);

  /** Starts a refused connection and waits (at most 1 s, the contract) for its report. */
  async function reportOf(port: number, protocol: "tcp" | "udp"): Promise<Report> {
    const t0 = Date.now();
    const probe = topo.probe(client, web, port, protocol, 800);
    let found: Report | undefined;
    while (!found && Date.now() - t0 < 1000) {
      found = reports().find((r) => r.src === client.ip && r.dst === web.ip && r.dport === port);
      if (!found) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await probe, false, `${protocol}/${port} should be refused`);
    assert.ok(found, `no drop report within 1 s; listener output:\n${listener.output()}`);
    return found;
  }

  test("a connection denied by a Calico policy rule is reported with that policy, tier and rule", async () => {
    const r = await reportOf(80, "tcp");
    assert.deepEqual(r.origin, {
      kind: "policy",
      tier: "default",
      policyKind: "NetworkPolicy",
      namespace: "srv",
      name: "deny-web",
      direction: "ingress",
      ruleIndex: 0,
      action: "deny",
    });
  });

  test("one no rule allows is reported as the end of its tier", async () => {
    const r = await reportOf(81, "tcp");
    assert.deepEqual(r.origin, {
      kind: "endpoint",
      workload: "srv/web",
      direction: "ingress",
      tier: "default",
      why: "End of tier default: no policy allowed it",
    });
  });

  test("an allowed connection is not reported", async () => {
    assert.equal(await topo.probe(client, web, 80, "udp", 1000), true);
    assert.equal(reports().filter((r) => r.dport === 80 && (r as { protocol?: string }).protocol === "udp").length, 0);
  });

  // In nftables mode the counters are the `counter` statements of our table's rules, read over netlink.
  test("hits --live counts the denying rule's packets against the policy", async () => {
    const b = topo.spawn(
      web.node,
      process.execPath,
      [FELIX_DUMP, "hits", "--live", "--resources", dir.path, "--node-name", "node2", "-o", "json"],
      ENV,
    );
    assert.equal(await b.exited, 0, b.output());
    if (TEST_DATAPLANE === "nftables") {
      // The counts came from our nft table (the agent programmed no iptables rules of ours to read).
      assert.match(await exec(web.node.netns, "nft", "list", "tables"), /^table ip calico$/m);
      assert.doesNotMatch(await exec(web.node.netns, `${iptablesCmd()}-save`), /cali-/);
    }
    const hits = JSON.parse(b.output().slice(b.output().indexOf("["))) as {
      origin: Record<string, unknown>;
      packets: number;
    }[];
    const deny = hits.find(
      (h) => h.origin.kind === "policy" && h.origin.name === "deny-web" && h.origin.ruleIndex === 0,
    );
    assert.ok(deny && deny.packets >= 1, JSON.stringify(hits, null, 2));
    const allow = hits.find(
      (h) => h.origin.kind === "policy" && h.origin.name === "deny-web" && h.origin.ruleIndex === 1,
    );
    assert.ok(allow && allow.packets >= 1, JSON.stringify(hits, null, 2));
  });
});
