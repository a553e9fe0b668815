// Host endpoints in the graph: which interfaces they police, where each kind
// of policy lands (Felix's normal, applyOnForward, preDNAT and doNotTrack
// tiers), and that withdrawing one leaves exactly the tables of a node that
// never had one.

import assert from "node:assert/strict";
import { test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import type { Policy } from "../../../calc-graph/model.js";
import { policyChainName } from "../../../calc-graph/rules/names.js";
import { eq } from "../../../calc-graph/selector/selector.js";
import { chainOf, type TableName } from "../../../model/tables.js";
import { deleted, namespace, pod, renderState } from "../fixtures.js";
import { globalPolicy, hostEndpoint } from "./fixtures.js";

const rules = (s: DesiredState, t: TableName, name: string) =>
  chainOf(s.iptables.ipv4[t], name)?.rules.map((r) => r.text);
const has = (s: DesiredState, t: TableName, name: string) => chainOf(s.iptables.ipv4[t], name) !== undefined;
const jumps = (s: DesiredState, t: TableName, chain: string, target: string) =>
  (rules(s, t, chain) ?? []).some((r) => r.includes(`-j ${target}`));

const node = eq("role", "node");
const normal = globalPolicy("normal", node, {
  inbound: [{ action: "allow", protocol: "tcp", dstPorts: [{ first: 80, last: 80 }] }],
  outbound: [{ action: "allow" }],
});
const forward = globalPolicy("forward", node, { inbound: [{ action: "deny" }], applyOnForward: true });
const preDNAT = globalPolicy("pre-dnat", node, { inbound: [{ action: "allow" }], preDNAT: true, applyOnForward: true });
const untracked = globalPolicy("untracked", node, {
  inbound: [{ action: "allow", srcNets: ["192.0.2.0/24"] }],
  doNotTrack: true,
  applyOnForward: true,
});
const ALL = [normal, forward, preDNAT, untracked];

function base(g: CalcGraph, policies: readonly Policy[]) {
  for (const p of policies) g.converter.policies$.next({ key: p.key, policy: p });
  return g.apply([namespace("a"), pod("a", "web", { ip: "10.65.1.5", labels: { role: "node" } })]);
}

test("each kind of policy on a host endpoint lands where Felix puts it", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  base(g, ALL);
  const s = g.apply([hostEndpoint("node1-eth0", { interfaceName: "eth0" }, { role: "node" })]);
  const pi = (p: Policy) => policyChainName("inbound", p.key);
  const po = (p: Policy) => policyChainName("outbound", p.key);
  // Normal policy: filter cali-fh-/cali-th-, and (egress, DNAT'd host traffic) mangle cali-th-.
  assert.ok(jumps(s, "filter", "cali-fh-eth0", pi(normal)));
  assert.ok(jumps(s, "filter", "cali-th-eth0", po(normal)));
  assert.ok(jumps(s, "mangle", "cali-th-eth0", po(normal)));
  assert.ok(has(s, "mangle", po(normal)), "its chain is in mangle too");
  assert.ok(!jumps(s, "filter", "cali-fhfw-eth0", pi(normal)), "not applyOnForward: not on forwarded traffic");
  // applyOnForward: the forward chain, and normal too.
  assert.ok(jumps(s, "filter", "cali-fhfw-eth0", pi(forward)));
  assert.ok(jumps(s, "filter", "cali-fh-eth0", pi(forward)));
  // preDNAT: mangle cali-fh- only, its chain in mangle only.
  assert.ok(jumps(s, "mangle", "cali-fh-eth0", pi(preDNAT)));
  assert.ok(!jumps(s, "filter", "cali-fh-eth0", pi(preDNAT)));
  assert.ok(has(s, "mangle", pi(preDNAT)) && !has(s, "filter", pi(preDNAT)));
  assert.ok((rules(s, "mangle", "cali-from-host-endpoint") ?? []).some((r) => /-i eth0 .*-g cali-fh-eth0$/.test(r)));
  // doNotTrack: raw, allowed packets NOTRACKed; its chain in raw only.
  const raw = rules(s, "raw", "cali-fh-eth0") ?? [];
  assert.ok(raw.some((r) => r.includes(`-j ${pi(untracked)}`)));
  assert.ok(raw.some((r) => r.endsWith("-j NOTRACK")));
  assert.ok(!raw.some((r) => r.includes("ctstate")), "untracked chains have no conntrack rules");
  assert.ok(has(s, "raw", pi(untracked)) && !has(s, "filter", pi(untracked)));
  // The workload selected by all four gets the normal ones only (preDNAT/doNotTrack are host policy):
  // its filter chain never jumps to a chain that lives in mangle or raw.
  assert.deepEqual(s.endpoints["a/web"].ingressPolicies, [forward.key, normal.key]);
  const tw = rules(s, "filter", `cali-tw-${s.endpoints["a/web"].iface}`) ?? [];
  assert.ok(!tw.some((r) => r.includes(pi(preDNAT)) || r.includes(pi(untracked))));
  assert.deepEqual(s.hostEndpoints?.["node1-eth0@eth0"]?.preDNATPolicies, [preDNAT.key]);
  assert.deepEqual(s.hostEndpoints?.["node1-eth0@eth0"]?.untrackedPolicies, [untracked.key]);
});

test("withdrawing the host endpoint leaves exactly the tables of a node that never had one", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  base(g, ALL);
  const hep = hostEndpoint("node1-eth0", { interfaceName: "eth0" }, { role: "node" });
  g.apply([hep]);
  const after = g.apply([deleted(hep)]);
  const never = base(new CalcGraph({ nodeName: "node1" }), ALL);
  assert.equal(renderState(after), renderState(never));
  assert.equal(after.hostEndpoints, undefined);
});

test("interfaces: by name, by expectedIPs once an interface carries them, the first name wins, never a workload veth", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  let s = g.apply([
    hostEndpoint("b-eth0", { interfaceName: "eth0" }),
    hostEndpoint("a-eth0", { interfaceName: "eth0" }),
    hostEndpoint("by-ip", { expectedIPs: ["192.168.0.1"] }),
    hostEndpoint("steal", { interfaceName: "cali0123456789a" }),
    hostEndpoint("other-node", { node: "node2", interfaceName: "eth2" }),
  ]);
  assert.deepEqual(Object.keys(s.hostEndpoints ?? {}), ["a-eth0@eth0"]);
  assert.match(s.problems["HostEndpoint//by-ip#interface"].message, /no interface of this host carries/);
  assert.match(s.problems["HostEndpoint//steal#interface"].message, /workload interface/);
  assert.ok(!has(s, "filter", "cali-fh-cali0123456789a"));
  g.setHostInterfaces(
    new Map([
      ["eth1", ["192.168.0.1"]],
      ["cali0123456789b", ["192.168.0.1"]],
    ]),
  );
  s = g.apply([]);
  assert.deepEqual(Object.keys(s.hostEndpoints ?? {}).sort(), ["a-eth0@eth0", "by-ip@eth1"]);
  assert.equal(s.problems["HostEndpoint//by-ip#interface"], undefined);
  assert.ok(has(s, "filter", "cali-fh-eth1") && !has(s, "filter", "cali-fh-cali0123456789b"));
});

test("an invalid host endpoint update keeps the last valid version: the interface stays policed", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  g.apply([hostEndpoint("h", { interfaceName: "eth0" })]);
  const s = g.apply([hostEndpoint("h", { interfaceName: "eth0 -j ACCEPT" })]);
  assert.ok(has(s, "filter", "cali-fh-eth0"));
  assert.equal(rules(s, "filter", "cali-fh-eth0")?.at(-1)?.endsWith("-j DROP"), true);
  assert.match(s.problems["HostEndpoint//h"].message, /not an interface name.*last valid version/);
});

test("doNotTrack policy on the all-interfaces endpoint is not applied (as in Felix) and says so", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  base(g, [untracked]);
  const s = g.apply([hostEndpoint("all", { interfaceName: "*" }, { role: "node" })]);
  assert.match(s.problems["HostEndpoint//all#interface"].message, /doNotTrack policy does not apply/);
  assert.equal(Object.keys(s.iptables.ipv4.raw.shards).length > 0, true);
  assert.ok(!has(s, "raw", "cali-fh-/all"));
});
