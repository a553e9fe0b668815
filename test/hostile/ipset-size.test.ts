// Hostile input: IP sets bigger than FELIX_MAXIPSETSIZE. Tenants write
// network sets and pods; one selector can gather more members than the
// kernel's maxelem, which would fail the ipset restore and stall every later
// apply on the node. The set is never programmed, the rules using it fail
// closed, a problem reports it, and everything else is programmed as usual.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { selectorSet } from "../../calc-graph/ipsets/ids.js";
import type { PolicyRule } from "../../calc-graph/model.js";
import { failClosedRule } from "../../calc-graph/rules/overfull-sets.js";
import { parseSelector } from "../../calc-graph/selector/parse.js";
import { IPTABLES_RULES } from "../../iptables/rule-render.js";
import { ipSetList, ipSetNames, ipSetOf } from "../../model/ipset-shards.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { parseManifestText } from "../../src/datastore/manifests.js";
import { iptablesText } from "../../src/dump/views.js";
import { clusterModel } from "../../trace/cluster-model.js";
import { ClusterTracer } from "../../trace/cluster-trace.js";

function updates(docs: object[]): ResourceUpdate[] {
  const parsed = parseManifestText(docs.map((d) => stringify(d)).join("---\n"), "x.yaml");
  assert.deepEqual(parsed.problems, []);
  return parsed.updates;
}

const ns = (name: string) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
const pod = (namespace: string, name: string, node: string, ip: string, labels: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace, labels },
  spec: { nodeName: node, containers: [{ name: "c" }] },
  status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
});
const networkSet = (namespace: string, name: string, nets: string[]) => ({
  apiVersion: "projectcalico.org/v3",
  kind: "NetworkSet",
  metadata: { name, namespace, labels: { role: "partner" } },
  spec: { nets },
});
const fromPartners = (namespace: string, action: "Allow" | "Deny") => ({
  apiVersion: "projectcalico.org/v3",
  kind: "NetworkPolicy",
  metadata: { name: `partners-${action.toLowerCase()}`, namespace },
  spec: {
    selector: "app == 'web'",
    types: ["Ingress"],
    ingress: [{ action, source: { selector: "role == 'partner'" } }, { action: "Allow" }],
  },
});
/** `n` nets 10.200.<i>.0/24. */
const nets = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `10.200.${from + i}.0/24`);

const policyChain = (s: DesiredState, name: string) => {
  const lines = iptablesText(s, 4).split("\n");
  const chain = lines
    .find((l) => l.startsWith(":cali-pi-") && l.includes(name))
    ?.slice(1)
    .split(" ")[0];
  const any = lines.filter((l) => l.startsWith("-A cali-pi-"));
  return { lines, chainRules: chain ? lines.filter((l) => l.startsWith(`-A ${chain} `)) : any };
};

describe("hostile input: an IP set over FELIX_MAXIPSETSIZE", () => {
  const base = [ns("prod"), ns("other"), pod("prod", "web", "node1", "10.65.1.2", { app: "web" })];

  it("is not programmed, an allow rule using it matches nothing, and a problem names it", () => {
    const g = new CalcGraph({ nodeName: "node1", maxIpSetSize: 5 });
    const s = g.apply(updates([...base, networkSet("prod", "many", nets(6)), fromPartners("prod", "Allow")]));
    const sets = ipSetNames(s.ipsets);
    assert.deepEqual(
      sets.map((n) => n.slice(0, 8)),
      ["cali60s:"],
      "the IPv4 set is left out (the empty IPv6 one stays)",
    );
    const text = iptablesText(s, 4);
    assert.doesNotMatch(text, /--match-set/, "no rule references it");
    const problems = Object.keys(s.problems).filter((k) => k.startsWith("IPSet//"));
    assert.equal(problems.length, 1, JSON.stringify(s.problems));
    assert.match(s.problems[problems[0]].message, /more than FELIX_MAXIPSETSIZE \(5\).*fail closed/);
    // The policy chain keeps the unconditional allow (rule 2) and nothing of rule 1.
    const rules = text.split("\n").filter((l) => l.startsWith("-A cali-pi-"));
    assert.equal(rules.length, 2, rules.join("\n"));
    assert.ok(rules.every((r) => !r.includes("10.200.")));
  });

  it("comes back whole once it shrinks under the bound, and goes over again", () => {
    const g = new CalcGraph({ nodeName: "node1", maxIpSetSize: 5 });
    g.apply(updates([...base, networkSet("prod", "many", nets(6)), fromPartners("prod", "Allow")]));
    let s = g.apply(updates([networkSet("prod", "many", nets(5))]));
    const name = ipSetNames(s.ipsets).find((n) => n.startsWith("cali40"))!;
    assert.ok(name?.startsWith("cali40s:"), ipSetNames(s.ipsets).join());
    assert.equal(ipSetOf(s.ipsets, name)!.members.size, 5);
    assert.match(iptablesText(s, 4), new RegExp(`--match-set ${name} src`));
    assert.deepEqual(
      Object.keys(s.problems).filter((k) => k.startsWith("IPSet//")),
      [],
    );
    s = g.apply(updates([networkSet("prod", "more", nets(1, 50))]));
    assert.deepEqual(ipSetNames(s.ipsets), [name.replace("cali40", "cali60")]);
    assert.doesNotMatch(iptablesText(s, 4), /--match-set/);
    // The result does not depend on history: a fresh graph of the same input agrees.
    const fresh = new CalcGraph({ nodeName: "node1", maxIpSetSize: 5 }).apply(
      updates([
        ...base,
        networkSet("prod", "many", nets(5)),
        networkSet("prod", "more", nets(1, 50)),
        fromPartners("prod", "Allow"),
      ]),
    );
    assert.equal(iptablesText(fresh, 4), iptablesText(s, 4));
    assert.deepEqual(fresh.problems, s.problems);
  });

  it("a deny rule using it denies every source (at least what it denied)", () => {
    const g = new CalcGraph({ nodeName: "node1", maxIpSetSize: 5 });
    const s = g.apply(updates([...base, networkSet("prod", "many", nets(6)), fromPartners("prod", "Deny")]));
    const rules = policyChain(s, "").chainRules;
    assert.doesNotMatch(rules.join("\n"), /--match-set/);
    assert.match(rules[0], /-j DROP/, rules.join("\n"));
    assert.doesNotMatch(rules[0], / -s |--match-set/, "unconditional: the set's condition is taken as true");
  });

  it("another namespace's sets and policy are programmed as usual", () => {
    const g = new CalcGraph({ nodeName: "node1", maxIpSetSize: 5 });
    const s = g.apply(
      updates([
        ...base,
        pod("other", "web", "node1", "10.65.1.3", { app: "web" }),
        networkSet("prod", "many", nets(6)),
        networkSet("other", "few", nets(2, 100)),
        fromPartners("prod", "Allow"),
        fromPartners("other", "Allow"),
      ]),
    );
    const sets = ipSetList(s.ipsets).filter((x) => x.family === 4);
    assert.equal(sets.length, 1, ipSetNames(s.ipsets).join());
    assert.deepEqual([...sets[0].members].sort(), ["10.200.100.0/24", "10.200.101.0/24"]);
    assert.match(iptablesText(s, 4), new RegExp(`--match-set ${sets[0].name} src`));
    const over = Object.keys(s.problems).filter((k) => k.startsWith("IPSet//"));
    assert.equal(over.length, 1);
    assert.notEqual(over[0], `IPSet//${sets[0].name}/size`, "the problem names the other namespace's set");
  });

  it("a pass rule using it is no door: what the next tier denies stays denied", () => {
    // security: web passes api on to the next tier, and allows everyone else; default: web denies api.
    // Skipping the pass would let api hit the allow; it becomes a deny instead.
    const gnp = (name: string, tier: string, ingress: object[]) => ({
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkPolicy",
      metadata: { name },
      spec: { tier, order: 0, selector: "app == 'web'", types: ["Ingress"], ingress },
    });
    const docs = [
      { apiVersion: "projectcalico.org/v3", kind: "Tier", metadata: { name: "security" }, spec: { order: 100 } },
      { apiVersion: "v1", kind: "Node", metadata: { name: "node1" }, status: { addresses: [] } },
      ns("a"),
      pod("a", "web", "node1", "10.70.1.10", { app: "web" }),
      ...[11, 12, 13].map((i) => pod("a", `api${i}`, "node1", `10.70.1.${i}`, { app: "api" })),
      gnp("security.pass-api", "security", [
        { action: "Pass", source: { selector: "app == 'api'" } },
        { action: "Allow" },
      ]),
      gnp("deny-api", "default", [{ action: "Deny", source: { selector: "app == 'api'" } }]),
    ];
    const trace = (maxIpSetSize: number) =>
      new ClusterTracer(clusterModel(updates(docs), (nodeName) => ({ nodeName, maxIpSetSize }), IPTABLES_RULES)).trace({
        src: "10.70.1.11",
        dst: "10.70.1.10",
        sport: 40000,
        dport: 80,
        protocol: "tcp",
      });
    assert.equal(trace(100).verdict, "deny");
    const bounded = trace(2);
    assert.equal(bounded.verdict, "deny", "the api set (3 members) is over the bound of 2");
    // The tracer names the rule as enforced: the security tier's rule 0, failed closed to a deny.
    assert.deepEqual(bounded.deniedBy?.origin, {
      kind: "policy",
      tier: "security",
      policyKind: "GlobalNetworkPolicy",
      name: "security.pass-api",
      direction: "ingress",
      ruleIndex: 0,
      action: "deny",
    });
  });

  it("the default bound is Felix's 1048576; the bound is per family", () => {
    assert.equal(new CalcGraph({ nodeName: "node1" }).ipsets.maxSize, 1048576);
    const g = new CalcGraph({ nodeName: "node1", maxIpSetSize: 2 });
    const v6 = ["fd00:200::/64", "fd00:201::/64"];
    const s = g.apply(
      updates([...base, networkSet("prod", "mixed", [...nets(3), ...v6]), fromPartners("prod", "Allow")]),
    );
    assert.deepEqual(
      ipSetList(s.ipsets).map((x) => [x.family, x.members.size]),
      [[6, 2]],
    );
    assert.deepEqual(Object.keys(s.problems).filter((k) => k.startsWith("IPSet//")).length, 1);
  });
});

describe("failClosedRule: what a rule becomes without an over-full set", () => {
  const big = parseSelector("role == 'big'");
  const small = parseSelector("role == 'small'");
  const bigId = selectorSet(big).id;
  const overfull = (id: string) => id === bigId;
  const r = (x: Partial<PolicyRule>): PolicyRule => ({ action: "allow", ...x });

  it("leaves a rule without such a set as it is (the same object)", () => {
    const rule = r({ srcSelector: small });
    assert.equal(failClosedRule(rule, 4, overfull), rule);
  });

  it("allow and log: the rule, or the alternative, needing the set is gone", () => {
    assert.equal(failClosedRule(r({ srcSelector: big }), 4, overfull), null);
    assert.equal(failClosedRule(r({ srcNotSelector: big }), 4, overfull), null, "a notSelector too: never widen");
    assert.equal(failClosedRule(r({ action: "log", dstSelector: big }), 4, overfull), null);
    const out = failClosedRule(r({ anyPeer: [{ srcSelector: big }, { srcSelector: small }] }), 4, overfull);
    assert.deepEqual(out, r({ anyPeer: [{ srcSelector: small }] }));
    assert.equal(failClosedRule(r({ anyPeer: [{ srcSelector: big }] }), 4, overfull), null);
  });

  it("deny: every condition on the set is dropped, so it denies more, never less", () => {
    assert.deepEqual(failClosedRule(r({ action: "deny", srcSelector: big, protocol: "tcp" }), 4, overfull), {
      action: "deny",
      protocol: "tcp",
    });
    assert.deepEqual(failClosedRule(r({ action: "deny", srcNotSelector: big, dstSelector: small }), 4, overfull), {
      action: "deny",
      dstSelector: small,
    });
    assert.deepEqual(
      failClosedRule(r({ action: "deny", anyPeer: [{ srcSelector: big }, { srcSelector: small }] }), 4, overfull),
      { action: "deny", anyPeer: [{}, { srcSelector: small }] },
    );
  });

  it("pass: becomes the widened deny (neither matching less nor more is safe for a pass)", () => {
    assert.deepEqual(
      failClosedRule(r({ action: "pass", srcSelector: big, dstPorts: [{ first: 80, last: 80 }] }), 4, overfull),
      {
        action: "deny",
        dstPorts: [{ first: 80, last: 80 }],
      },
    );
  });

  it("named ports: the named-port set counts like any other", () => {
    const ports = parseSelector("app == 'web'");
    const over = () => true;
    const rule = r({ protocol: "tcp", dstNamedPort: "http", namedPortSelector: ports });
    assert.equal(failClosedRule(rule, 4, over), null);
    assert.deepEqual(failClosedRule({ ...rule, action: "deny" }, 4, over), {
      action: "deny",
      protocol: "tcp",
      namedPortSelector: ports,
    });
    const alt = r({
      anyPort: [{ protocol: "tcp", dstNamedPort: "http", namedPortSelector: ports }, { protocol: "udp" }],
    });
    assert.deepEqual(failClosedRule(alt, 4, over), r({ anyPort: [{ protocol: "udp" }] }));
  });
});
