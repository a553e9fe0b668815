// End to end, with the real kernel: switching the agent between the iptables
// and the nftables dataplane (FELIX_NFTABLESMODE), both directions. After each
// switch the other mode's state of ours is gone (our cali- chains, hook rules
// and IP sets; or our `calico` and `calico-nat` nft tables), foreign rules stay, and the policy
// holds: the allowed client connects, the denied one does not. The moment in
// between (both dataplanes' policy in the kernel, as during a switch, since the
// new one goes in before the old one goes) is rebuilt and probed too.
//
// test-runner: one dataplane mode: each agent here is given its mode (FELIX_NFTABLESMODE).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { exec, requirementsMissing, run, Topology, type TopoNode, type TopoPod } from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { eventually, FELIX_DUMP, felixDaemon, felixOnce, ManifestDir, nodeManifest, podManifest } from "./cluster.js";

const skip = requirementsMissing();
/** Our tables in both families (policy and NAT, nftables/names.ts), and the foreign one. */
const OURS_AND_FOREIGN = [
  "table ip calico",
  "table ip calico-nat",
  "table ip foreign",
  "table ip6 calico",
  "table ip6 calico-nat",
];

describe("switching between the iptables and the nftables dataplane", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let allowed: TopoPod;
  let denied: TopoPod;
  let server: TopoPod;

  const sh = async (cmd: string, ...args: string[]) =>
    (await run("ip", ["netns", "exec", n1.netns, cmd, ...args], { allowFail: true })).stdout;
  const ourIptables = async () =>
    (await sh("iptables-legacy-save")).split("\n").filter((l) => /cali-|cali:/.test(l)).length;
  const ourIpsets = async () =>
    (await sh("ipset", "list", "-n")).split("\n").filter((l) => l.startsWith("cali")).length;
  const nftTables = async () => (await sh("nft", "list", "tables")).trim().split("\n").filter(Boolean).sort();

  async function program(mode: "Enabled" | "Disabled"): Promise<string> {
    const [r] = await felixOnce(topo, dir.path, [n1], { FELIX_NFTABLESMODE: mode });
    assert.equal(r.code, 0, r.output);
    return r.output;
  }

  async function assertPolicy(when: string): Promise<void> {
    assert.equal(await topo.probe(allowed, server, 80, "tcp"), true, `${when}: the allowed client connects`);
    assert.equal(await topo.probe(denied, server, 80, "tcp"), false, `${when}: the denied client does not`);
  }

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
    allowed = await topo.addPod(n1, { namespace: "x", name: "allowed", ip: "10.65.1.10" });
    denied = await topo.addPod(n1, { namespace: "x", name: "denied", ip: "10.65.1.11" });
    server = await topo.addPod(n1, { namespace: "x", name: "server", ip: "10.65.1.12", servers: { tcp: [80] } });
    dir = new ManifestDir();
    dir.write("cluster.yaml", [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } },
      nodeManifest(n1),
      ...[allowed, denied, server].map((p) => podManifest(p)),
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "only-allowed", namespace: "x" },
        spec: {
          podSelector: { matchLabels: { pod: "server" } },
          policyTypes: ["Ingress"],
          ingress: [{ from: [{ podSelector: { matchLabels: { pod: "allowed" } } }] }],
        },
      },
    ]);
    // Foreign state both modes must leave alone.
    await exec(n1.netns, "iptables-legacy", "-N", "FOREIGN");
    await exec(n1.netns, "iptables-legacy", "-A", "FORWARD", "-j", "FOREIGN");
    await exec(n1.netns, "nft", "add", "table", "ip", "foreign");
  });

  after(async () => {
    await topo?.destroy();
    dir?.destroy();
  });

  test("iptables → nftables → iptables: the other mode's state of ours goes, the policy holds throughout", async () => {
    await program("Disabled");
    assert.ok((await ourIptables()) > 0, "iptables mode programs cali- chains");
    assert.ok((await ourIpsets()) > 0, "iptables mode programs IP sets");
    assert.deepEqual(await nftTables(), ["table ip foreign"]);
    await assertPolicy("iptables mode");

    // The moment in between: the nft tables loaded while the iptables rules are still there.
    const nft = (await run("node", [FELIX_DUMP, "nftables", "--resources", dir.path, "--node-name", "node1"])).stdout;
    await run("ip", ["netns", "exec", n1.netns, "nft", "-f", "-"], { input: nft });
    assert.deepEqual(await nftTables(), OURS_AND_FOREIGN);
    await assertPolicy("both dataplanes in force");

    const toNft = await program("Enabled");
    assert.match(toNft, /"dataplane":"nftables"/);
    assert.equal(await ourIptables(), 0, "no cali- chain or hook rule left in iptables");
    assert.equal(await ourIpsets(), 0, "no IP set of ours left");
    assert.match(await sh("iptables-legacy-save"), /-A FORWARD -j FOREIGN/, "foreign iptables rules stay");
    assert.deepEqual(await nftTables(), OURS_AND_FOREIGN);
    await assertPolicy("nftables mode");
    const again = await program("Enabled");
    assert.match(again, /already in sync: no changes/, "a second --once in nftables mode writes nothing");

    const toIpt = await program("Disabled");
    assert.match(toIpt, /"dataplane":"iptables"/);
    assert.deepEqual(await nftTables(), ["table ip foreign"], "our nft tables go, the foreign one stays");
    assert.ok((await ourIptables()) > 0);
    await assertPolicy("back in iptables mode");
  });

  test("FelixConfiguration nftablesMode: a change restarts the watching daemon (exit 129), which then starts in the new mode", async () => {
    // No FELIX_NFTABLESMODE: the FelixConfiguration decides.
    const env = { FELIX_NFTABLESMODE: "" };
    const config = (mode: string) => ({
      apiVersion: "projectcalico.org/v3",
      kind: "FelixConfiguration",
      metadata: { name: "default" },
      spec: { nftablesMode: mode },
    });
    dir.write("felix-config.yaml", [config("Disabled")]);
    const d = felixDaemon(topo, dir.path, n1, env);
    try {
      await eventually(
        async () => d.output(),
        (o) => /"msg":"dataplane (programmed|already in sync)/.test(o),
      );
      assert.match(d.output(), /"dataplane":"iptables"/);
      dir.write("felix-config.yaml", [config("Enabled")]);
      assert.equal(await d.exited, 129, d.output().slice(-2000));
      assert.match(d.output(), /nftablesMode changed: exiting to restart with it/);
    } finally {
      await d.kill();
    }
    const [r] = await felixOnce(topo, dir.path, [n1], env);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /"dataplane":"nftables","nftablesMode":"Enabled"/);
    assert.equal(await ourIptables(), 0);
    await assertPolicy("restarted in nftables mode by the FelixConfiguration");
    dir.remove("felix-config.yaml");
  });
});
