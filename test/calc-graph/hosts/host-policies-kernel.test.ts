// The rules the graph renders for a host endpoint with every kind of policy
// (normal, applyOnForward, preDNAT, doNotTrack, profiles) and an
// all-interfaces endpoint, with a workload selected by all of them, are
// accepted by the real iptables-restore, legacy and nft, in a throwaway
// network namespace: no chain jumps to one that lives in another table.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import { eq } from "../../../calc-graph/selector/selector.js";
import { ipsetsText, iptablesText } from "../../../src/dump/views.js";
import { requirementsMissing } from "../../../src/netns/topology.js";
import { skipIf } from "../../helpers/skip.js";
import { namespace, pod } from "../fixtures.js";
import { globalPolicy, hostEndpoint } from "./fixtures.js";

const skip = requirementsMissing();
const ns = `c16s-hep-${randomBytes(3).toString("hex")}`;

function inNs(cmd: string, args: string[], input?: string) {
  const r = spawnSync("ip", ["netns", "exec", ns, cmd, ...args], { input, encoding: "utf8", timeout: 20_000 });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

before(() => {
  if (!skip) spawnSync("ip", ["netns", "add", ns]);
});
after(() => {
  if (!skip) spawnSync("ip", ["netns", "del", ns]);
});

test(
  "host endpoint rules with every kind of policy load with iptables-restore (legacy and nft, v4 and v6)",
  skipIf(skip),
  () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const node = eq("role", "node");
    const peers = eq("role", "peer");
    const policies = [
      globalPolicy("normal", node, {
        inbound: [{ action: "allow", protocol: "tcp", dstPorts: [{ first: 80, last: 80 }], srcSelector: peers }],
        outbound: [{ action: "deny", dstNets: ["192.0.2.0/24"] }, { action: "allow" }],
      }),
      globalPolicy("forward", node, {
        inbound: [{ action: "deny" }],
        outbound: [{ action: "allow" }],
        applyOnForward: true,
      }),
      globalPolicy("pre-dnat", node, {
        inbound: [{ action: "deny", srcNets: ["198.51.100.0/24"] }],
        preDNAT: true,
        applyOnForward: true,
      }),
      globalPolicy("untracked", node, {
        inbound: [{ action: "allow", srcSelector: peers }],
        outbound: [{ action: "allow", dstNets: ["2001:db8::/32"] }],
        doNotTrack: true,
        applyOnForward: true,
      }),
    ];
    for (const p of policies) g.converter.policies$.next({ key: p.key, policy: p });
    const s = g.apply([
      namespace("a"),
      pod("a", "web", { ip: "10.65.1.5", ips: ["10.65.1.5", "fd00::5"], labels: { role: "node" } }),
      pod("a", "peer", { node: "node2", ip: "10.65.2.5", labels: { role: "peer" } }),
      hostEndpoint(
        "node1-eth0",
        { interfaceName: "eth0", profiles: ["projectcalico-default-allow"] },
        { role: "node" },
      ),
      hostEndpoint("node1-all", { interfaceName: "*" }, { role: "node" }),
    ]);
    for (const v of [4, 6] as const) {
      const sets = inNs("ipset", ["restore", "-exist"], ipsetsText(s, v));
      assert.ok(sets.ok, sets.out);
      const text = iptablesText(s, v);
      for (const tool of v === 4
        ? ["iptables-legacy-restore", "iptables-nft-restore"]
        : ["ip6tables-legacy-restore", "ip6tables-nft-restore"]) {
        const r = inNs(tool, ["--noflush", "--test"], text);
        assert.ok(r.ok, `${tool}: ${r.out}\n${text}`);
      }
    }
    assert.ok(iptablesText(s, 4).includes("-j NOTRACK"), "the untracked policy is there");
  },
);
