import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { namespaceToProfile, serviceAccountToProfile } from "../../../calc-graph/conversion/profile.js";

describe("namespaceToProfile", () => {
  it("is kns.<ns> with pcns.-prefixed labels, the metadata.name label and the name label", () => {
    const p = namespaceToProfile({ kind: "Namespace", metadata: { name: "prod", labels: { team: "a", env: "prod" } } });
    assert.equal(p.id, "kns.prod");
    assert.deepEqual(p.labels, {
      "pcns.team": "a",
      "pcns.env": "prod",
      "pcns.kubernetes.io/metadata.name": "prod",
      "pcns.projectcalico.org/name": "prod",
    });
  });

  it("has allow-all rules both ways (default allow for unpoliced pods)", () => {
    const p = namespaceToProfile({ metadata: { name: "prod" } });
    assert.deepEqual(p.inbound, [{ action: "allow" }]);
    assert.deepEqual(p.outbound, [{ action: "allow" }]);
  });

  it("adds kubernetes.io/metadata.name when the manifest lacks it, and it cannot be spoofed", () => {
    assert.equal(namespaceToProfile({ metadata: { name: "a" } }).labels["pcns.kubernetes.io/metadata.name"], "a");
    const spoofed = namespaceToProfile({
      metadata: { name: "a", labels: { "kubernetes.io/metadata.name": "b", "projectcalico.org/name": "c" } },
    });
    assert.equal(spoofed.labels["pcns.kubernetes.io/metadata.name"], "a");
    assert.equal(spoofed.labels["pcns.projectcalico.org/name"], "a");
  });

  it("stringifies label values", () => {
    const p = namespaceToProfile({ metadata: { name: "a", labels: { n: 1 as unknown as string } } });
    assert.equal(p.labels["pcns.n"], "1");
  });
});

describe("serviceAccountToProfile", () => {
  it("is ksa.<ns>.<sa> with pcsa.-prefixed labels and no rules", () => {
    const p = serviceAccountToProfile({
      kind: "ServiceAccount",
      metadata: { name: "api", namespace: "prod", labels: { role: "db" } },
    });
    assert.equal(p.id, "ksa.prod.api");
    assert.deepEqual(p.labels, { "pcsa.role": "db", "pcsa.projectcalico.org/name": "api" });
    assert.deepEqual(p.inbound, []);
    assert.deepEqual(p.outbound, []);
  });

  it("defaults the namespace to default", () => {
    const p = serviceAccountToProfile({ metadata: { name: "api" } });
    assert.equal(p.id, "ksa.default.api");
    assert.deepEqual(p.labels, { "pcsa.projectcalico.org/name": "api" });
  });

  it("the name label wins over a manifest label of the same key", () => {
    const p = serviceAccountToProfile({ metadata: { name: "api", labels: { "projectcalico.org/name": "x" } } });
    assert.equal(p.labels["pcsa.projectcalico.org/name"], "api");
  });
});
