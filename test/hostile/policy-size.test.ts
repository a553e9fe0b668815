// Resource blow-up: one NetworkPolicy rule with many peers and many ports must
// render in text that grows with P + N, not P × N; and a policy whose chain
// would still be longer than FELIX_POLICYMAXRULES fails closed whole.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { CalcGraph, computeDesiredState } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { IPTABLES_RULES } from "../../iptables/rule-render.js";
import { ipSetList } from "../../model/ipset-shards.js";
import { parseManifestText } from "../../src/datastore/manifests.js";
import { iptablesText } from "../../src/dump/views.js";
import { clusterModel } from "../../trace/cluster-model.js";
import { ClusterTracer } from "../../trace/cluster-trace.js";
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
    assert.equal(ipSetList(state.ipsets).filter((s) => s.family === 4).length, 190);
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

describe("hostile input: a policy over FELIX_POLICYMAXRULES fails closed whole", () => {
  const opts = { namespace: "prod", selectorPeers: 190, ipBlockPeers: 10, ports: spreadPorts(200), target: "web" };
  const state = (docs: object[], maxPolicyRules?: number) => {
    const parsed = parseManifestText(docs.map((d) => stringify(d)).join("---\n"), "big.yaml");
    assert.deepEqual(parsed.problems, []);
    return computeDesiredState({ nodeName: "node1", maxPolicyRules }, parsed.updates);
  };
  const policyRules = (s: DesiredState) =>
    iptablesText(s, 4)
      .split("\n")
      .filter((l) => l.startsWith("-A cali-pi-"));
  const parse = (docs: object[]) => parseManifestText(docs.map((d) => stringify(d)).join("---\n"), "big.yaml").updates;
  const sizeProblems = (s: DesiredState) => Object.keys(s.problems).filter((k) => /^Policy\/\/.*\/rules$/.test(k));

  it("the default (50000) leaves a 236-rule policy alone", () => {
    const s = state([...cluster, bigPolicy(opts)]);
    assert.equal(policyRules(s).length, expectedPolicyChainRules(opts));
    assert.deepEqual(sizeProblems(s), []);
  });

  it("an allow-only policy over the bound keeps its chain empty (it selects, it allows nothing) and is reported", () => {
    const s = state([...cluster, bigPolicy(opts)], expectedPolicyChainRules(opts) - 1);
    assert.deepEqual(policyRules(s), []);
    assert.ok(iptablesText(s, 4).includes(":cali-pi-"), "the chain stays: the endpoint still jumps to it");
    const [key] = sizeProblems(s);
    assert.equal(key, "Policy//default/prod/knp.default.big/rules");
    assert.match(
      s.problems[key].message,
      /KubernetesNetworkPolicy prod\/knp\.default\.big .*more than FELIX_POLICYMAXRULES \(235\) rules .*\(inbound\): it fails closed/,
    );
    // The bound is on rendered rules: exactly at it, the policy renders as it is.
    const at = state([...cluster, bigPolicy(opts)], expectedPolicyChainRules(opts));
    assert.equal(policyRules(at).length, expectedPolicyChainRules(opts));
    assert.deepEqual(sizeProblems(at), []);
  });

  it("with a deny or pass rule, the chain is one unconditional deny", () => {
    const calico = {
      apiVersion: "projectcalico.org/v3",
      kind: "NetworkPolicy",
      metadata: { name: "mixed", namespace: "prod" },
      spec: {
        selector: "app == 'web'",
        types: ["Ingress"],
        ingress: [
          { action: "Allow", source: { nets: ["10.1.0.0/16"] } },
          { action: "Deny", source: { nets: ["10.2.0.0/16", "10.3.0.0/16"] } },
          { action: "Allow" },
        ],
      },
    };
    const s = state([...cluster, calico], 2);
    const rules = policyRules(s);
    assert.equal(rules.length, 1, rules.join("\n"));
    assert.match(rules[0], /^-A cali-pi-\S+ -m comment --comment "cali:[^"]+" -j DROP$/);
    assert.deepEqual(sizeProblems(s), ["Policy//np/prod/mixed/rules"]);
    // Its drop-log number and the tracer's origin stay Calico's: rule 1, the deny.
    const traced = new ClusterTracer(
      clusterModel(parse([...cluster, calico]), (nodeName) => ({ nodeName, maxPolicyRules: 2 }), IPTABLES_RULES),
      "node1",
    ).trace({ src: "10.9.9.9", dst: "10.65.1.2", sport: 40000, dport: 80, protocol: "tcp" });
    assert.equal(traced.verdict, "deny");
    assert.deepEqual(
      [traced.deniedBy?.origin.kind, "ruleIndex" in traced.deniedBy!.origin && traced.deniedBy!.origin.ruleIndex],
      ["policy", 1],
    );
  });

  it("the problem goes once the policy fits, or is deleted", () => {
    const g = new CalcGraph({ nodeName: "node1", maxPolicyRules: 100 });
    let s = g.apply(parse([...cluster, bigPolicy(opts)]));
    assert.equal(sizeProblems(s).length, 1);
    s = g.apply(parse([bigPolicy({ ...opts, selectorPeers: 20, ipBlockPeers: 0, ports: [80] })]));
    assert.deepEqual(sizeProblems(s), []);
    assert.ok(policyRules(s).length > 20);
    s = g.apply(parse([bigPolicy(opts)]));
    assert.equal(sizeProblems(s).length, 1);
    s = g.apply([{ ...parse([bigPolicy(opts)])[0], value: null }]);
    assert.deepEqual(sizeProblems(s), []);
    assert.deepEqual(policyRules(s), []);
  });
});
