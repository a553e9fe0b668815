// The IP set size bound, incrementally: sets go over FELIX_MAXIPSETSIZE and
// back as network sets, pods and policies come and go, in any batching, and
// the snapshot (sets left out, rules failed closed, problems) is always the
// one a fresh graph computes from the final objects: a set that crossed the
// bound re-renders every policy using it, and nothing lingers. Policies cross
// FELIX_POLICYMAXRULES (4 here) too, and their problems follow.

import { test } from "node:test";
import fc from "fast-check";
import type { ResourceUpdate } from "../../model/resource.js";
import { namespace, node, pod, update } from "./fixtures.js";
import { historyEndsInFinalState } from "./history.js";

const base: ResourceUpdate[] = [node("node1", "10.65.1.0/24", "192.168.0.1"), namespace("prod")];

const networkSetArb = fc
  .tuple(fc.constantFrom("ns1", "ns2"), fc.nat(4), fc.boolean(), fc.boolean())
  .map(([name, n, v6, gone]): ResourceUpdate => {
    if (gone) return update("NetworkSet", "prod", name, null);
    const nets = Array.from({ length: n }, (_, i) =>
      v6 ? `fd00:${name.length}${i}::/64` : `10.${name.length}0.${i}.0/24`,
    );
    return update("NetworkSet", "prod", name, {
      metadata: { name, namespace: "prod", labels: { role: "partner" } },
      spec: { nets },
    });
  });

const podArb = fc
  .tuple(fc.constantFrom("a", "b", "c"), fc.constantFrom("partner", "web"), fc.boolean())
  .map(([name, role, gone]) => {
    const u = pod("prod", name, {
      ip: `10.65.1.${name.charCodeAt(0)}`,
      labels: { role },
      ports: [{ name: "http", containerPort: 80 }],
    });
    return gone ? { ...u, value: null } : u;
  });

const ruleArb = fc.constantFrom(
  { action: "Allow", source: { selector: "role == 'partner'" } },
  { action: "Deny", source: { selector: "role == 'partner'" } },
  { action: "Pass", source: { notSelector: "role == 'partner'" } },
  { action: "Allow", protocol: "TCP", destination: { selector: "role == 'partner'", ports: ["http"] } },
  { action: "Allow" },
);

const policyArb = fc
  .tuple(
    fc.constantFrom("p1", "p2"),
    fc.constantFrom("all()", "role == 'web'"),
    fc.array(ruleArb, { maxLength: 3 }),
    fc.boolean(),
  )
  .map(([name, selector, ingress, gone]): ResourceUpdate => {
    if (gone) return update("CalicoNetworkPolicy", "prod", name, null);
    return update("CalicoNetworkPolicy", "prod", name, {
      metadata: { name, namespace: "prod" },
      spec: {
        selector,
        ingress,
        egress: ingress.map(({ source, ...r }) => (source ? { ...r, destination: source } : r)),
      },
    });
  });

test("IP sets and policies over their bounds and back: any history ends in the state of the final objects", () => {
  fc.assert(
    historyEndsInFinalState(base, fc.oneof(networkSetArb, podArb, policyArb), {
      nodeName: "node1",
      maxIpSetSize: 3,
      maxPolicyRules: 4,
    }),
    { numRuns: 300 },
  );
});
