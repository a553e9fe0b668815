import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseManifestText } from "../../../src/datastore/manifests.js";
import { Explainer } from "../../../src/demo/explain.js";

const CLUSTER = `
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {ns: y}}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
spec: {podCIDR: 10.65.1.0/24}
---
apiVersion: v1
kind: Node
metadata: {name: node2}
spec: {podCIDR: 10.65.2.0/24}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: node1, containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
status: {phase: Running, podIP: 10.65.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec: {nodeName: node2, containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
status: {phase: Running, podIP: 10.65.2.10}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: y, labels: {app: c}}
spec: {nodeName: node2}
status: {phase: Running, podIP: 10.65.2.11}
`;

/** The explanation's first line (the tracer's path follows on the next). */
const reason = (text: string) => text.split("\n")[0];

function explainer(policies: string): Explainer {
  const u = parseManifestText(`${CLUSTER}---\n${policies}`, "t.yaml");
  assert.deepEqual(u.problems, []);
  return new Explainer(u.updates, ["node1", "node2"]);
}

const TCP80 = { protocol: "tcp" as const, port: 80 };
const UDP80 = { protocol: "udp" as const, port: 80 };

describe("demo explanation of blocked cells", () => {
  it("names the policy and direction that deny, and only those", () => {
    const e = explainer(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-y, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}], ports: [{port: http}]}]
`);
    assert.equal(
      reason(e.explainBlocked("x/b", "x/a", TCP80)),
      "x/a ← x/b tcp/80: denied by x/knp.default.default-deny (ingress of x/a)",
    );
    assert.equal(
      reason(e.explainBlocked("x/a", "x/b", TCP80)),
      "x/b ← x/a tcp/80: denied by x/knp.default.allow-y and x/knp.default.default-deny (ingress of x/b: none allows it)",
    );
    // y/c → x/b on tcp/80 is allowed by the named port: a block there is not the policy's doing.
    assert.match(e.explainBlocked("y/c", "x/b", TCP80), /blocked, although the policies allow it/);
    assert.match(e.explainBlocked("y/c", "x/b", UDP80), /denied by x\/knp.default.allow-y and/);
    assert.deepEqual(e.problems(), []);
    // The tracer's path: x/b's ingress chain on node2, its two policies, the end of the tier.
    assert.match(
      e.explainBlocked("x/a", "x/b", TCP80).split("\n")[1],
      /^ {4}path: node2 cali-tw-cali\w+#\d+ \(jump cali-pi-\S+\) → cali-tw-cali\w+#\d+ \(jump cali-pi-\S+\) → cali-tw-cali\w+#\d+ DROP$/,
    );
  });

  it("egress with ipBlock except, and both directions at once", () => {
    const e = explainer(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.65.0.0/16, except: [10.65.2.0/24]}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-c, namespace: y}
spec: {podSelector: {}, policyTypes: [Ingress]}
`);
    assert.equal(
      reason(e.explainBlocked("x/a", "x/b", TCP80)),
      "x/b ← x/a tcp/80: denied by x/knp.default.egress (egress of x/a)",
    );
    assert.equal(
      reason(e.explainBlocked("x/a", "y/c", TCP80)),
      "y/c ← x/a tcp/80: denied by x/knp.default.egress (egress of x/a); and denied by y/knp.default.deny-c (ingress of y/c)",
    );
    assert.equal(
      reason(e.explainBlocked("x/b", "y/c", UDP80)),
      "y/c ← x/b udp/80: denied by y/knp.default.deny-c (ingress of y/c)",
    );
  });

  it("reports invalid policies as problems", () => {
    const e = explainer(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]
`);
    assert.match(e.problems().join("\n"), /t\.yaml:\d+: NetworkPolicy\/x\/bad: (spec\S* )?invalid CIDR/);
  });
});

describe("Explainer with Calico tiers", () => {
  const tiers = `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: no-y}
spec:
  tier: security
  selector: all()
  types: [Ingress]
  ingress:
  - {action: Deny, source: {namespaceSelector: "ns == 'y'"}}
  - {action: Log}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec: {podSelector: {}, ingress: [{}]}
`;
  it("a higher tier's Deny wins over a Kubernetes allow, and is named", () => {
    const e = explainer(tiers);
    assert.equal(e.denial("y/c", "x/a", TCP80), "denied by no-y (ingress of x/a: a Deny rule)");
    assert.equal(e.denial("x/b", "x/a", TCP80), undefined, "passed by the tier's default action, then allowed");
  });

  it("a tier that denies at its end names its policies and the tier", () => {
    const e = explainer(tiers.replace("defaultAction: Pass", "defaultAction: Deny"));
    assert.equal(e.denial("x/b", "x/a", TCP80), "denied by no-y (ingress of x/a, tier security)");
  });
});
