// Tiers and Calico policies, incrementally: after any sequence of tier,
// policy and pod changes (in any batching), the graph's snapshot is the one a
// fresh graph computes from the final objects alone — a tier's new order or
// defaultAction, a policy moved to another tier, a tier deleted under its
// policies, all re-render exactly the chains they should. Property-tested.

import { test } from "node:test";
import fc from "fast-check";
import type { ResourceUpdate } from "../../model/resource.js";
import { namespace, node, pod, update } from "./fixtures.js";
import { historyEndsInFinalState } from "./history.js";

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
  fc.assert(historyEndsInFinalState(base, fc.oneof(tierArb, policyArb, podArb)), { numRuns: 300 });
});
