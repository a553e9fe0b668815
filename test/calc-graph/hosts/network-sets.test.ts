// Network sets in the graph: their nets join the IP sets of rule selectors
// that match their labels, as Felix's calc graph does; a namespaced set is
// tenant data and is matched only as Calico scopes it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { and, eq, has } from "../../../calc-graph/selector/selector.js";
import { ipSetList, ipSetOf } from "../../../model/ipset-shards.js";
import { deleted, namespace, pod, policy } from "../fixtures.js";
import { globalNetworkSet, globalPolicy, networkSet, setOf } from "./fixtures.js";

const members = (s: DesiredState, name: string) => [...(ipSetOf(s.ipsets, name)?.members ?? [])].sort();

/** A graph with one local pod and an internal policy whose ingress rule allows `peer`. */
function graphWith(peer: ReturnType<typeof eq>) {
  const g = new CalcGraph({ nodeName: "node1" });
  g.apply([namespace("a"), namespace("b"), pod("a", "web", { ip: "10.65.1.5", labels: { app: "web" } })]);
  g.converter.policies$.next({
    key: globalPolicy("allow-peer", eq("app", "web")).key,
    policy: globalPolicy("allow-peer", eq("app", "web"), { inbound: [{ action: "allow", srcSelector: peer }] }),
  });
  return g;
}

test("a GlobalNetworkSet's nets join the IP set of a matching rule selector (a /0 as two /1s, IPv6 in the v6 set); relabel and delete take them out", () => {
  const peer = eq("role", "external");
  const g = graphWith(peer);
  const gns = globalNetworkSet("ext", ["198.51.100.0/24", "203.0.113.7", "0.0.0.0/0", "2001:db8::/32"], {
    role: "external",
  });
  let s = g.apply([gns]);
  assert.deepEqual(members(s, setOf(peer)), ["0.0.0.0/1", "128.0.0.0/1", "198.51.100.0/24", "203.0.113.7"]);
  assert.deepEqual(members(s, setOf(peer, 6)), ["2001:db8::/32"]);
  assert.equal(ipSetOf(s.ipsets, setOf(peer))!.type, "hash:net");
  s = g.apply([globalNetworkSet("ext", ["198.51.100.0/24"], { role: "internal" })]);
  assert.deepEqual(members(s, setOf(peer)), [], "relabelled: no longer matched");
  s = g.apply([globalNetworkSet("ext", ["198.51.100.0/24"], { role: "external" })]);
  assert.deepEqual(members(s, setOf(peer)), ["198.51.100.0/24"]);
  s = g.apply([deleted(gns)]);
  assert.deepEqual(members(s, setOf(peer)), []);
});

test("a namespaced NetworkSet matches its own namespace's selectors only; its copy of Calico's namespace label is ignored", () => {
  const inA = and(eq("projectcalico.org/namespace", "a"), eq("role", "db"));
  const inB = and(eq("projectcalico.org/namespace", "b"), eq("role", "db"));
  const g = new CalcGraph({ nodeName: "node1" });
  g.apply([
    namespace("a", { tier: "data" }),
    namespace("b"),
    pod("a", "web", { ip: "10.65.1.5", labels: { app: "web" } }),
  ]);
  const byNsLabels = and(has("projectcalico.org/namespace"), eq("pcns.tier", "data"), eq("role", "db"));
  g.converter.policies$.next({
    key: globalPolicy("p", eq("app", "web")).key,
    policy: globalPolicy("p", eq("app", "web"), {
      inbound: [
        { action: "allow", srcSelector: inA },
        { action: "allow", srcSelector: inB },
        { action: "allow", srcSelector: byNsLabels },
      ],
    }),
  });
  // Tenant b claims namespace a's label: dropped, b's own namespace wins.
  const s = g.apply([
    networkSet("a", "dbs", ["10.9.0.0/16"], { role: "db" }),
    networkSet("b", "spoof", ["0.0.0.0/0"], { role: "db", "projectcalico.org/namespace": "a" }),
  ]);
  assert.deepEqual(members(s, setOf(inA)), ["10.9.0.0/16"]);
  assert.deepEqual(members(s, setOf(inB)), ["0.0.0.0/1", "128.0.0.0/1"]);
  assert.deepEqual(members(s, setOf(byNsLabels)), ["10.9.0.0/16"], "inherits its namespace's labels (pcns.*)");
});

test("a Kubernetes NetworkPolicy never admits a network set: its peers are pods (namespaceSelector {} included)", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  const s = g.apply([
    namespace("a"),
    namespace("evil"),
    pod("a", "web", { ip: "10.65.1.5", labels: { app: "web" } }),
    pod("evil", "x", { ip: "10.65.1.9", labels: { app: "web" } }),
    networkSet("evil", "all", ["0.0.0.0/0"], { app: "web" }),
    globalNetworkSet("g", ["192.0.2.0/24"], { app: "web" }),
    policy("a", "any-ns", { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] }),
    policy("a", "same-ns", {
      podSelector: {},
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }],
    }),
  ]);
  const all = ipSetList(s.ipsets).flatMap((x) => [...x.members]);
  assert.ok(all.includes("10.65.1.9"), "the pod in the other namespace is a peer");
  for (const net of ["0.0.0.0/1", "128.0.0.0/1", "192.0.2.0/24"]) assert.ok(!all.includes(net), `${net} in no set`);
});

test("an invalid network set update keeps the last valid version in force (a Deny on it must not lift)", () => {
  const peer = eq("role", "blocked");
  const g = graphWith(peer);
  let s = g.apply([globalNetworkSet("bad", ["192.0.2.0/24"], { role: "blocked" })]);
  assert.deepEqual(members(s, setOf(peer)), ["192.0.2.0/24"]);
  s = g.apply([globalNetworkSet("bad", ["192.0.2.0/33"], { role: "blocked" })]);
  assert.deepEqual(members(s, setOf(peer)), ["192.0.2.0/24"]);
  assert.match(s.problems["GlobalNetworkSet//bad"].message, /not a CIDR.*last valid version/);
});
