// Attack: a pod claims its namespace's or service account's labels
// (`pcns.*`, `pcsa.*`, `projectcalico.org/*`) to match selectors meant for
// other namespaces. The namespace and service account must always win.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import { podToWorkloadEndpoint } from "../../../calc-graph/conversion/pod.js";
import { LabelIndex } from "../../../calc-graph/label-index.js";
import { eq } from "../../../calc-graph/selector/selector.js";
import { ipSetList } from "../../../model/ipset-shards.js";
import type { Pod } from "../../../model/k8s.js";
import { namespace, node, pod, policy, update } from "../fixtures.js";

const spoofer = (labels: Record<string, string>, sa?: string): Pod => ({
  kind: "Pod",
  metadata: { name: "evil", namespace: "dev", labels },
  spec: { nodeName: "node2", serviceAccountName: sa },
  status: { phase: "Running", podIP: "10.0.2.66" },
});

describe("label spoofing: reserved label keys on a pod", () => {
  it("drops a pod's pcns.* labels; its namespace's profile supplies them", () => {
    const ep = podToWorkloadEndpoint(spoofer({ app: "x", "pcns.purpose": "monitoring" }))!;
    assert.equal(ep.labels["pcns.purpose"], undefined);
    assert.equal(ep.labels.app, "x");
  });

  it("drops a pod's pcsa.* labels and projectcalico.org/* identity labels", () => {
    const sa = "s".repeat(70); // too long for the serviceaccount label: the pod must not supply it either
    const ep = podToWorkloadEndpoint(
      spoofer(
        {
          "pcsa.role": "admin",
          "projectcalico.org/serviceaccount": "admin",
          "projectcalico.org/namespace": "kube-system",
          "projectcalico.org/orchestrator": "k8s-not",
        },
        sa,
      ),
    )!;
    assert.equal(ep.labels["pcsa.role"], undefined);
    assert.equal(ep.labels["projectcalico.org/serviceaccount"], undefined);
    assert.equal(ep.labels["projectcalico.org/namespace"], "dev");
    assert.equal(ep.labels["projectcalico.org/orchestrator"], "k8s");
  });

  it("a pcsa. service-account selector matches only pods of that service account", () => {
    // Wire the converter's profiles and endpoints into a label index, as the graph does.
    const graph = new CalcGraph({ nodeName: "node1" });
    const index = new LabelIndex();
    graph.converter.profiles$.subscribe(({ id, profile }) => index.updateParent(id, profile?.labels ?? null));
    graph.converter.endpoints$.subscribe(({ key, ep }) => index.updateItem(key, ep?.labels ?? null, ep?.profileIds));
    index.updateSelector("admins", eq("pcsa.role", "admin"));
    graph.apply([
      namespace("dev"),
      namespace("ops"),
      update("ServiceAccount", "ops", "root", {
        kind: "ServiceAccount",
        metadata: { name: "root", namespace: "ops", labels: { role: "admin" } },
      }),
      pod("ops", "admin-pod", { ip: "10.0.1.5", sa: "root", node: "node1" }),
      update("Pod", "dev", "evil", spoofer({ "pcsa.role": "admin" })),
    ]);
    assert.deepEqual([...index.itemsMatching("admins")], ["ops/admin-pod"]);
  });

  it("a pcns. namespaceSelector peer's IP set holds the namespace's pods, never the spoofer", () => {
    const state = new CalcGraph({ nodeName: "node1" }).apply([
      node("node1", "10.0.1.0/24", "192.168.0.1"),
      node("node2", "10.0.2.0/24", "192.168.0.2"),
      namespace("prod"),
      namespace("monitoring", { purpose: "monitoring" }),
      namespace("dev"),
      pod("prod", "web", { ip: "10.0.1.10", labels: { app: "web" } }),
      pod("monitoring", "prom", { ip: "10.0.2.30", node: "node2" }),
      update("Pod", "dev", "evil", spoofer({ "pcns.purpose": "monitoring" })),
      policy("prod", "allow-monitoring", {
        podSelector: { matchLabels: { app: "web" } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { purpose: "monitoring" } } }] }],
      }),
    ]);
    const members = ipSetList(state.ipsets).flatMap((s) => [...s.members]);
    assert.ok(members.includes("10.0.2.30"), "the monitoring pod is allowed");
    assert.ok(!members.includes("10.0.2.66"), "the spoofing pod is in no set");
  });
});
