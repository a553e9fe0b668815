// Property tests of the tracer: random clusters of pods on two nodes and
// random Kubernetes NetworkPolicies (pod/namespace selectors, ipBlock with
// except, numeric and named ports, both directions); every pod pair on three
// ports is traced through the rules the graph renders and compared with
// K8sOracle, the NetworkPolicy semantics computed from the objects alone. The
// same trace over the nftables renderer's rules must give the same verdicts
// (one evaluator of the typed rules, whatever the dataplane).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { IPTABLES_RULES } from "../../iptables/rule-render.js";
import { NFT_RULES } from "../../nftables/render.js";
import { parseManifestText } from "../../src/datastore/manifests.js";
import { clusterModel } from "../../trace/cluster-model.js";
import { ClusterTracer } from "../../trace/cluster-trace.js";
import { K8sOracle, type K8sPolicy, type OraclePod, type Peer, type PolicyPort } from "./k8s-oracle.js";
import { twoNodes } from "./nodes.js";

const NAMESPACES = ["ns-a", "ns-b"];
const APPS = ["web", "db", "api"];
const PORTS = [
  { port: 80, protocol: "TCP" },
  { port: 81, protocol: "TCP" },
  { port: 53, protocol: "UDP" },
] as const;

const selector = fc
  .option(fc.constantFrom(...APPS), { nil: undefined })
  .map((app) => (app ? { matchLabels: { app } } : {}));
const peer: fc.Arbitrary<Peer> = fc.oneof(
  selector.map((s) => ({ podSelector: s })),
  fc.constantFrom("red", "blue").map((team) => ({ namespaceSelector: { matchLabels: { team } } })),
  fc.tuple(selector, fc.constantFrom("red", "blue")).map(([s, team]) => ({
    podSelector: s,
    namespaceSelector: { matchLabels: { team } },
  })),
  fc.constantFrom(
    { ipBlock: { cidr: "10.70.0.0/16", except: ["10.70.2.0/24"] } },
    { ipBlock: { cidr: "10.70.1.0/24" } },
    { ipBlock: { cidr: "10.70.2.11/32" } },
  ),
);
const policyPort: fc.Arbitrary<PolicyPort> = fc.oneof(
  fc.constantFrom(80, 81, 53).map((port) => ({ port })),
  fc.constantFrom({ port: 53, protocol: "UDP" as const }, { protocol: "UDP" as const }, { port: "http" }),
);
interface GenRule {
  readonly peers?: Peer[];
  readonly ports?: PolicyPort[];
}
const rule: fc.Arbitrary<GenRule> = fc.record(
  {
    peers: fc.option(fc.array(peer, { minLength: 1, maxLength: 2 }), { nil: undefined }),
    ports: fc.option(fc.array(policyPort, { minLength: 1, maxLength: 2 }), { nil: undefined }),
  },
  { requiredKeys: [] },
);
const policy = (i: number): fc.Arbitrary<K8sPolicy> =>
  fc
    .record({
      namespace: fc.constantFrom(...NAMESPACES),
      podSelector: selector,
      types: fc.constantFrom(["Ingress"], ["Egress"], ["Ingress", "Egress"]) as fc.Arbitrary<("Ingress" | "Egress")[]>,
      ingress: fc.array(rule, { maxLength: 2 }),
      egress: fc.array(rule, { maxLength: 2 }),
    })
    .map((p) => ({
      metadata: { name: `p${i}`, namespace: p.namespace },
      spec: {
        podSelector: p.podSelector,
        policyTypes: p.types,
        ingress: p.ingress.map((r) => ({
          ...(r.peers ? { from: r.peers } : {}),
          ...(r.ports ? { ports: r.ports } : {}),
        })),
        egress: p.egress.map((r) => ({ ...(r.peers ? { to: r.peers } : {}), ...(r.ports ? { ports: r.ports } : {}) })),
      },
    }));
const cluster = fc.record({
  teams: fc.tuple(fc.constantFrom("red", "blue"), fc.constantFrom("red", "blue")),
  pods: fc.array(fc.record({ ns: fc.nat(1), node: fc.nat(1), app: fc.constantFrom(...APPS) }), {
    minLength: 3,
    maxLength: 5,
  }),
  policies: fc.tuple(policy(0), policy(1), policy(2)).chain((ps) => fc.subarray(ps, { minLength: 1 })),
});

type Cluster = typeof cluster extends fc.Arbitrary<infer T> ? T : never;

function manifests(c: Cluster) {
  const nsLabels: Record<string, Record<string, string>> = {};
  const docs: object[] = [];
  NAMESPACES.forEach((ns, i) => {
    nsLabels[ns] = { team: c.teams[i] };
    docs.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: nsLabels[ns] } });
  });
  docs.push(...twoNodes());
  const pods: OraclePod[] = c.pods.map((p, i) => ({
    namespace: NAMESPACES[p.ns],
    name: `pod${i}`,
    ip: `10.70.${p.node + 1}.${10 + i}`,
    labels: { app: p.app },
    ports: p.app === "web" ? [{ name: "http", containerPort: 80, protocol: "TCP" as const }] : [],
  }));
  c.pods.forEach((p, i) => {
    const pod = pods[i];
    docs.push({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: pod.name, namespace: pod.namespace, labels: pod.labels },
      spec: { nodeName: `node${p.node + 1}`, containers: [{ name: "c", ports: pod.ports }] },
      status: { phase: "Running", podIP: pod.ip, podIPs: [{ ip: pod.ip }] },
    });
  });
  for (const p of c.policies) docs.push({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", ...p });
  return { docs, pods, nsLabels };
}

describe("trace property: verdicts equal Kubernetes NetworkPolicy semantics", () => {
  it("on random clusters and policies, for every pod pair and port, with both renderers", () => {
    let cells = 0;
    let denied = 0;
    fc.assert(
      fc.property(cluster, (c) => {
        const { docs, pods, nsLabels } = manifests(c);
        const parsed = parseManifestText(docs.map((d) => stringify(d)).join("---\n"), "gen.yaml");
        assert.deepEqual(parsed.problems, []);
        const cfg = (node: string) => ({ nodeName: node });
        const iptables = new ClusterTracer(clusterModel(parsed.updates, cfg, IPTABLES_RULES));
        const nft = new ClusterTracer(clusterModel(parsed.updates, cfg, NFT_RULES));
        const oracle = new K8sOracle(nsLabels, c.policies);
        for (const cl of pods)
          for (const sv of pods) {
            if (cl === sv) continue;
            for (const p of PORTS) {
              const pkt = {
                src: cl.ip,
                dst: sv.ip,
                sport: 40000,
                dport: p.port,
                protocol: p.protocol.toLowerCase() as "tcp" | "udp",
              };
              const want = oracle.allowed(cl, sv, p.port, p.protocol) ? "allow" : "deny";
              const got = iptables.trace(pkt).verdict;
              assert.equal(
                got,
                want,
                `${cl.namespace}/${cl.name} → ${sv.namespace}/${sv.name} ${p.protocol}/${p.port}`,
              );
              assert.equal(nft.trace(pkt).verdict, got, "the nftables rules trace the same");
              cells++;
              if (got === "deny") denied++;
            }
          }
      }),
      { numRuns: 80, seed: 19 },
    );
    assert.ok(denied > 50 && cells - denied > 50, `${cells} cells, ${denied} denied: both verdicts exercised`);
  });
});
