import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { computeDesiredState } from "../../../calc-graph/calc-graph.js";
import { calicoPolicyToPolicy, tierFromObject } from "../../../calc-graph/conversion/calico-policy.js";
import { matches, selectorText } from "../../../calc-graph/selector/selector.js";
import { withStagedEnforced } from "../../../calc-graph/staged.js";
import type { CalicoPolicySpec } from "../../../model/calico.js";
import { ipSetList } from "../../../model/ipset-shards.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { chainList } from "../../../model/tables.js";

const np = (spec: CalicoPolicySpec, ns = "prod", name = "p") =>
  calicoPolicyToPolicy({ metadata: { name, namespace: ns }, spec }, "NetworkPolicy");
const gnp = (spec: CalicoPolicySpec, name = "g") =>
  calicoPolicyToPolicy({ metadata: { name }, spec }, "GlobalNetworkPolicy");

function ok(c: ReturnType<typeof np>) {
  assert.equal(c.ruleError, undefined, `unexpected ruleError: ${c.ruleError}`);
  return c.policy;
}

const text = (s: Parameters<typeof selectorText>[0] | undefined) => (s ? selectorText(s) : undefined);

describe("Calico policy conversion: placement", () => {
  it("a namespaced policy only selects its own namespace, whatever its selector says", () => {
    const p = ok(np({ selector: "projectcalico.org/namespace == 'other' || all()" }, "tenant-a"));
    const other = new Map([["projectcalico.org/namespace", "other"]]);
    const own = new Map([["projectcalico.org/namespace", "tenant-a"]]);
    assert.equal(matches(p.selector, other), false, "never another namespace's pod");
    assert.equal(matches(p.selector, own), true);
    assert.equal(matches(ok(np({}, "tenant-a")).selector, other), false, "an empty selector: its namespace");
  });

  it("keys, tier, order and kind as Felix names them", () => {
    const p = ok(np({ tier: "security", order: 12.5 }, "prod", "x"));
    assert.deepEqual([p.key, p.id.tier, p.order, p.kind], ["np/prod/x", "security", 12.5, "NetworkPolicy"]);
    const g = ok(gnp({}, "y"));
    assert.deepEqual([g.key, g.id.tier, g.order, g.kind], ["gnp/y", "default", Infinity, "GlobalNetworkPolicy"]);
  });

  it("types default as Calico's API defaults them", () => {
    const types = (spec: CalicoPolicySpec) => {
      const p = ok(np(spec));
      return [p.ingress, p.egress];
    };
    assert.deepEqual(types({}), [true, false], "no rules: ingress (isolation)");
    assert.deepEqual(types({ ingress: [{ action: "Allow" }] }), [true, false]);
    assert.deepEqual(types({ egress: [{ action: "Allow" }] }), [false, true], "only egress rules: egress only");
    assert.deepEqual(types({ ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }] }), [true, true]);
    assert.deepEqual(types({ types: ["Egress"], ingress: [{ action: "Allow" }] }), [false, true]);
  });

  it("a global policy's namespaceSelector and serviceAccountSelector match the pcns/pcsa labels", () => {
    const g = ok(gnp({ selector: "app == 'x'", namespaceSelector: "team == 'a'", serviceAccountSelector: "all()" }));
    assert.equal(
      text(g.selector),
      "app == 'x' && pcns.team == 'a' && has(projectcalico.org/serviceaccount)",
      "all() for service accounts means: has a service account",
    );
    assert.equal(text(ok(gnp({ namespaceSelector: "global()" })).selector), "!has(projectcalico.org/namespace)");
    assert.equal(text(ok(gnp({ namespaceSelector: "all()" })).selector), "has(projectcalico.org/namespace)");
  });

  it("placement errors throw (the last valid version stays)", () => {
    assert.throws(() => np({ selector: "app = 'x'" }), /spec.selector: invalid selector/);
    assert.throws(() => np({ types: ["Sideways"] }), /unknown type/);
    assert.throws(() => np({ order: "soon" }), /spec.order must be a number/);
    assert.throws(() => np({ tier: "Bad Tier" }), /spec.tier/);
    assert.throws(() => np({ namespaceSelector: "all()" }), /GlobalNetworkPolicy only/);
    assert.throws(() => gnp({ preDNAT: true }), /applyOnForward must be true/);
    assert.throws(() => gnp({ preDNAT: true, doNotTrack: true, applyOnForward: true }), /cannot both/);
    assert.throws(() => gnp({ preDNAT: true, applyOnForward: true, types: ["Egress"] }), /ingress rules only/);
    assert.throws(() => np({ applyOnForward: true }), /GlobalNetworkPolicy only/);
  });
});

describe("Calico policy conversion: rules", () => {
  const rule = (r: object, dir: "ingress" | "egress" = "ingress", ns = "prod") =>
    ok(np({ types: ["Ingress", "Egress"], [dir]: [r] }, ns))[dir === "ingress" ? "inbound" : "outbound"][0];

  it("rule selectors are scoped to the policy's namespace unless a namespaceSelector is given; notSelector is not", () => {
    assert.equal(
      text(rule({ action: "Allow", source: { selector: "app == 'a'" } }).srcSelector),
      "projectcalico.org/namespace == 'prod' && app == 'a'",
    );
    const r = rule({ action: "Allow", source: { notSelector: "app == 'b'" } });
    assert.equal(text(r.srcSelector), "projectcalico.org/namespace == 'prod'");
    assert.equal(text(r.srcNotSelector), "app == 'b'");
    assert.equal(
      text(rule({ action: "Allow", source: { namespaceSelector: "all()", selector: "app == 'a'" } }).srcSelector),
      "has(projectcalico.org/namespace) && app == 'a'",
    );
    assert.equal(rule({ action: "Allow", source: { nets: ["10.0.0.0/8"] } }).srcSelector, undefined, "nets only");
  });

  it("service accounts by name and by selector", () => {
    const r = rule({ action: "Allow", source: { serviceAccounts: { names: ["b", "a"], selector: "role == 'x'" } } });
    assert.equal(
      text(r.srcSelector),
      "projectcalico.org/namespace == 'prod' && pcsa.role == 'x' && projectcalico.org/serviceaccount in {'a', 'b'}",
    );
  });

  it("actions, protocols, ICMP", () => {
    assert.deepEqual(
      ["Allow", "Deny", "Pass", "Log"].map((action) => rule({ action }).action),
      ["allow", "deny", "pass", "log"],
    );
    assert.equal(rule({ action: "Allow", protocol: 6 }).protocol, "tcp", "known numbers become names");
    assert.equal(rule({ action: "Allow", protocol: "47" }).protocol, 47);
    assert.equal(rule({ action: "Allow", protocol: "ICMPv6", icmp: { type: 128 } }).icmp?.type, 128);
    assert.deepEqual(rule({ action: "Allow", protocol: "ICMP", notICMP: { type: 3, code: 1 } }).notIcmp, {
      type: 3,
      code: 1,
    });
  });

  it("ports: numbers, ranges and named ports; more than one group is a port block", () => {
    const r = rule({ action: "Allow", protocol: "TCP", destination: { ports: [80, "8000:8080", "http"] } });
    assert.deepEqual(
      r.anyPort?.map((p) => p.dstPorts ?? p.dstNamedPort),
      [
        [
          { first: 80, last: 80 },
          { first: 8000, last: 8080 },
        ],
        "http",
      ],
    );
    const one = rule({ action: "Allow", protocol: "UDP", destination: { ports: [53] }, source: { ports: ["1:2"] } });
    assert.deepEqual([one.dstPorts, one.srcPorts], [[{ first: 53, last: 53 }], [{ first: 1, last: 2 }]]);
  });

  it("several nets are alternatives; notNets go with every one", () => {
    const r = rule({ action: "Deny", source: { nets: ["10.0.0.0/8", "192.168.1.7"], notNets: ["10.1.0.0/16"] } });
    assert.deepEqual(r.anyPeer, [
      { srcNets: ["10.0.0.0/8"], srcNotNets: ["10.1.0.0/16"] },
      { srcNets: ["192.168.1.7/32"], srcNotNets: ["10.1.0.0/16"] },
    ]);
  });

  const bad: [string, object, RegExp][] = [
    ["unknown action", { action: "Reject" }, /action: must be Allow, Deny, Pass or Log/],
    ["port out of range", { action: "Allow", protocol: "TCP", destination: { ports: [70000] } }, /not a port/],
    ["reversed range", { action: "Allow", protocol: "TCP", destination: { ports: ["90:80"] } }, /not a port/],
    ["ports without a port protocol", { action: "Allow", protocol: "ICMP", destination: { ports: [1] } }, /ports need/],
    ["ICMP without ICMP", { action: "Allow", protocol: "TCP", icmp: { type: 8 } }, /needs protocol ICMP/],
    ["ICMP type out of range", { action: "Allow", protocol: "ICMP", icmp: { type: 255 } }, /type: must be 0-254/],
    ["ICMP code without type", { action: "Allow", protocol: "ICMP", icmp: { code: 1 } }, /needs a type/],
    ["protocol 0", { action: "Allow", protocol: 0 }, /1-255/],
    ["both protocol and notProtocol", { action: "Allow", protocol: "TCP", notProtocol: "UDP" }, /both/],
    ["a net of the wrong family", { action: "Allow", ipVersion: 4, source: { nets: ["fd00::/8"] } }, /not IPv4/],
    ["a bad rule selector", { action: "Allow", source: { selector: "a ==" } }, /source.selector/],
    ["HTTP matches", { action: "Allow", http: { methods: ["GET"] } }, /not supported/],
    ["named source ports", { action: "Allow", protocol: "TCP", source: { ports: ["http"] } }, /named source/],
  ];
  for (const [what, r, message] of bad) {
    // All Allow (or not even an action): no rules; an action that may have meant to deny: one deny.
    const allowOnly = (r as { action?: string }).action === "Allow";
    it(`${what}: the policy is kept failed closed (${allowOnly ? "no rules" : "one deny"})`, () => {
      const c = np({ selector: "app == 'web'", ingress: [{ action: "Allow" }, r as never] });
      assert.match(c.ruleError ?? "", message);
      assert.deepEqual([c.policy.inbound, c.policy.ingress], [allowOnly ? [] : [{ action: "deny" }], true]);
      assert.equal(text(c.policy.selector), "app == 'web' && projectcalico.org/namespace == 'prod'");
    });
  }
  it("a Deny or Pass next to a rule that does not convert: one deny, so the deny does not vanish", () => {
    for (const action of ["Deny", "Pass"]) {
      const c = np({ selector: "all()", ingress: [{ action }, { action: "Allow", source: { selector: "a ==" } }] });
      assert.deepEqual(c.policy.inbound, [{ action: "deny" }], action);
    }
  });
});

describe("tiers", () => {
  it("defaultAction defaults to Deny; order is optional; the default tier is Calico's", () => {
    assert.deepEqual(tierFromObject({ metadata: { name: "t" } }), { name: "t", defaultAction: "Deny" });
    assert.deepEqual(tierFromObject({ metadata: { name: "t" }, spec: { order: 5, defaultAction: "Pass" } }), {
      name: "t",
      order: 5,
      defaultAction: "Pass",
    });
    assert.deepEqual(tierFromObject({ metadata: { name: "default" } }), {
      name: "default",
      order: 1_000_000,
      defaultAction: "Deny",
    });
    assert.throws(() => tierFromObject({ metadata: { name: "default" }, spec: { defaultAction: "Pass" } }));
    assert.throws(() => tierFromObject({ metadata: { name: "t" }, spec: { defaultAction: "Allow" } }));
  });
});

/** A node, a namespace and one local pod: enough for the graph to render endpoint chains. */
const base: ResourceUpdate[] = [
  {
    kind: "Node",
    namespace: "",
    name: "n1",
    value: { metadata: { name: "n1" }, spec: { podCIDR: "10.1.0.0/24" } } as never,
  },
  { kind: "Namespace", namespace: "", name: "prod", value: { metadata: { name: "prod" } } },
  {
    kind: "Pod",
    namespace: "prod",
    name: "web",
    value: {
      metadata: { name: "web", namespace: "prod", labels: { app: "web" } },
      spec: { nodeName: "n1" },
      status: { phase: "Running", podIP: "10.1.0.2", podIPs: [{ ip: "10.1.0.2" }] },
    } as never,
  },
];
const calico = (kind: ResourceUpdate["kind"], name: string, spec: object, namespace = ""): ResourceUpdate => ({
  kind,
  namespace,
  name,
  value: { metadata: { name, ...(namespace ? { namespace } : {}) }, spec } as never,
});

describe("the graph: tiers in the endpoint chains", () => {
  const comments = (updates: ResourceUpdate[]) => {
    const s = computeDesiredState({ nodeName: "n1" }, [...base, ...updates]);
    const tw = chainList(s.iptables.ipv4.filter).find((c) => c.name.startsWith("cali-tw-"))!;
    return tw.rules.map((r) => /--comment "((?:Start|End) of tier [^."]*)/.exec(r.text)?.[1]).filter(Boolean);
  };

  it("tiers by order (unset last, then missing ones), each started, and ended unless its defaultAction is Pass", () => {
    const pol = (name: string, tier: string) => calico("GlobalNetworkPolicy", name, { tier, selector: "all()" });
    assert.deepEqual(
      comments([
        calico("Tier", "b-no-order", {}),
        calico("Tier", "first", { order: 1 }),
        calico("Tier", "passes", { order: 2, defaultAction: "Pass" }),
        pol("p1", "b-no-order"),
        pol("p2", "first"),
        pol("p3", "passes"),
        pol("p4", "nosuch"),
        pol("p5", "default"),
      ]),
      [
        "Start of tier first",
        "End of tier first",
        "Start of tier passes",
        "Start of tier default",
        "End of tier default",
        "Start of tier b-no-order",
        "End of tier b-no-order",
        "Start of tier nosuch",
        "End of tier nosuch",
      ],
    );
  });

  it("preDNAT and doNotTrack policies never apply to workloads (host endpoints only)", () => {
    const flags = { selector: "all()", applyOnForward: true, ingress: [{ action: "Deny" }] };
    assert.deepEqual(
      comments([
        calico("GlobalNetworkPolicy", "pre", { ...flags, preDNAT: true }),
        calico("GlobalNetworkPolicy", "untracked", { ...flags, doNotTrack: true }),
      ]),
      [],
    );
    assert.deepEqual(comments([calico("GlobalNetworkPolicy", "fwd", flags)]), [
      "Start of tier default",
      "End of tier default",
    ]);
  });

  it("projectcalico.org/name in a namespaceSelector is the namespace's name; serviceAccounts.names the pod's account", () => {
    const members = (source: object) => {
      const s = computeDesiredState({ nodeName: "n1" }, [
        ...base,
        calico("GlobalNetworkPolicy", "p", { selector: "all()", ingress: [{ action: "Allow", source }] }),
      ]);
      return ipSetList(s.ipsets)
        .filter((x) => x.family === 4)
        .map((x) => [...x.members]);
    };
    assert.deepEqual(members({ namespaceSelector: "projectcalico.org/name == 'prod'" }), [["10.1.0.2"]]);
    assert.deepEqual(members({ namespaceSelector: "projectcalico.org/name == 'dev'" }), [[]]);
    assert.deepEqual(members({ serviceAccounts: { names: ["default"] } }), [["10.1.0.2"]]);
    assert.deepEqual(members({ serviceAccounts: { selector: "projectcalico.org/name == 'default'" } }), [["10.1.0.2"]]);
  });

  it("a tier's policies that select nothing here add no tier to the chain", () => {
    assert.deepEqual(comments([calico("GlobalNetworkPolicy", "p", { selector: "app == 'other'" })]), []);
  });

  it("staged policies render nothing; enforced, they would", () => {
    const staged = [calico("StagedGlobalNetworkPolicy", "s", { selector: "all()", ingress: [{ action: "Deny" }] })];
    assert.deepEqual(comments(staged), []);
    assert.deepEqual(
      withStagedEnforced(staged).map((u) => `${u.kind}/${u.name}`),
      ["GlobalNetworkPolicy/s"],
      "felix-dump's what-if enforces it",
    );
    assert.deepEqual(comments(withStagedEnforced(staged)), ["Start of tier default", "End of tier default"]);
  });

  it("a staged Delete removes the enforced policy of its name in the what-if, and only there", () => {
    const enforced = calico("CalicoNetworkPolicy", "x", { selector: "all()" }, "prod");
    const del = calico("StagedNetworkPolicy", "x", { stagedAction: "Delete" }, "prod");
    assert.deepEqual(comments([enforced, del]), ["Start of tier default", "End of tier default"]);
    assert.deepEqual(comments(withStagedEnforced([enforced, del])), []);
  });
});
