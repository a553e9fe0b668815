// ClusterNetworkPolicies incrementally: after any history of CNP, node (labels
// and addresses: the nodes peer), namespace and pod changes, in any batching,
// the graph's snapshot is the one a fresh graph computes from the final
// objects. Plus the static tiers: a Tier object may restate kube-admin or
// kube-baseline but not change them.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { CalcGraph, computeDesiredState } from "../../calc-graph/calc-graph.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { namespace, node, pod, renderState, update } from "./fixtures.js";
import { historyEndsInFinalState } from "./history.js";

const base: ResourceUpdate[] = [node("node1", "10.65.1.0/24", "192.168.0.1"), namespace("prod", { team: "a" })];

const peerArb = fc.constantFrom(
  { namespaces: { matchLabels: { team: "b" } } },
  { pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: "db" } } } },
  { nodes: { matchLabels: { role: "cp" } } },
  { nodes: {} },
  { networks: ["10.0.0.0/8"] },
  { unknownPeer: {} },
);

const cnpArb = fc
  .tuple(
    fc.constantFrom("c1", "c2", "c3"),
    fc.constantFrom("Admin", "Baseline"),
    fc.constantFrom(0, 5, 5, 1001),
    fc.constantFrom("Accept", "Deny", "Pass"),
    fc.array(peerArb, { minLength: 1, maxLength: 2 }),
    fc.boolean(),
  )
  .map(([name, tier, priority, action, to, gone]): ResourceUpdate => {
    if (gone) return update("ClusterNetworkPolicy", "", name, null);
    const spec = { tier, priority, subject: { namespaces: {} }, egress: [{ action, to }] };
    return update("ClusterNetworkPolicy", "", name, { metadata: { name }, spec });
  });

const nodeArb = fc
  .tuple(fc.constantFrom("node2", "node3"), fc.constantFrom("cp", "worker"), fc.nat(3), fc.boolean())
  .map(([name, role, last, gone]): ResourceUpdate => {
    if (gone) return update("Node", "", name, null);
    const addresses = [
      { type: "InternalIP", address: `192.168.0.${10 + last}` },
      { type: "Hostname", address: name },
    ];
    return update("Node", "", name, { metadata: { name, labels: { role } }, spec: {}, status: { addresses } });
  });

const podArb = fc
  .tuple(fc.constantFrom("a", "b"), fc.constantFrom("web", "db"), fc.constantFrom("prod", "dev"))
  .map(([name, app, ns]) =>
    pod(ns, name, { ip: `10.65.1.${name.charCodeAt(0) + (ns === "dev" ? 10 : 0)}`, labels: { app } }),
  );

const nsArb = fc.constantFrom("a", "b").map((team) => namespace("dev", { team }));

test("ClusterNetworkPolicies, nodes, namespaces and pods: any history ends in the state of the final objects", () => {
  fc.assert(historyEndsInFinalState(base, fc.oneof(cnpArb, nodeArb, podArb, nsArb)), { numRuns: 300 });
});

test("a nodes peer follows the nodes: a label or address change re-renders the rule", () => {
  const cnp = update("ClusterNetworkPolicy", "", "to-cp", {
    metadata: { name: "to-cp" },
    spec: {
      tier: "Admin",
      priority: 1,
      subject: { namespaces: {} },
      egress: [{ action: "Deny", to: [{ nodes: { matchLabels: { role: "cp" } } }] }],
    },
  });
  const n2 = (role: string, ip: string) =>
    update("Node", "", "node2", {
      metadata: { name: "node2", labels: { role } },
      spec: {},
      status: { addresses: [{ type: "InternalIP", address: ip }] },
    });
  const g = new CalcGraph({ nodeName: "node1" });
  g.apply([...base, pod("prod", "a", { ip: "10.65.1.5" }), cnp, n2("cp", "192.168.0.2")]);
  assert.match(renderState(g.current), /-d 192\.168\.0\.2\/32 .*-j DROP/);
  g.apply([n2("cp", "192.168.0.22")]);
  assert.match(renderState(g.current), /-d 192\.168\.0\.22\/32 .*-j DROP/);
  assert.doesNotMatch(renderState(g.current), /192\.168\.0\.2\/32/);
  g.apply([n2("worker", "192.168.0.22")]);
  assert.doesNotMatch(renderState(g.current), /192\.168\.0\.22\/32/);
});

test("a Tier may restate kube-admin / kube-baseline, not change them; deleting it keeps Calico's", () => {
  const tier = (name: string, spec: object) => update("Tier", "", name, { metadata: { name }, spec });
  const restated = computeDesiredState({ nodeName: "node1" }, [
    ...base,
    tier("kube-admin", { order: 1000, defaultAction: "Pass" }),
  ]);
  assert.equal(restated.problems["Tier//kube-admin"], undefined);
  const changed = computeDesiredState({ nodeName: "node1" }, [
    ...base,
    tier("kube-baseline", { order: 5, defaultAction: "Deny" }),
  ]);
  assert.match(
    changed.problems["Tier//kube-baseline"]?.message ?? "",
    /must have order 10000000 and defaultAction Pass.*stays in force/,
  );
});

test("an update the API server would refuse (bad label, no subject) keeps the CNP's last valid version in force", () => {
  const cnp = (labels: Record<string, string>, subject: object | undefined) =>
    update("ClusterNetworkPolicy", "", "guard", {
      metadata: { name: "guard", labels },
      spec: { tier: "Admin", priority: 1, subject, ingress: [{ action: "Deny", from: [{ namespaces: {} }] }] },
    });
  const g = new CalcGraph({ nodeName: "node1" });
  g.apply([...base, pod("prod", "a", { ip: "10.65.1.5" }), cnp({}, { namespaces: {} })]);
  const before = renderState(g.current);
  assert.match(before, /-j DROP/);
  for (const bad of [cnp({ "bad key!": "x" }, { namespaces: {} }), cnp({}, undefined)]) {
    g.apply([bad]);
    assert.equal(renderState(g.current), before);
    assert.match(g.current.problems["ClusterNetworkPolicy//guard"]?.message ?? "", /last valid version stays in force/);
  }
});
