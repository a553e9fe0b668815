// Hostile input: a Calico policy with a rule that does not convert. Enforcing
// it with no rules would drop the denies it holds, and a later policy of its
// tier would then allow what it denied; it is enforced as one deny instead.
// An allow-only one keeps no rules (skipping an allow never allows more).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { stringify } from "yaml";
import { IPTABLES_RULES } from "../../iptables/rule-render.js";
import { parseManifestText } from "../../src/datastore/manifests.js";
import { clusterModel } from "../../trace/cluster-model.js";
import { ClusterTracer } from "../../trace/cluster-trace.js";

const pod = (name: string, ip: string, app: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "a", labels: { app } },
  spec: { nodeName: "node1", containers: [{ name: "c" }] },
  status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
});
const calico = (name: string, order: number, ingress: object[]) => ({
  apiVersion: "projectcalico.org/v3",
  kind: "NetworkPolicy",
  metadata: { name, namespace: "a" },
  spec: { order, selector: "app == 'web'", types: ["Ingress"], ingress },
});

function verdict(first: object[], from: string): { verdict: string; problem: string } {
  const docs = [
    { apiVersion: "v1", kind: "Node", metadata: { name: "node1" }, status: { addresses: [] } },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "a" } },
    pod("web", "10.65.1.2", "web"),
    pod("bad", "10.65.1.3", "bad"),
    pod("good", "10.65.1.4", "good"),
    calico("first", 1, first),
    calico("then-allow-all", 2, [{ action: "Allow" }]),
  ];
  const parsed = parseManifestText(docs.map((d) => stringify(d)).join("---\n"), "x.yaml");
  const model = clusterModel(parsed.updates, (nodeName) => ({ nodeName }), IPTABLES_RULES);
  const r = new ClusterTracer(model).trace({ src: from, dst: "10.65.1.2", sport: 40000, dport: 80, protocol: "tcp" });
  return {
    verdict: r.verdict,
    problem: model.node("node1").state.problems["CalicoNetworkPolicy/a/first"]?.message ?? "",
  };
}

describe("hostile input: a Calico policy with a rule that does not convert", () => {
  test("the valid policy denies bad and lets good through to the next policy's allow", () => {
    const deny = [{ action: "Deny", source: { selector: "app == 'bad'" } }];
    assert.equal(verdict(deny, "10.65.1.3").verdict, "deny");
    assert.equal(verdict(deny, "10.65.1.4").verdict, "allow");
  });

  test("a deny next to a broken rule still denies: the policy becomes one deny, never no rules", () => {
    const broken = [
      { action: "Deny", source: { selector: "app == 'bad'" } },
      { action: "Allow", source: { selector: "app == ((" } },
    ];
    const bad = verdict(broken, "10.65.1.3");
    assert.equal(bad.verdict, "deny", "what it denied stays denied");
    assert.match(bad.problem, /invalid selector .*policy failed closed/);
    assert.equal(verdict(broken, "10.65.1.4").verdict, "deny", "and more: everything it selects");
  });

  test("an unknown action fails closed as a deny", () => {
    assert.equal(verdict([{ action: "Reject", source: { selector: "app == 'bad'" } }], "10.65.1.4").verdict, "deny");
  });

  test("an allow-only policy with a broken rule keeps no rules: the next policy decides", () => {
    const broken = [{ action: "Allow", protocol: "TCP", destination: { ports: ["80:70000"] } }];
    assert.equal(verdict(broken, "10.65.1.4").verdict, "allow");
  });
});
