// felix-dump policies with ClusterNetworkPolicies: the Admin tier (kube-admin)
// first, then the NetworkPolicy tier (default), then the Baseline tier
// (kube-baseline); CNPs in priority order, equal priorities by name.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { computeDesiredState } from "../../../calc-graph/calc-graph.js";
import { readManifestDir } from "../../../src/datastore/manifests.js";
import { explainPolicies, policiesText } from "../../../src/dump/policies.js";
import { GOLDEN_DIR } from "../../golden-cases.js";

test("felix-dump policies lists kube-admin, default and kube-baseline with their CNPs in order", async () => {
  const { updates } = await readManifestDir(join(GOLDEN_DIR, "cnp-tiers-priority-actions"));
  const s = computeDesiredState({ nodeName: "node1" }, updates);
  const harry = explainPolicies(s, "gryffindor/harry");
  assert.deepEqual(
    harry.ingress.tiers.map((t) => [t.name, t.defaultAction, t.policies]),
    [
      ["kube-admin", "Pass", ["kcnp.kube-admin.admin-deny-slytherin"]],
      ["default", "Deny", ["gryffindor/knp.default.allow-web"]],
      ["kube-baseline", "Pass", ["kcnp.kube-baseline.baseline-default-deny"]],
    ],
  );
  assert.ok(
    harry.ingress.policies.every((p) => p.kind !== "ClusterNetworkPolicy" || p.key.startsWith("kcnp/kcnp.kube-")),
  );
  const draco = explainPolicies(s, "slytherin/draco");
  // Priority 1 first; a-tie and b-admin-same-priority share priority 10 and go by name.
  assert.deepEqual(draco.egress.tiers[0]?.policies, [
    "kcnp.kube-admin.admin-first",
    "kcnp.kube-admin.a-tie",
    "kcnp.kube-admin.b-admin-same-priority",
  ]);
  const text = policiesText(draco);
  assert.match(
    text,
    /tier kube-admin:\n\s+1\. kcnp\.kube-admin\.admin-first {2}\[ClusterNetworkPolicy, chain cali-po-/,
  );
  assert.match(
    text,
    /tier kube-baseline:\n\s+4\. kcnp\.kube-baseline\.baseline-default-deny {2}\[ClusterNetworkPolicy/,
  );
});
