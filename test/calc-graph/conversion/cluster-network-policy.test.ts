// ClusterNetworkPolicy conversion: placement (tiers, priority, subject), rule
// shapes (peer and port blocks, named ports per protocol), the API's limits
// and the two fail-closed paths (an invalid object denies its subject; a peer
// with no known field matches nothing in Accept, denies all in Deny/Pass).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clusterNetworkPolicyToPolicy } from "../../../calc-graph/conversion/cluster-network-policy.js";
import { and, eq, has, selectorText } from "../../../calc-graph/selector/selector.js";
import { KUBE_ADMIN_TIER, KUBE_BASELINE_TIER, STATIC_TIERS, sortIntoTiers } from "../../../calc-graph/tiers.js";

const ns = (house: string) => ({ namespaces: { matchLabels: { house } } });
const cnp = (name: string, spec: Record<string, unknown>) => ({
  metadata: { name },
  spec: { tier: "Admin", priority: 10, subject: ns("a"), ...spec },
});
const convert = (name: string, spec: Record<string, unknown>, nodes?: () => string[]) =>
  clusterNetworkPolicyToPolicy(cnp(name, spec), nodes);

describe("ClusterNetworkPolicy conversion", () => {
  test("Admin goes to kube-admin, Baseline to kube-baseline; priority is the order; kind, key and name", () => {
    const a = convert("x", { ingress: [{ action: "Deny", from: [ns("b")] }] }).policy;
    assert.deepEqual(
      [a.id.tier, a.order, a.kind, a.key, a.id.name],
      [KUBE_ADMIN_TIER.name, 10, "ClusterNetworkPolicy", "kcnp/kcnp.kube-admin.x", "kcnp.kube-admin.x"],
    );
    const b = convert("y", { tier: "Baseline", priority: 0 }).policy;
    assert.deepEqual([b.id.tier, b.order], [KUBE_BASELINE_TIER.name, 0]);
    // No rules in a direction: that direction is not affected.
    assert.deepEqual([a.ingress, a.egress, b.ingress, b.egress], [true, false, false, false]);
  });

  test("equal priorities run by name; kube-admin before default before kube-baseline", () => {
    const p = (name: string, tier: string, priority: number) =>
      convert(name, { tier, priority, ingress: [{ action: "Pass", from: [ns("b")] }] }).policy;
    const tiers = sortIntoTiers(
      [p("zeta", "Admin", 5), p("alpha", "Admin", 5), p("first", "Admin", 1), p("base", "Baseline", 0)],
      new Map(STATIC_TIERS.map((t) => [t.name, t])),
    );
    assert.deepEqual(
      tiers.map((t) => [t.name, t.defaultAction, t.policies.map((x) => x.key)]),
      [
        [
          "kube-admin",
          "Pass",
          ["kcnp/kcnp.kube-admin.first", "kcnp/kcnp.kube-admin.alpha", "kcnp/kcnp.kube-admin.zeta"],
        ],
        ["kube-baseline", "Pass", ["kcnp/kcnp.kube-baseline.base"]],
      ],
    );
    assert.deepEqual(
      STATIC_TIERS.map((t) => [t.name, t.order]),
      [
        ["kube-admin", 1000],
        ["default", 1_000_000],
        ["kube-baseline", 10_000_000],
      ],
    );
  });

  test("subject: namespaces by pcns. labels; pods AND their namespace selector", () => {
    const s1 = convert("x", {}).policy.selector;
    assert.equal(selectorText(s1), selectorText(and(has("projectcalico.org/namespace"), eq("pcns.house", "a"))));
    const s2 = convert("y", {
      subject: {
        pods: { namespaceSelector: { matchLabels: { house: "a" } }, podSelector: { matchLabels: { app: "web" } } },
      },
    }).policy.selector;
    assert.equal(selectorText(s2), "has(projectcalico.org/namespace) && pcns.house == 'a' && app == 'web'");
  });

  test("several peers and protocols are one rule with a peer block and a port block; ports merge per protocol", () => {
    const { policy } = convert("x", {
      egress: [
        {
          action: "Accept",
          to: [ns("b"), { networks: ["10.0.0.9/8", "fd00::/64"] }],
          protocols: [
            { tcp: { destinationPort: { number: 81 } } },
            { tcp: { destinationPort: { range: { start: 82, end: 90 } } } },
            { udp: { destinationPort: { number: 53 } } },
          ],
        },
      ],
    });
    const r = policy.outbound[0]!;
    assert.equal(r.action, "allow");
    assert.equal(r.anyPeer?.length, 3);
    assert.deepEqual(r.anyPeer?.slice(1), [{ dstNets: ["10.0.0.0/8"] }, { dstNets: ["fd00::/64"] }]);
    assert.deepEqual(r.anyPort, [
      { protocol: "tcp", dstPorts: [{ first: 81, last: 90 }] },
      { protocol: "udp", dstPorts: [{ first: 53, last: 53 }] },
    ]);
  });

  test("a named port is matched in each protocol: the subject's ports for ingress, any endpoint's for egress", () => {
    const { policy } = convert("x", {
      ingress: [{ action: "Accept", from: [ns("b")], protocols: [{ destinationNamedPort: "web" }] }],
      egress: [{ action: "Accept", to: [ns("b")], protocols: [{ destinationNamedPort: "dns" }] }],
    });
    assert.deepEqual(
      policy.inbound[0]!.anyPort?.map((p) => [p.protocol, p.dstNamedPort]),
      [
        ["tcp", "web"],
        ["udp", "web"],
        ["sctp", "web"],
      ],
    );
    assert.equal(policy.inbound[0]!.anyPort?.[0]?.namedPortSelector, policy.selector);
    assert.equal(selectorText(policy.outbound[0]!.anyPort![0]!.namedPortSelector!), "all()");
  });

  test("nodes peers resolve to the addresses the resolver gives; none matching leaves an Accept rule out", () => {
    const spec = { egress: [{ action: "Accept", to: [{ nodes: { matchLabels: { role: "cp" } } }] }] };
    const some = convert("x", spec, () => ["192.168.0.2/32", "192.168.0.1/32"]);
    assert.equal(some.usesNodes, true);
    assert.deepEqual(some.policy.outbound[0]!.anyPeer, [
      { dstNets: ["192.168.0.1/32"] },
      { dstNets: ["192.168.0.2/32"] },
    ]);
    const none = convert("x", spec, () => []);
    assert.deepEqual([none.policy.egress, none.policy.outbound], [true, []]);
  });

  test("a peer with no field we know fails closed: Accept matches nothing, Deny and Pass deny all (reported)", () => {
    const { policy, problem } = convert("x", {
      ingress: [
        { action: "Accept", from: [{ someFutureField: {} }, ns("b")] },
        { action: "Pass", from: [{}] },
      ],
      egress: [{ action: "Accept", to: [{ futurePeer: {} }] }],
    });
    assert.deepEqual(policy.inbound, [
      { action: "allow", srcSelector: policy.inbound[0]!.srcSelector },
      { action: "deny" },
    ]);
    assert.deepEqual(policy.outbound, []);
    assert.match(
      problem ?? "",
      /spec\.ingress\[0\]\.from\[0\] sets no field.*matches nothing.*spec\.ingress\[1\].*denies all/,
    );
  });

  test("domainNames: reported and matching nothing in Accept; invalid in Deny", () => {
    const ok = convert("x", { egress: [{ action: "Accept", to: [{ domainNames: ["*.example.com"] }] }] });
    assert.deepEqual(ok.policy.outbound, []);
    assert.match(ok.problem ?? "", /domainNames is not implemented/);
    const bad = convert("x", { egress: [{ action: "Deny", to: [{ domainNames: ["example.com"] }] }] });
    assert.deepEqual(bad.policy.outbound, [{ action: "deny" }]);
  });

  test("what the API would refuse fails closed for the subject: deny-all both ways, at its priority or 0", () => {
    const rule = { action: "Accept", from: [ns("b")] };
    const bad: [string, Record<string, unknown>, number][] = [
      ["priority over 1000", { priority: 1001, ingress: [rule] }, 0],
      ["negative priority", { priority: -1 }, 0],
      ["26 rules", { ingress: Array.from({ length: 26 }, () => rule) }, 10],
      ["26 peers", { ingress: [{ action: "Deny", from: Array.from({ length: 26 }, () => ns("b")) }] }, 10],
      ["no peers", { ingress: [{ action: "Deny", from: [] }] }, 10],
      [
        "26 networks",
        { egress: [{ action: "Deny", to: [{ networks: Array.from({ length: 26 }, (_, i) => `10.${i}.0.0/16`) }] }] },
        10,
      ],
      ["a bad CIDR", { egress: [{ action: "Deny", to: [{ networks: ["10.0.0.0/33"] }] }] }, 10],
      ["a repeated CIDR", { egress: [{ action: "Deny", to: [{ networks: ["10.0.0.0/8", "10.0.0.0/8"] }] }] }, 10],
      ["an unknown action", { ingress: [{ action: "Allow", from: [ns("b")] }] }, 10],
      ["a rule name over 100", { ingress: [{ ...rule, name: "x".repeat(101) }] }, 10],
      ["two peer fields", { ingress: [{ action: "Deny", from: [{ ...ns("b"), pods: { podSelector: {} } }] }] }, 10],
      ["pods without podSelector", { ingress: [{ action: "Deny", from: [{ pods: { namespaceSelector: {} } }] }] }, 10],
      [
        "a range start = end",
        { ingress: [{ ...rule, protocols: [{ tcp: { destinationPort: { range: { start: 5, end: 5 } } } }] }] },
        10,
      ],
      ["port 0", { ingress: [{ ...rule, protocols: [{ udp: { destinationPort: { number: 0 } } }] }] }, 10],
      ["tcp without a port", { ingress: [{ ...rule, protocols: [{ tcp: {} }] }] }, 10],
      [
        "two protocols in one entry",
        {
          ingress: [
            {
              ...rule,
              protocols: [{ tcp: { destinationPort: { number: 1 } }, udp: { destinationPort: { number: 1 } } }],
            },
          ],
        },
        10,
      ],
      ["a bad named port", { ingress: [{ ...rule, protocols: [{ destinationNamedPort: "Not_A_Name" }] }] }, 10],
      [
        "networks with a named port",
        {
          egress: [
            { action: "Accept", to: [{ networks: ["10.0.0.0/8"] }], protocols: [{ destinationNamedPort: "web" }] },
          ],
        },
        10,
      ],
      [
        "a bad peer selector",
        {
          ingress: [{ action: "Deny", from: [{ namespaces: { matchExpressions: [{ key: "a", operator: "Near" }] } }] }],
        },
        10,
      ],
    ];
    for (const [what, spec, order] of bad) {
      const c = convert("x", spec);
      assert.deepEqual(
        [c.policy.order, c.policy.ingress, c.policy.egress, c.policy.inbound, c.policy.outbound],
        [order, true, true, [{ action: "deny" }], [{ action: "deny" }]],
        what,
      );
      assert.match(c.problem ?? "", /fails closed/, what);
    }
  });

  test("an object that cannot be placed throws (its last valid version stays in force)", () => {
    for (const spec of [
      { tier: "Developer" },
      { tier: undefined },
      { subject: {} },
      { subject: { namespaces: {}, pods: { podSelector: {} } } },
      { subject: { pods: { namespaceSelector: {} } } },
      { subject: { namespaces: { matchLabels: { "bad key!": "x" } } } },
    ]) {
      assert.throws(() => convert("x", spec), JSON.stringify(spec));
    }
  });
});
