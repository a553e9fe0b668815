import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  K8S_POLICY_ORDER,
  K8S_POLICY_PREFIX,
  mergeRanges,
  networkPolicyToPolicy,
} from "../../../calc-graph/conversion/network-policy.js";
import { expandRule, type PolicyRule, type PortRange, type Protocol } from "../../../calc-graph/model.js";
import { ALL, type Selector, selectorText } from "../../../calc-graph/selector/selector.js";
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from "../../../model/k8s.js";

type Spec = NonNullable<NetworkPolicy["spec"]>;

const np = (spec: Spec | undefined, ns = "prod", name = "p"): NetworkPolicy => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name, namespace: ns },
  spec,
});

const convert = (spec: Spec | undefined, ns = "prod", name = "p") => networkPolicyToPolicy(np(spec, ns, name));

/** Converts a spec that is expected to convert cleanly. */
function ok(spec: unknown, ns = "prod") {
  const c = convert(spec as Spec, ns);
  assert.equal(c.ruleError, undefined, `unexpected ruleError: ${c.ruleError}`);
  return c.policy;
}

/** Inbound rules of a policy with one ingress rule. */
const inbound = (rule: { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }) => ok({ ingress: [rule] }).inbound;

const text = (s: Selector | undefined) => (s === undefined ? undefined : selectorText(s));

const NS_SEL = "projectcalico.org/namespace == 'prod'";
const POLICY_SEL = `${NS_SEL} && projectcalico.org/orchestrator == 'k8s'`;

describe("networkPolicyToPolicy: identity", () => {
  it("names, keys and orders the policy like Calico", () => {
    const p = ok({ podSelector: {} });
    assert.deepEqual(p.id, { tier: "default", namespace: "prod", name: "knp.default.p" });
    assert.equal(p.key, "default/prod/knp.default.p");
    assert.equal(p.kind, "KubernetesNetworkPolicy");
    assert.equal(p.order, 1000);
    assert.equal(K8S_POLICY_ORDER, 1000);
    assert.equal(K8S_POLICY_PREFIX, "knp.default.");
  });

  it("defaults the namespace to default", () => {
    const c = networkPolicyToPolicy({ metadata: { name: "x" } });
    assert.equal(c.policy.key, "default/default/knp.default.x");
    assert.equal(
      text(c.policy.selector),
      "projectcalico.org/namespace == 'default' && projectcalico.org/orchestrator == 'k8s'",
    );
  });

  it("throws without metadata.name", () => {
    assert.throws(() => networkPolicyToPolicy({ metadata: { namespace: "prod" }, spec: {} }), /no metadata\.name/);
  });

  it("accepts a policy without spec (selects every pod of the namespace, ingress only)", () => {
    const p = ok(undefined);
    assert.equal(text(p.selector), POLICY_SEL);
    assert.equal(p.ingress, true);
    assert.equal(p.egress, false);
    assert.deepEqual(p.inbound, []);
  });
});

describe("networkPolicyToPolicy: selector", () => {
  it("namespace and orchestrator, then the podSelector", () => {
    assert.equal(text(ok({ podSelector: { matchLabels: { app: "web" } } }).selector), `${POLICY_SEL} && app == 'web'`);
    assert.equal(
      text(
        ok({
          podSelector: {
            matchLabels: { app: "web" },
            matchExpressions: [{ key: "tier", operator: "In", values: ["fe", "be"] }],
          },
        }).selector,
      ),
      `${POLICY_SEL} && app == 'web' && tier in {'be', 'fe'}`,
    );
  });

  it("an empty podSelector selects the whole namespace", () => {
    assert.equal(text(ok({ podSelector: {} }).selector), POLICY_SEL);
  });

  it("uses the policy's own namespace", () => {
    assert.equal(
      text(ok({ podSelector: {} }, "team-a").selector),
      "projectcalico.org/namespace == 'team-a' && projectcalico.org/orchestrator == 'k8s'",
    );
  });

  it("throws on a bad podSelector (the policy cannot be placed)", () => {
    assert.throws(
      () => convert({ podSelector: { matchExpressions: [{ key: "a", operator: "Foo" }] } }),
      /unknown operator "Foo"/,
    );
    assert.throws(() => convert({ podSelector: "app=web" as never }), /must be an object/);
  });
});

describe("networkPolicyToPolicy: policyTypes", () => {
  it("defaults to Ingress only", () => {
    const p = ok({ podSelector: {} });
    assert.deepEqual([p.ingress, p.egress], [true, false]);
    // Selected for ingress with no rules: isolation.
    assert.deepEqual(p.inbound, []);
  });

  it("defaults to Ingress and Egress when there are egress rules", () => {
    const p = ok({ egress: [{}] });
    assert.deepEqual([p.ingress, p.egress], [true, true]);
    assert.deepEqual(p.outbound, [{ action: "allow" }]);
  });

  it("an empty egress list does not add Egress", () => {
    const p = ok({ egress: [] });
    assert.deepEqual([p.ingress, p.egress], [true, false]);
  });

  it("explicit types are honoured, and the other direction's rules ignored", () => {
    const eOnly = ok({ policyTypes: ["Egress"], ingress: [{}] });
    assert.deepEqual([eOnly.ingress, eOnly.egress], [false, true]);
    assert.deepEqual(eOnly.inbound, []);
    assert.deepEqual(eOnly.outbound, []);

    const iOnly = ok({ policyTypes: ["Ingress"], egress: [{}] });
    assert.deepEqual([iOnly.ingress, iOnly.egress], [true, false]);
    assert.deepEqual(iOnly.outbound, []);

    const both = ok({ policyTypes: ["Ingress", "Egress"] });
    assert.deepEqual([both.ingress, both.egress], [true, true]);
    assert.deepEqual([both.inbound, both.outbound], [[], []]);
  });

  it("an empty policyTypes list is defaulted", () => {
    const p = ok({ policyTypes: [], egress: [{}] });
    assert.deepEqual([p.ingress, p.egress], [true, true]);
  });

  it("throws on unknown or malformed policyTypes", () => {
    assert.throws(() => convert({ policyTypes: ["Ingress", "Sideways"] }), /unknown type "Sideways"/);
    assert.throws(() => convert({ policyTypes: ["ingress"] }), /unknown type "ingress"/);
    assert.throws(() => convert({ policyTypes: "Ingress" as never }), /policyTypes must be a list/);
  });
});

describe("networkPolicyToPolicy: peers", () => {
  it("podSelector → a selector restricted to the policy's namespace", () => {
    const [r] = inbound({ from: [{ podSelector: { matchLabels: { app: "api" } } }] });
    assert.equal(text(r.srcSelector), `${POLICY_SEL} && app == 'api'`);
    assert.equal(r.dstSelector, undefined);
  });

  it("an empty podSelector → every pod of the namespace", () => {
    const [r] = inbound({ from: [{ podSelector: {} }] });
    assert.equal(text(r.srcSelector), POLICY_SEL);
  });

  it("namespaceSelector → pcns.-prefixed, any namespace", () => {
    const [r] = inbound({ from: [{ namespaceSelector: { matchLabels: { team: "x" } } }] });
    assert.equal(
      text(r.srcSelector),
      "has(projectcalico.org/namespace) && pcns.team == 'x' && projectcalico.org/orchestrator == 'k8s'",
    );
    const [all] = inbound({ from: [{ namespaceSelector: {} }] });
    assert.equal(text(all.srcSelector), "has(projectcalico.org/namespace) && projectcalico.org/orchestrator == 'k8s'");
  });

  it("namespaceSelector with podSelector → both, ANDed", () => {
    const [r] = inbound({
      from: [
        {
          namespaceSelector: { matchExpressions: [{ key: "env", operator: "NotIn", values: ["dev"] }] },
          podSelector: { matchLabels: { role: "db" } },
        },
      ],
    });
    assert.equal(
      text(r.srcSelector),
      "has(projectcalico.org/namespace) && pcns.env != 'dev' && projectcalico.org/orchestrator == 'k8s' && role == 'db'",
    );
  });

  it("ipBlock → srcNets and srcNotNets, host bits masked, excepts sorted and deduped", () => {
    const [r] = inbound({
      from: [{ ipBlock: { cidr: "10.0.0.5/8", except: ["10.2.3.4/16", "10.1.0.0/16", "10.2.0.0/16"] } }],
    });
    assert.deepEqual(r, { action: "allow", srcNets: ["10.0.0.0/8"], srcNotNets: ["10.1.0.0/16", "10.2.0.0/16"] });
  });

  it("ipBlock without except has no srcNotNets; IPv6 works", () => {
    const [r] = inbound({ from: [{ ipBlock: { cidr: "fd00::1/64" } }] });
    assert.deepEqual(r, { action: "allow", srcNets: ["fd00::/64"] });
  });

  it("ipBlock with an except of the other family → ruleError", () => {
    const c = convert({ ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["fd00::/64"] } }] }] });
    assert.match(
      c.ruleError ?? "",
      /spec\.ingress\[0\] peer 0: except fd00::\/64 is not in the family of 10\.0\.0\.0\/8/,
    );
    assert.deepEqual(c.policy.inbound, []);
  });

  it("egress peers → dstSelector / dstNets", () => {
    const p = ok({
      egress: [
        {
          to: [
            { podSelector: { matchLabels: { app: "db" } } },
            { ipBlock: { cidr: "192.168.1.9/24", except: ["192.168.1.128/25"] } },
          ],
        },
      ],
    });
    assert.deepEqual(
      p.outbound.map((r) => ({ ...r, dstSelector: text(r.dstSelector) })),
      [
        { action: "allow", dstSelector: `${POLICY_SEL} && app == 'db'` },
        { action: "allow", dstSelector: undefined, dstNets: ["192.168.1.0/24"], dstNotNets: ["192.168.1.128/25"] },
      ],
    );
    assert.ok(p.outbound.every((r) => r.srcSelector === undefined && r.srcNets === undefined));
  });
});

describe("networkPolicyToPolicy: ports", () => {
  it("a port defaults to TCP", () => {
    assert.deepEqual(inbound({ ports: [{ port: 80 }] }), [
      { action: "allow", protocol: "tcp", dstPorts: [{ first: 80, last: 80 }] },
    ]);
  });

  it("groups ports per protocol, in the order tcp, udp, sctp", () => {
    const rules = inbound({
      ports: [
        { protocol: "SCTP", port: 3868 },
        { protocol: "UDP", port: 53 },
        { port: 443 },
        { protocol: "TCP", port: 80 },
      ],
    });
    assert.deepEqual(rules, [
      {
        action: "allow",
        protocol: "tcp",
        dstPorts: [
          { first: 80, last: 80 },
          { first: 443, last: 443 },
        ],
      },
      { action: "allow", protocol: "udp", dstPorts: [{ first: 53, last: 53 }] },
      { action: "allow", protocol: "sctp", dstPorts: [{ first: 3868, last: 3868 }] },
    ]);
  });

  it("endPort gives a range; overlapping and adjacent ranges merge", () => {
    const rules = inbound({
      ports: [
        { port: 8000, endPort: 8080 },
        { port: 8081 },
        { port: 8050, endPort: 8060 },
        { port: 9000 },
        { port: 7999 },
      ],
    });
    assert.deepEqual(rules, [
      {
        action: "allow",
        protocol: "tcp",
        dstPorts: [
          { first: 7999, last: 8081 },
          { first: 9000, last: 9000 },
        ],
      },
    ]);
  });

  it("a numeric string port is a number", () => {
    assert.deepEqual(inbound({ ports: [{ port: "80" }, { port: 81 }] }), [
      { action: "allow", protocol: "tcp", dstPorts: [{ first: 80, last: 81 }] },
    ]);
    assert.deepEqual(inbound({ ports: [{ port: "8080", endPort: 8090 }] })[0].dstPorts, [{ first: 8080, last: 8090 }]);
  });

  it("a protocol without port allows the whole protocol and subsumes its ports", () => {
    const rules = inbound({
      ports: [{ port: 80 }, { protocol: "TCP" }, { port: "http" }, { protocol: "UDP", port: 53 }],
    });
    assert.deepEqual(rules, [
      { action: "allow", protocol: "tcp" },
      { action: "allow", protocol: "udp", dstPorts: [{ first: 53, last: 53 }] },
    ]);
  });

  it("splits more than 15 multiport slots into several rules", () => {
    const ports = Array.from({ length: 20 }, (_, i) => ({ port: 1000 + 2 * i }));
    const rules = inbound({ ports });
    assert.equal(rules.length, 2);
    assert.equal(rules[0].dstPorts?.length, 15);
    assert.equal(rules[1].dstPorts?.length, 5);
    assert.deepEqual(
      rules.flatMap((r) => r.dstPorts ?? []),
      ports.map((p) => ({ first: p.port, last: p.port })),
    );
  });

  it("a range costs two slots", () => {
    // 8 disjoint ranges = 16 slots: 7 fit in the first rule.
    const ports = Array.from({ length: 8 }, (_, i) => ({ port: 1000 + 10 * i, endPort: 1001 + 10 * i }));
    const rules = inbound({ ports });
    assert.deepEqual(
      rules.map((r) => r.dstPorts?.length),
      [7, 1],
    );
    // 15 single ports exactly fit one rule.
    assert.equal(inbound({ ports: Array.from({ length: 15 }, (_, i) => ({ port: 1 + 2 * i })) }).length, 1);
  });

  it("named ports get one rule each, sorted and deduped, after numeric ones", () => {
    const rules = inbound({
      ports: [
        { port: "metrics" },
        { port: 80 },
        { port: "http" },
        { port: "metrics" },
        { port: "dns", protocol: "UDP" },
      ],
    });
    assert.deepEqual(
      rules.map((r) => (r.namedPortSelector ? { ...r, namedPortSelector: text(r.namedPortSelector) } : r)),
      [
        { action: "allow", protocol: "tcp", dstPorts: [{ first: 80, last: 80 }] },
        { action: "allow", protocol: "tcp", dstNamedPort: "http", namedPortSelector: POLICY_SEL },
        { action: "allow", protocol: "tcp", dstNamedPort: "metrics", namedPortSelector: POLICY_SEL },
        { action: "allow", protocol: "udp", dstNamedPort: "dns", namedPortSelector: POLICY_SEL },
      ],
    );
  });

  it("egress named ports resolve over the peer's pods (or every pod without peer)", () => {
    const p = ok({
      egress: [
        { to: [{ podSelector: { matchLabels: { app: "dns" } } }], ports: [{ port: "dns", protocol: "UDP" }] },
        { ports: [{ port: "http" }] },
      ],
    });
    assert.equal(p.outbound.length, 2);
    assert.equal(p.outbound[0].dstNamedPort, "dns");
    assert.equal(text(p.outbound[0].namedPortSelector), `${POLICY_SEL} && app == 'dns'`);
    assert.equal(p.outbound[0].dstSelector, undefined);
    assert.equal(p.outbound[1].dstNamedPort, "http");
    assert.deepEqual(p.outbound[1].namedPortSelector, ALL);
  });
});

describe("networkPolicyToPolicy: rules", () => {
  it("one peer and several port groups: one rule per port group", () => {
    const rules = inbound({
      from: [{ podSelector: { matchLabels: { a: "1" } } }],
      ports: [{ port: 80 }, { protocol: "UDP", port: 53 }, { port: "http" }],
    });
    assert.deepEqual(
      rules.map((r) => [text(r.srcSelector), r.protocol, r.dstPorts?.[0]?.first ?? r.dstNamedPort]),
      [
        [`${POLICY_SEL} && a == '1'`, "tcp", 80],
        [`${POLICY_SEL} && a == '1'`, "tcp", "http"],
        [`${POLICY_SEL} && a == '1'`, "udp", 53],
      ],
    );
  });

  it("several peers and several port groups: one rule with a peer block and a port block, not their product", () => {
    const rules = inbound({
      from: [
        { podSelector: { matchLabels: { a: "1" } } },
        { ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] } },
      ],
      ports: [{ port: 80 }, { protocol: "UDP", port: 53 }, { port: "http" }],
    });
    assert.equal(rules.length, 1);
    const [r] = rules;
    assert.deepEqual(
      r.anyPeer?.map((p) => [text(p.srcSelector) ?? p.srcNets?.[0], p.srcNotNets]),
      [
        [`${POLICY_SEL} && a == '1'`, undefined],
        ["10.0.0.0/8", ["10.1.0.0/16"]],
      ],
    );
    assert.deepEqual(
      r.anyPort?.map((p) => [p.protocol, p.dstPorts?.[0]?.first ?? p.dstNamedPort, text(p.namedPortSelector)]),
      [
        ["tcp", 80, undefined],
        ["tcp", "http", POLICY_SEL],
        ["udp", 53, undefined],
      ],
    );
    // What it stands for is still the product, peer-major.
    assert.equal(expandRule(r).length, 6);
  });

  it("egress peer and port blocks: a named port resolves over all() (the peer block restricts the destination)", () => {
    const p = ok({
      policyTypes: ["Egress"],
      egress: [
        {
          to: [{ podSelector: { matchLabels: { a: "1" } } }, { podSelector: { matchLabels: { a: "2" } } }],
          ports: [{ port: 80 }, { port: "http" }],
        },
      ],
    });
    assert.equal(p.outbound.length, 1);
    const r = p.outbound[0];
    assert.deepEqual(
      r.anyPeer?.map((x) => text(x.dstSelector)),
      [`${POLICY_SEL} && a == '1'`, `${POLICY_SEL} && a == '2'`],
    );
    assert.deepEqual(r.anyPort?.[1], { protocol: "tcp", dstNamedPort: "http", namedPortSelector: ALL });
  });

  it("rules are concatenated in order", () => {
    const p = ok({ ingress: [{ ports: [{ port: 1 }] }, { ports: [{ port: 2 }] }] });
    assert.deepEqual(
      p.inbound.map((r) => r.dstPorts?.[0].first),
      [1, 2],
    );
  });

  it("absent or empty from and ports allow everything", () => {
    const allowAll: PolicyRule[] = [{ action: "allow" }];
    assert.deepEqual(inbound({}), allowAll);
    assert.deepEqual(inbound({ from: [] }), allowAll);
    assert.deepEqual(inbound({ ports: [] }), allowAll);
    assert.deepEqual(inbound({ from: [], ports: [] }), allowAll);
  });

  it("an empty ingress list allows nothing", () => {
    assert.deepEqual(ok({ ingress: [] }).inbound, []);
  });
});

describe("networkPolicyToPolicy: invalid rules fail closed", () => {
  const cases: [string, unknown, RegExp][] = [
    ["port 0", { ingress: [{ ports: [{ port: 0 }] }] }, /spec\.ingress\[0\]\.ports\[0\]: invalid port 0/],
    ["port 65536", { ingress: [{ ports: [{ port: 65536 }] }] }, /invalid port 65536/],
    ["port 80.5", { ingress: [{ ports: [{ port: 80.5 }] }] }, /invalid port 80\.5/],
    ["numeric string too big", { ingress: [{ ports: [{ port: "70000" }] }] }, /invalid port 70000/],
    ["empty port", { ingress: [{ ports: [{ port: "" }] }] }, /invalid port ""/],
    ["endPort below port", { ingress: [{ ports: [{ port: 80, endPort: 79 }] }] }, /invalid endPort 79/],
    ["endPort above 65535", { ingress: [{ ports: [{ port: 80, endPort: 70000 }] }] }, /invalid endPort 70000/],
    ["endPort without port", { ingress: [{ ports: [{ endPort: 80 }] }] }, /endPort needs port/],
    [
      "endPort with named port",
      { ingress: [{ ports: [{ port: "http", endPort: 80 }] }] },
      /endPort cannot be used with named port http/,
    ],
    ["bad protocol", { ingress: [{ ports: [{ port: 80, protocol: "ICMP" }] }] }, /unsupported protocol "ICMP"/],
    ["port entry not an object", { ingress: [{ ports: [80] }] }, /ports\[0\]: must be an object/],
    ["ports not a list", { ingress: [{ ports: "80" }] }, /ports must be a list/],
    ["from not a list", { ingress: [{ from: { podSelector: {} } }] }, /spec\.ingress\[0\]\.from must be a list/],
    ["to not a list", { egress: [{ to: { podSelector: {} } }] }, /spec\.egress\[0\]\.to must be a list/],
    ["ingress not a list", { ingress: { from: [] } }, /spec\.ingress must be a list/],
    ["empty peer", { ingress: [{ from: [{}] }] }, /peer 0: needs podSelector, namespaceSelector or ipBlock/],
    [
      "ipBlock with podSelector",
      { ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/8" }, podSelector: {} }] }] },
      /cannot be combined/,
    ],
    ["bad cidr", { ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/33" } }] }] }, /invalid CIDR/],
    [
      "bad peer selector",
      { ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: "a", operator: "X" }] } }] }] },
      /unknown operator/,
    ],
  ];
  for (const [what, spec, re] of cases) {
    it(`${what} → no rules, ruleError set, selector and types kept`, () => {
      const c = convert({ podSelector: { matchLabels: { app: "web" } }, ...(spec as Spec) });
      assert.match(c.ruleError ?? "(no ruleError)", re);
      assert.deepEqual(c.policy.inbound, []);
      assert.deepEqual(c.policy.outbound, []);
      assert.equal(text(c.policy.selector), `${POLICY_SEL} && app == 'web'`);
      assert.equal(c.policy.key, "default/prod/knp.default.p");
    });
  }

  it("an error in one direction drops the rules of both", () => {
    const c = convert({ ingress: [{}], egress: [{ ports: [{ port: 0 }] }] });
    assert.match(c.ruleError ?? "", /spec\.egress\[0\]\.ports\[0\]/);
    assert.deepEqual([c.policy.ingress, c.policy.egress], [true, true]);
    assert.deepEqual([c.policy.inbound, c.policy.outbound], [[], []]);
  });

  it("an error in a later rule drops the earlier good ones too", () => {
    const c = convert({ ingress: [{ ports: [{ port: 80 }] }, { ports: [{ port: -1 }] }] });
    assert.match(c.ruleError ?? "", /spec\.ingress\[1\]\.ports\[0\]: invalid port -1/);
    assert.deepEqual(c.policy.inbound, []);
  });

  it("ports given as a map instead of a list fails closed", () => {
    const c = convert({ ingress: [{ ports: { port: 80 } as never }] });
    assert.match(c.ruleError ?? "(no ruleError)", /ports must be a list/);
    assert.deepEqual(c.policy.inbound, []);
  });
});

describe("mergeRanges", () => {
  const r = (first: number, last: number): PortRange => ({ first, last });

  it("sorts and merges overlapping, adjacent and contained ranges", () => {
    assert.deepEqual(mergeRanges([r(5, 6), r(1, 3), r(4, 4), r(10, 12), r(11, 11), r(20, 30), r(21, 25)]), [
      r(1, 6),
      r(10, 12),
      r(20, 30),
    ]);
  });

  it("keeps disjoint ranges apart", () => {
    assert.deepEqual(mergeRanges([r(3, 3), r(1, 1)]), [r(1, 1), r(3, 3)]);
  });

  it("handles empty input and duplicates", () => {
    assert.deepEqual(mergeRanges([]), []);
    assert.deepEqual(mergeRanges([r(80, 80), r(80, 80)]), [r(80, 80)]);
  });

  it("does not modify its input", () => {
    const input = [r(5, 6), r(1, 3)];
    mergeRanges(input);
    assert.deepEqual(input, [r(5, 6), r(1, 3)]);
  });
});

describe("networkPolicyToPolicy: port coverage property", () => {
  const PROTOCOLS: Protocol[] = ["tcp", "udp", "sctp"];
  const portArb = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 65535 }));
  const entryArb: fc.Arbitrary<NetworkPolicyPort> = fc.oneof(
    { weight: 1, arbitrary: fc.record({ protocol: fc.constantFrom("TCP", "UDP", "SCTP") }) },
    {
      weight: 3,
      arbitrary: fc
        .record(
          {
            protocol: fc.constantFrom("TCP", "UDP", "SCTP"),
            port: portArb,
            asString: fc.boolean(),
            span: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
          },
          { requiredKeys: ["port", "asString"] },
        )
        .map(({ protocol, port, asString, span }) => {
          const e: NetworkPolicyPort = { port: asString ? String(port) : port };
          if (protocol !== undefined) e.protocol = protocol;
          if (span !== undefined) e.endPort = Math.min(65535, port + span);
          return e;
        }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        protocol: fc.constantFrom("TCP", "UDP"),
        port: fc.constantFrom("http", "dns", "metrics"),
      }),
    },
  );

  it("the rules cover exactly the input ports, per protocol", () => {
    fc.assert(
      fc.property(fc.array(entryArb, { minLength: 1, maxLength: 40 }), (ports) => {
        const rules = inbound({ ports });
        for (const protocol of PROTOCOLS) {
          const entries = ports.filter((p) => (p.protocol ?? "TCP").toLowerCase() === protocol);
          const want = new Uint8Array(65536);
          const wantNamed = new Set<string>();
          if (entries.some((p) => p.port === undefined)) want.fill(1, 1);
          else {
            for (const p of entries) {
              if (typeof p.port === "string" && !/^[0-9]+$/.test(p.port)) wantNamed.add(p.port);
              else {
                const first = Number(p.port);
                want.fill(1, first, (p.endPort ?? first) + 1);
              }
            }
          }
          const got = new Uint8Array(65536);
          const gotNamed = new Set<string>();
          for (const rule of rules.filter((x) => x.protocol === protocol)) {
            if (rule.dstNamedPort !== undefined) {
              assert.equal(gotNamed.has(rule.dstNamedPort), false, "named port repeated");
              gotNamed.add(rule.dstNamedPort);
            } else if (rule.dstPorts === undefined) got.fill(1, 1);
            else {
              const slots = rule.dstPorts.reduce((n, r) => n + (r.first === r.last ? 1 : 2), 0);
              assert.ok(slots >= 1 && slots <= 15, `rule uses ${slots} multiport slots`);
              for (const r of rule.dstPorts) got.fill(1, r.first, r.last + 1);
            }
          }
          assert.deepEqual(got, want, `port coverage for ${protocol}`);
          assert.deepEqual([...gotNamed].sort(), [...wantNamed].sort(), `named ports for ${protocol}`);
        }
        assert.ok(rules.every((r) => r.protocol !== undefined));
      }),
      { numRuns: 200 },
    );
  });
});
