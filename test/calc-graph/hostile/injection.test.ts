// Attack: names and comments from the file datastore (namespace, service
// account, service, port names) reach chain names and comments; a newline in
// one would inject iptables-restore commands (`-F INPUT`). Objects are
// validated as the API server would before conversion, and restore text that
// still holds a stray newline or an unsafe chain name is refused.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import { felixConfigFromEnv } from "../../../calc-graph/config/fields.js";
import { validateObject } from "../../../calc-graph/conversion/validate.js";
import { renderChain, renderTable } from "../../../iptables/render.js";
import { UnsafeRestoreTextError } from "../../../iptables/safe-text.js";
import { planTable } from "../../../iptables/table-syncer.js";
import { Actions, match, rule } from "../../../model/rule.js";
import { tableState } from "../../../model/tables.js";
import { ipsetsText, iptablesText } from "../../../src/dump/views.js";
import { namespace, pod, policy, update } from "../fixtures.js";

const INJECT = "a\n-F INPUT";

describe("validation as the API server does it", () => {
  const ok = (kind: Parameters<typeof validateObject>[0], obj: object) =>
    assert.equal(validateObject(kind, obj), undefined);
  const bad = (kind: Parameters<typeof validateObject>[0], obj: object, re: RegExp) =>
    assert.match(validateObject(kind, obj) ?? "(valid)", re);

  it("names: DNS-1123 labels for namespaces, subdomains for pods, DNS-1035 for services", () => {
    ok("Namespace", { metadata: { name: "kube-system" } });
    bad("Namespace", { metadata: { name: INJECT } }, /metadata.name .* DNS-1123 label/);
    bad("Namespace", { metadata: { name: "a.b" } }, /DNS-1123 label/);
    bad("Namespace", { metadata: { name: "x".repeat(64) } }, /DNS-1123 label/);
    ok("Pod", { metadata: { name: "web-1.a", namespace: "prod" } });
    bad("Pod", { metadata: { name: "Web", namespace: "prod" } }, /DNS-1123 subdomain/);
    bad("Pod", { metadata: { name: "web", namespace: "a b" } }, /metadata.namespace/);
    bad("Service", { metadata: { name: "1svc", namespace: "prod" } }, /DNS-1035/);
    bad("ServiceAccount", { metadata: { name: "sa\r", namespace: "prod" } }, /DNS-1123 subdomain/);
    bad(
      "Pod",
      { metadata: { name: "p", namespace: "prod" }, spec: { serviceAccountName: INJECT } },
      /serviceAccountName/,
    );
  });

  it("labels: key prefix and name syntax, value syntax", () => {
    ok("Pod", { metadata: { name: "p", labels: { "app.kubernetes.io/name": "web", empty: "" } } });
    bad("Pod", { metadata: { name: "p", labels: { [INJECT]: "x" } } }, /label key/);
    bad("Pod", { metadata: { name: "p", labels: { "Bad_Prefix/k": "x" } } }, /bad prefix/);
    bad("Pod", { metadata: { name: "p", labels: { k: "v'" } } }, /label value/);
    bad("Namespace", { metadata: { name: "n", labels: { k: "x".repeat(64) } } }, /label value/);
  });

  it("ports, port names, protocols, CIDRs and selector operators", () => {
    const podWith = (port: object) => ({ metadata: { name: "p" }, spec: { containers: [{ ports: [port] }] } });
    ok("Pod", podWith({ name: "http", containerPort: 80, protocol: "TCP" }));
    bad("Pod", podWith({ name: "http", containerPort: 0 }), /invalid port 0/);
    bad("Pod", podWith({ name: "http", containerPort: 65536 }), /invalid port 65536/);
    bad("Pod", podWith({ name: "h\nttp", containerPort: 80 }), /IANA service name/);
    bad("Pod", podWith({ name: "8080", containerPort: 80 }), /IANA service name/);
    bad("Pod", podWith({ containerPort: 80, protocol: "ICMP" }), /protocol "ICMP"/);
    bad("Node", { metadata: { name: "n" }, spec: { podCIDR: "10.0.0.0/33" } }, /podCIDR/);
    bad("Service", { metadata: { name: "s" }, spec: { ports: [{ name: INJECT, port: 80 }] } }, /spec.ports\[0\].name/);
    bad("EndpointSlice", { metadata: { name: "s" }, ports: [{ name: "A", port: 80 }] }, /ports\[0\].name/);
    bad(
      "NetworkPolicy",
      { metadata: { name: "np" }, spec: { podSelector: { matchExpressions: [{ key: "k", operator: "Bogus" }] } } },
      /unknown operator "Bogus"/,
    );
  });
});

describe("injection through a namespace name never reaches the restore text", () => {
  const attack = [
    namespace("prod"),
    namespace(INJECT),
    pod("prod", "web", { ip: "10.0.1.10" }),
    pod(INJECT, "evil", { ip: "10.0.1.66" }),
    update("ServiceAccount", "prod", `sa\n-F INPUT`, {
      kind: "ServiceAccount",
      metadata: { name: `sa\n-F INPUT`, namespace: "prod" },
    }),
    policy(INJECT, "np", { podSelector: {}, ingress: [{}] }),
    policy("prod", "np", {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { [INJECT]: "x" } } }] }],
    }),
  ];

  it("skips the invalid objects with a problem each and programs the rest", () => {
    const state = new CalcGraph({ nodeName: "node1" }).apply(attack);
    const text = iptablesText(state, 4) + ipsetsText(state, 4);
    assert.ok(!text.includes("-F INPUT"), text);
    assert.ok(Object.keys(state.problems).some((k) => k.startsWith("Namespace//a\n")));
    assert.ok(Object.keys(state.problems).some((k) => k.startsWith("Pod/a\n")));
    assert.ok(Object.keys(state.problems).some((k) => k.startsWith("ServiceAccount/prod/sa\n")));
    assert.match(state.problems["NetworkPolicy/prod/np"].message, /label key .*isolated/);
    // The valid pod is programmed; the invalid one is not an endpoint (its interface stays "Unknown").
    assert.deepEqual(Object.keys(state.endpoints), ["prod/web"]);
    // Every line of the restore text is one command.
    for (const line of iptablesText(state, 4).split("\n").filter(Boolean)) {
      assert.match(line, /^(\*[a-z]+|:[A-Za-z0-9_.:-]+ - \[0:0\]|-A [A-Za-z0-9_.:-]+ .+|COMMIT)$/);
    }
  });
});

describe("the renderer refuses unsafe restore text (defence in depth)", () => {
  it("a chain name that is not one safe token", () => {
    const t = tableState([renderChain({ name: "cali-pri-kns.a\n-F INPUT", rules: [] })]);
    assert.throws(() => renderTable("filter", t), UnsafeRestoreTextError);
    assert.throws(() => planTable("filter", t, undefined), UnsafeRestoreTextError);
    const spaced = tableState([renderChain({ name: "cali-x -F", rules: [] })]);
    assert.throws(() => planTable("filter", spaced, undefined), UnsafeRestoreTextError);
  });

  it("a comment holding a newline", () => {
    const c = renderChain({ name: "cali-x", rules: [rule(match().build(), Actions.drop, "svc\n-F INPUT")] });
    const t = tableState([c]);
    assert.throws(() => renderTable("filter", t), /refusing restore input: table filter: 5 lines where 4/);
    assert.throws(() => planTable("filter", t, undefined), UnsafeRestoreTextError);
  });

  it("safe text passes unchanged", () => {
    const c = renderChain({
      name: "cali-x",
      rules: [rule(match().build(), Actions.drop, "ns/svc:http has no endpoints")],
    });
    assert.match(renderTable("filter", tableState([c])), /--comment "ns\/svc:http has no endpoints" -j DROP/);
  });
});

describe("injection through Calico objects never reaches the restore text", () => {
  const calico = (kind: "Tier" | "GlobalNetworkPolicy" | "CalicoNetworkPolicy", name: string, spec: object, ns = "") =>
    update(kind, ns, name, { metadata: { name, ...(ns ? { namespace: ns } : {}) }, spec });
  const attack = [
    namespace("prod"),
    pod("prod", "web", { ip: "10.0.1.10", labels: { app: "web" } }),
    calico("Tier", INJECT, { order: 1 }),
    calico("Tier", "ok", { order: 2 }),
    calico("GlobalNetworkPolicy", INJECT, { selector: "all()", ingress: [{ action: "Deny" }] }),
    calico("GlobalNetworkPolicy", "tier-ref", { tier: INJECT, selector: "all()" }),
    // Selector text only ever names an IP set by its hash.
    calico("GlobalNetworkPolicy", "selector-text", {
      tier: "ok",
      selector: "all()",
      ingress: [{ action: "Allow", source: { selector: `app == '${INJECT}' || app == "x'y"` } }],
      egress: [{ action: "Log" }],
    }),
    calico("CalicoNetworkPolicy", "np", { selector: `app == '${INJECT}'` }, "prod"),
  ];

  it("invalid names and tier references are refused; what is valid renders one command per line", () => {
    const state = new CalcGraph({ nodeName: "node1" }).apply(attack);
    const text = iptablesText(state, 4) + ipsetsText(state, 4);
    assert.ok(!text.includes("-F INPUT"), text);
    assert.match(state.problems["Tier//a\n-F INPUT"].message, /DNS-1123 subdomain/);
    assert.match(state.problems["GlobalNetworkPolicy//a\n-F INPUT"].message, /DNS-1123 subdomain/);
    assert.match(state.problems["GlobalNetworkPolicy//tier-ref"].message, /spec.tier/);
    // The valid policy selecting web is in force (np's selector, valid, matches no label value a pod can have).
    assert.deepEqual(
      state.endpoints["prod/web"].ingressTiers.map((t) => t.name),
      ["ok"],
    );
    for (const line of iptablesText(state, 4).split("\n").filter(Boolean)) {
      assert.match(line, /^(\*[a-z]+|:[A-Za-z0-9_.:-]+ - \[0:0\]|-A [A-Za-z0-9_.:-]+ .+|COMMIT)$/);
    }
  });

  it("FELIX_LOGPREFIX is refused unless it is plain text that fits", () => {
    const graph = (prefix: string) =>
      new CalcGraph({ nodeName: "node1", networkEnv: felixConfigFromEnv({ FELIX_LOGPREFIX: prefix }) });
    assert.throws(() => graph('x" -j ACCEPT'), /FELIX_LOGPREFIX|logPrefix/);
    assert.throws(() => graph("x\n-F INPUT"), /FELIX_LOGPREFIX|logPrefix/);
    assert.throws(() => graph("x".repeat(28)), /FELIX_LOGPREFIX|logPrefix/);
    const state = graph("ok %t").apply(attack);
    assert.match(iptablesText(state, 4), /-j LOG --log-prefix "ok ok: " --log-level 5/);
  });
});
