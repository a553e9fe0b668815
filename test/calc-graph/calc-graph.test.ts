// Behaviour of the whole graph: lifecycle of policies, endpoints and sets,
// fail-closed handling of bad input, and order independence.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { CalcGraph, computeDesiredState } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { ipSetList, ipSetNames } from "../../model/ipset-shards.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { chainList, chainOf, chainNames as tableChainNames } from "../../model/tables.js";
import { deleted, namespace, node, pod, policy, renderState } from "./fixtures.js";
import { applyInBatches } from "./history.js";

const render = renderState;

const chainNames = (s: DesiredState) => tableChainNames(s.iptables.ipv4.filter);

const base: ResourceUpdate[] = [
  namespace("prod", { team: "a" }),
  namespace("dev", { team: "b" }),
  node("node1", "10.65.1.0/24", "172.18.0.1"),
  node("node2", "10.65.2.0/24", "172.18.0.2"),
  pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } }),
  pod("prod", "db", { ip: "10.65.1.11", labels: { app: "db" }, ports: [{ name: "pg", containerPort: 5432 }] }),
  pod("dev", "client", { node: "node2", ip: "10.65.2.10", labels: { app: "client" } }),
  policy("prod", "db-from-web", {
    podSelector: { matchLabels: { app: "db" } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }], ports: [{ port: "pg" }] }],
  }),
];

describe("calc graph", () => {
  test("policy chains exist only while the policy selects a local pod", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const s1 = g.apply(base);
    assert.equal(chainNames(s1).filter((c) => c.startsWith("cali-pi-")).length, 1);
    const s2 = g.apply([deleted(base[5])]);
    assert.equal(chainNames(s2).filter((c) => c.startsWith("cali-pi-")).length, 0);
    assert.equal(ipSetNames(s2.ipsets).length, 0, "the rule's sets go with the policy");
    const s3 = g.apply([base[5]]);
    assert.equal(render(s3), render(s1));
  });

  test("deleting everything returns to the empty state", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const empty = render(g.current);
    g.apply(base);
    const s = g.apply(base.map(deleted));
    assert.equal(render(s), empty);
  });

  test("a pod that moves to another node loses its chains, route and sysctls", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const s1 = g.apply(base);
    const iface = s1.endpoints["prod/web"].iface;
    const s2 = g.apply([pod("prod", "web", { node: "node2", ip: "10.65.1.10", labels: { app: "web" } })]);
    assert.equal(s2.endpoints["prod/web"], undefined);
    assert.ok(!chainNames(s2).some((c) => c.includes(iface)));
    // Its address is still in node1's block: node1 routes it to node2 (a borrowed address) instead of to the veth.
    assert.deepEqual(s2.routes["10.65.1.10/32"], {
      dst: "10.65.1.10/32",
      kind: "remote-workload",
      type: "unicast",
      scope: "universe",
      node: "node2",
      gateway: "172.18.0.2",
    });
    assert.ok(!Object.keys(s2.sysctls).some((k) => k.includes(iface)));
    // Still a peer of the policy: its IP stays in the web set.
    const members = ipSetList(s2.ipsets).flatMap((x) => [...x.members]);
    assert.ok(members.includes("10.65.1.10"));
  });

  test("an invalid update of a valid policy keeps the valid version", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const s1 = g.apply(base);
    const s2 = g.apply([
      policy("prod", "db-from-web", { podSelector: { matchExpressions: [{ key: "app", operator: "Bogus" }] } }),
    ]);
    assert.equal(s2.iptables, s1.iptables);
    assert.match(s2.problems["NetworkPolicy/prod/db-from-web"].message, /unknown operator.*last valid version/);
  });

  test("a policy with an invalid rule isolates what it selects", () => {
    const s = computeDesiredState({ nodeName: "node1" }, [
      ...base,
      policy("prod", "bad-rule", {
        podSelector: { matchLabels: { app: "web" } },
        ingress: [{ ports: [{ port: 70000 }] }],
      }),
    ]);
    assert.match(s.problems["NetworkPolicy/prod/bad-rule"].message, /invalid port 70000.*isolated/);
    assert.deepEqual(s.endpoints["prod/web"].ingressPolicies, ["default/prod/knp.default.bad-rule"]);
    const chain = chainList(s.iptables.ipv4.filter).find((c) => c.name.startsWith("cali-pi-") && c.rules.length === 0);
    assert.ok(chain, "the bad policy renders as an empty (deny) chain");
  });

  test("a pod in a namespace no manifest gives fails closed", () => {
    const s = computeDesiredState({ nodeName: "node1" }, [pod("ghost", "p", { ip: "10.65.1.99" })]);
    const rules = chainOf(s.iptables.ipv4.filter, "cali-pri-kns.ghost")!.rules;
    assert.equal(rules.length, 1);
    assert.match(rules[0].text, /-j DROP$/);
    // The built-in default namespace is implied and allows.
    const s2 = computeDesiredState({ nodeName: "node1" }, [pod("default", "p", { ip: "10.65.1.99" })]);
    assert.match(
      chainOf(s2.iptables.ipv4.filter, "cali-pri-kns.default")!.rules[0].text,
      /--set-xmark 0x10000\/0x10000/,
    );
  });

  test("a pod with a bad IP is withdrawn and reported", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply(base);
    const s = g.apply([pod("prod", "web", { ip: "10.65.1.300", labels: { app: "web" } })]);
    assert.equal(s.endpoints["prod/web"], undefined);
    assert.match(s.problems["Pod/prod/web"].message, /invalid IP address/);
  });

  test("the final state does not depend on update order or batching", () => {
    const expected = render(computeDesiredState({ nodeName: "node1" }, base));
    fc.assert(
      fc.property(
        fc.shuffledSubarray(base, { minLength: base.length, maxLength: base.length }),
        fc.array(fc.nat(base.length), { maxLength: 4 }),
        (order, cuts) => {
          const g = new CalcGraph({ nodeName: "node1" });
          applyInBatches(g, order, cuts);
          assert.equal(render(g.current), expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  test("spurious deletes and re-creates converge (no hysteresis)", () => {
    const expected = render(computeDesiredState({ nodeName: "node1" }, base));
    fc.assert(
      fc.property(fc.array(fc.nat(base.length - 1), { maxLength: 6 }), (flaps) => {
        const g = new CalcGraph({ nodeName: "node1" });
        g.apply(base);
        for (const i of flaps) g.apply([deleted(base[i])]);
        g.apply(base);
        assert.equal(render(g.current), expected);
      }),
      { numRuns: 40 },
    );
  });
});
