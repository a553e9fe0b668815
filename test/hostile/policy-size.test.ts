// Resource blow-up: one NetworkPolicy rule with many peers and many ports must
// render in text that grows with P + N, not P × N.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import { parseManifestText } from "../../src/datastore/manifests.js";
import { iptablesText } from "../../src/dump/views.js";
import { type BigPolicyOptions, bigPolicy, expectedPolicyChainRules, spreadPorts } from "./big-policy.js";

const cluster = [
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "prod" } },
  {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "prod", labels: { app: "web" } },
    spec: { nodeName: "node1", containers: [{ name: "c" }] },
    status: { phase: "Running", podIP: "10.65.1.2", podIPs: [{ ip: "10.65.1.2" }] },
  },
];

function render(o: BigPolicyOptions) {
  const text = [...cluster, bigPolicy(o)].map((d) => stringify(d)).join("---\n");
  const parsed = parseManifestText(text, "big.yaml");
  assert.deepEqual(parsed.problems, []);
  const state = computeDesiredState({ nodeName: "node1" }, parsed.updates);
  const save = iptablesText(state, 4);
  const lines = save.split("\n");
  const chains = [...new Set(lines.filter((l) => l.startsWith(":cali-pi-")).map((l) => l.slice(1).split(" ")[0]))];
  assert.equal(chains.length, 1, "one policy chain");
  const rules = lines.filter((l) => l.startsWith(`-A ${chains[0]} `));
  return { manifestBytes: text.length, save, rules, state };
}

describe("hostile input: a policy rule with many peers and many ports", () => {
  it("200 peers × 200 ports render P + ceil(N/15) + 2 rules, not P × N", () => {
    const o = { namespace: "prod", selectorPeers: 190, ipBlockPeers: 10, ports: spreadPorts(200), target: "web" };
    const { save, rules, state } = render(o);
    assert.equal(rules.length, expectedPolicyChainRules(o));
    assert.equal(rules.length, 1 + 190 + 30 + 14 + 1);
    // Each port group appears once, each peer once.
    assert.equal(rules.filter((r) => r.includes("--dports")).length, 14);
    assert.equal(rules.filter((r) => r.includes("-m set --match-set")).length, 190);
    // One IP set per selector peer (and none per port).
    assert.equal(Object.values(state.ipsets).filter((s) => s.family === 4).length, 190);
    assert.ok(save.length < 100_000, `restore text is ${save.length} bytes`);
  });

  it("the text grows linearly: 4× the peers and ports is about 4× the text", () => {
    const small = render({
      namespace: "prod",
      selectorPeers: 100,
      ipBlockPeers: 0,
      ports: spreadPorts(300),
      target: "web",
    });
    const big = render({
      namespace: "prod",
      selectorPeers: 400,
      ipBlockPeers: 0,
      ports: spreadPorts(1200),
      target: "web",
    });
    assert.equal(big.rules.length, 1 + 400 + 80 + 1);
    const ratio = big.rules.join("\n").length / small.rules.join("\n").length;
    assert.ok(ratio > 3 && ratio < 5, `ratio ${ratio}`);
  });

  it("a lone peer or a lone port group keeps the plain form (one rule per alternative)", () => {
    const onePeer = render({
      namespace: "prod",
      selectorPeers: 1,
      ipBlockPeers: 0,
      ports: spreadPorts(30),
      target: "web",
    });
    // Two multiport groups, each set-mark + return, no scratch mark.
    assert.equal(onePeer.rules.length, 4);
    assert.ok(onePeer.rules.every((r) => !r.includes("0x80000")));
    const onePort = render({ namespace: "prod", selectorPeers: 5, ipBlockPeers: 0, ports: [80], target: "web" });
    assert.equal(onePort.rules.length, 10);
  });
});
