// Property: a size bound on IP sets never widens access. Random Calico
// policies in two tiers (allow, deny, pass and log rules on selectors,
// notSelectors and named ports, both directions) over random pods and
// network sets are traced pod pair by pod pair with a bound so small that
// many sets are over it, and without one; every connection the bounded
// dataplane allows, the unbounded one allows too. The nftables rules trace
// the same as the iptables ones under the bound. The same holds for the bound
// on a policy chain's rules (FELIX_POLICYMAXRULES), which fails whole
// policies closed.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { IPTABLES_RULES } from "../../iptables/rule-render.js";
import { NFT_RULES } from "../../nftables/render.js";
import { parseManifestText } from "../../src/datastore/manifests.js";
import { clusterModel } from "../../trace/cluster-model.js";
import { ClusterTracer } from "../../trace/cluster-trace.js";
import { twoNodes } from "../trace/nodes.js";

const APPS = ["web", "db", "api"];
const NAMESPACES = ["ns-a", "ns-b"];
const selector = fc.constantFrom(...APPS.map((a) => `app == '${a}'`), "all()", "has(app)");
const calicoRule = fc.record(
  {
    action: fc.constantFrom("Allow", "Deny", "Pass", "Log"),
    selector,
    notSelector: fc.option(selector, { nil: undefined }),
    namedPort: fc.boolean(),
  },
  { requiredKeys: ["action", "selector"] },
);
type GenRule = typeof calicoRule extends fc.Arbitrary<infer T> ? T : never;
const gnp = (tier: string, i: number) =>
  fc
    .record({
      selector,
      ingress: fc.array(calicoRule, { maxLength: 3 }),
      egress: fc.array(calicoRule, { maxLength: 3 }),
    })
    .map((p) => {
      const peer = (r: GenRule, dir: "ingress" | "egress") => {
        const sel = { selector: r.selector, ...(r.notSelector ? { notSelector: r.notSelector } : {}) };
        const port = r.namedPort ? { ports: ["http"] } : {};
        // The selector is the peer; a named port is always the server's (the destination).
        return dir === "ingress" ? { source: sel, destination: port } : { destination: { ...sel, ...port } };
      };
      const rules = (rs: readonly GenRule[], dir: "ingress" | "egress") =>
        rs.map((r) => ({ action: r.action, ...(r.namedPort ? { protocol: "TCP" } : {}), ...peer(r, dir) }));
      return {
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: tier === "default" ? `p${i}` : `${tier}.p${i}` },
        spec: {
          tier,
          order: i,
          selector: p.selector,
          types: ["Ingress", "Egress"],
          ingress: rules(p.ingress, "ingress"),
          egress: rules(p.egress, "egress"),
        },
      };
    });
const cluster = fc.record({
  pods: fc.array(fc.record({ ns: fc.nat(1), node: fc.nat(1), app: fc.constantFrom(...APPS) }), {
    minLength: 3,
    maxLength: 5,
  }),
  /** Network sets labelled like pods: they swell the app's sets past the bound. */
  swell: fc.subarray(APPS),
  securityDefault: fc.constantFrom("Deny", "Pass"),
  policies: fc.tuple(gnp("security", 0), gnp("security", 1), gnp("default", 2)).chain((ps) => fc.subarray(ps)),
});

type Cluster = typeof cluster extends fc.Arbitrary<infer T> ? T : never;

function manifests(c: Cluster) {
  const docs: object[] = [
    {
      apiVersion: "projectcalico.org/v3",
      kind: "Tier",
      metadata: { name: "security" },
      spec: { order: 100, defaultAction: c.securityDefault },
    },
  ];
  for (const ns of NAMESPACES) docs.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  docs.push(...twoNodes());
  const pods = c.pods.map((p, i) => ({ ns: NAMESPACES[p.ns], name: `pod${i}`, ip: `10.70.${p.node + 1}.${10 + i}` }));
  c.pods.forEach((p, i) => {
    const ports = p.app === "web" ? [{ name: "http", containerPort: 80, protocol: "TCP" }] : [];
    docs.push({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: pods[i].name, namespace: pods[i].ns, labels: { app: p.app } },
      spec: { nodeName: `node${p.node + 1}`, containers: [{ name: "c", ports }] },
      status: { phase: "Running", podIP: pods[i].ip, podIPs: [{ ip: pods[i].ip }] },
    });
  });
  c.swell.forEach((app, i) => {
    docs.push({
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkSet",
      metadata: { name: `swell-${app}`, labels: { app } },
      spec: { nets: [`192.0.${i}.0/26`, `192.0.${i}.64/26`, `192.0.${i}.128/26`] },
    });
  });
  docs.push(...c.policies);
  return { docs, pods };
}

describe("hostile input: the IP set size and policy rule bounds never widen access", () => {
  it("on random tiered Calico policies, every pod pair on tcp/80: bounded allow ⇒ unbounded allow", () => {
    let cells = 0;
    let allowedBounded = 0;
    let narrowed = 0;
    let cutShort = 0;
    fc.assert(
      fc.property(cluster, (c) => {
        const { docs, pods } = manifests(c);
        const parsed = parseManifestText(docs.map((d) => stringify(d)).join("---\n"), "gen.yaml");
        assert.deepEqual(parsed.problems, []);
        const tracer = (bounds: { maxIpSetSize?: number; maxPolicyRules?: number }, rules = IPTABLES_RULES) =>
          new ClusterTracer(clusterModel(parsed.updates, (node) => ({ nodeName: node, ...bounds }), rules));
        const open = tracer({});
        const bounded = tracer({ maxIpSetSize: 2 });
        const boundedNft = tracer({ maxIpSetSize: 2 }, NFT_RULES);
        // A policy chain over 4 rules fails closed whole (FELIX_POLICYMAXRULES).
        const short = tracer({ maxPolicyRules: 4 });
        for (const cl of pods)
          for (const sv of pods) {
            if (cl === sv) continue;
            const pkt = { src: cl.ip, dst: sv.ip, sport: 40000, dport: 80, protocol: "tcp" as const };
            const want = open.trace(pkt).verdict;
            const got = bounded.trace(pkt).verdict;
            const at = `${cl.ns}/${cl.name} → ${sv.ns}/${sv.name}`;
            if (got === "allow") assert.equal(want, "allow", `the bound allowed ${at}, which the policies deny`);
            assert.equal(boundedNft.trace(pkt).verdict, got, `nftables agrees: ${at}`);
            const cut = short.trace(pkt).verdict;
            if (cut === "allow") assert.equal(want, "allow", `the rule bound allowed ${at}, which the policies deny`);
            if (cut !== want) cutShort++;
            cells++;
            if (got === "allow") allowedBounded++;
            if (got !== want) narrowed++;
          }
      }),
      { numRuns: 120, seed: 7 },
    );
    // Both outcomes exercised, and the bound did bite.
    assert.ok(allowedBounded > 30, `${allowedBounded} of ${cells} allowed under the bound`);
    assert.ok(narrowed > 10, `${narrowed} of ${cells} cells narrowed by the bound`);
    assert.ok(cutShort > 10, `${cutShort} of ${cells} cells narrowed by the rule bound`);
  });
});
