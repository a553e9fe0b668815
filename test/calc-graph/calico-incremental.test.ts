// Tiers and Calico policies, incrementally: after any sequence of tier,
// policy and pod changes (in any batching), the graph's snapshot is the one a
// fresh graph computes from the final objects alone — a tier's new order or
// defaultAction, a policy moved to another tier, a tier deleted under its
// policies, all re-render exactly the chains they should. Property-tested.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { CalcGraph, computeDesiredState } from "../../calc-graph/calc-graph.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { namespace, node, pod, renderState, update } from "./fixtures.js";

const base: ResourceUpdate[] = [
  node("node1", "10.65.1.0/24", "192.168.0.1"),
  namespace("prod", { team: "a" }),
  namespace("dev", { team: "b" }),
];

const tierArb = fc
  .tuple(
    fc.constantFrom("t1", "t2", "default"),
    fc.option(fc.constantFrom(1, 2, 1_000_000), { nil: undefined }),
    fc.constantFrom("Deny", "Pass"),
    fc.boolean(),
  )
  .map(([name, order, defaultAction, gone]): ResourceUpdate => {
    if (gone) return update("Tier", "", name, null);
    const spec = name === "default" ? {} : { ...(order !== undefined ? { order } : {}), defaultAction };
    return update("Tier", "", name, { metadata: { name }, spec });
  });

const ruleArb = fc.constantFrom(
  { action: "Allow", protocol: "TCP", destination: { ports: [80] } },
  { action: "Deny", source: { selector: "app == 'db'" } },
  { action: "Pass", source: { namespaceSelector: "team == 'b'" } },
  { action: "Log" },
);

const policyArb = fc
  .tuple(
    fc.constantFrom("CalicoNetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy") as fc.Arbitrary<
      "CalicoNetworkPolicy" | "GlobalNetworkPolicy" | "StagedNetworkPolicy"
    >,
    fc.constantFrom("p1", "p2", "p3"),
    fc.constantFrom("t1", "t2", "default", "missing"),
    fc.option(fc.constantFrom(5, 10), { nil: undefined }),
    fc.constantFrom("all()", "app == 'web'", "app in {'web', 'db'}", "app starts with 'd'"),
    fc.array(ruleArb, { maxLength: 2 }),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([kind, name, tier, order, selector, ingress, gone, preDNAT]): ResourceUpdate => {
    const ns = kind === "GlobalNetworkPolicy" ? "" : "prod";
    if (gone) return update(kind, ns, name, null);
    const metadata = ns ? { name, namespace: ns } : { name };
    // A global policy may turn into a host-endpoint-only one and back.
    const hep = preDNAT && !ns ? { preDNAT, applyOnForward: true } : {};
    return update(kind, ns, name, { metadata, spec: { tier, selector, ingress, ...(order ? { order } : {}), ...hep } });
  });

const podArb = fc
  .tuple(fc.constantFrom("a", "b", "c"), fc.constantFrom("web", "db", "cache"), fc.constantFrom("prod", "dev"))
  // One address per pod (two pods sharing one is another test's business).
  .map(([name, app, ns]) =>
    pod(ns, name, { ip: `10.65.1.${name.charCodeAt(0) + (ns === "dev" ? 10 : 0)}`, labels: { app } }),
  );

test("tiers and Calico policies: any history ends in the state of the final objects", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(tierArb, policyArb, podArb), { minLength: 1, maxLength: 25 }),
      fc.array(fc.nat(25), { maxLength: 5 }),
      (changes, cuts) => {
        const g = new CalcGraph({ nodeName: "node1" });
        g.apply(base);
        const points = [...new Set([0, ...cuts.filter((c) => c < changes.length), changes.length])].sort(
          (a, b) => a - b,
        );
        for (let i = 0; i + 1 < points.length; i++) g.apply(changes.slice(points[i], points[i + 1]));
        const last = new Map<string, ResourceUpdate>();
        for (const u of changes) last.set(`${u.kind}/${u.namespace}/${u.name}`, u);
        const final = [...last.values()].filter((u) => u.value !== null);
        const fresh = computeDesiredState({ nodeName: "node1" }, [...base, ...final]);
        assert.equal(renderState(g.current), renderState(fresh));
        assert.deepEqual(g.current.problems, fresh.problems);
      },
    ),
    { numRuns: 300 },
  );
});
