// The tracer through the iptables proxy mode's chains, over golden service
// cases: every endpoint of a probabilistic choice with its share and the
// masquerade decision, loadBalancerSourceRanges, a REJECT without endpoints,
// and the filter INPUT chains (a health check node port; the localnet
// firewall) when the packet is for the node itself.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { IPTABLES_RULES } from "../../iptables/rule-render.js";
import { clusterModel } from "../../trace/cluster-model.js";
import { ClusterTracer, type TraceBranchResult, type TracedStep, whyText } from "../../trace/cluster-trace.js";
import type { TracePacket } from "../../trace/packet.js";
import { loadGoldenCase } from "../golden-cases.js";

/** The case's cluster traced as node1's agent sees it (proxy mode iptables), entering node1. */
async function tracerOn(name: string): Promise<ClusterTracer> {
  const { updates } = await loadGoldenCase(name);
  const model = clusterModel(updates, (nodeName) => ({ nodeName, proxyMode: "iptables" }), IPTABLES_RULES);
  return new ClusterTracer(model, "node1");
}

const tcp = (src: string, dst: string, dport: number): TracePacket => ({
  src,
  dst,
  sport: 40000,
  dport,
  protocol: "tcp",
});
/** A branch as `<verdict> <dnat> <share> masq|-`. */
const branch = (b: TraceBranchResult) =>
  `${b.verdict} ${b.dnat ? `${b.dnat.ip}:${b.dnat.port}` : "-"} ${b.probability.toFixed(4)} ${b.masquerade ? "masq" : "-"}`;
const why = (s: TracedStep | undefined) => (s ? whyText(s.origin) : "");
const lastStep = (r: { path: readonly TracedStep[] }) => {
  const s = r.path[r.path.length - 1];
  return `${s.table} ${s.chain} ${s.action}`;
};

describe("trace: services (iptables proxy mode)", () => {
  test("every endpoint of a probabilistic choice, with its share and the masquerade decision", async () => {
    const t = await tracerOn("svc-nodeport");
    const pod = t.trace(tcp("10.65.1.3", "10.96.0.30", 80));
    assert.deepEqual(
      pod.branches.map(branch),
      ["allow 10.65.1.2:8080 0.3333 -", "allow 10.65.1.3:8080 0.3333 masq", "allow 10.65.2.2:8080 0.3333 -"],
      "pod → ClusterIP keeps its source, except the hairpin back to itself",
    );
    assert.equal(pod.allowedShare, 1);
    const outside = t.trace(tcp("192.0.2.9", "172.31.250.1", 30080));
    assert.ok(outside.branches.length > 0);
    assert.ok(
      outside.branches.every((b) => b.masquerade && /external destinations/.test(b.masqueradeWhy ?? "")),
      JSON.stringify(outside.branches.map((b) => b.masqueradeWhy)),
    );
    assert.ok(outside.path.some((s) => s.table === "nat" && s.chain === "cali-NODEPORTS"));
  });

  test("no endpoints: the filter chain's REJECT", async () => {
    const t = await tracerOn("svc-no-endpoints-reject");
    const r = t.trace(tcp("10.65.1.3", "10.96.0.100", 80));
    assert.equal(r.verdict, "deny");
    assert.equal(r.branches.length, 1);
    assert.match(lastStep(r), /^filter cali-SERVICES REJECT/);
    assert.match(why(r.deniedBy), /demo\/dead\S* has no endpoints/);
  });

  test("loadBalancerSourceRanges: LB traffic from elsewhere is dropped, from a listed range it is DNATed", async () => {
    const t = await tracerOn("svc-loadbalancer-source-ranges");
    const denied = t.trace(tcp("192.0.2.200", "192.0.2.50", 80));
    assert.equal(denied.verdict, "deny");
    assert.match(lastStep(denied), /^filter cali-PROXY-FIREWALL DROP/);
    assert.match(why(denied.deniedBy), /not accepted by cali-FW-/);
    const allowed = t.trace(tcp("203.0.113.9", "192.0.2.50", 80));
    assert.equal(allowed.verdict, "allow");
    assert.equal(allowed.branches.length, 2);
    assert.ok(allowed.branches.every((b) => b.dnat !== undefined));
  });

  test("the filter INPUT chains: a health check node port is accepted; 127.0.0.1 from elsewhere meets the localnet firewall", async () => {
    const t = await tracerOn("svc-etp-local-with-local-endpoints");
    const node = t.cluster.nodeAddresses.get("node1")![0];
    const hc = t.trace(tcp("203.0.113.5", node, 32000));
    assert.equal(hc.verdict, "allow");
    assert.ok(hc.path.some((s) => s.table === "filter" && s.chain === "cali-NODEPORTS" && s.action === "ACCEPT"));
    assert.match(why(hc.path.find((s) => s.chain === "cali-NODEPORTS")), /health check node port/);
    // A packet for 127.0.0.1 that came from outside (route_localnet lets it be routed) and was not DNATed.
    const lo = t.trace(tcp("203.0.113.5", "127.0.0.1", 22));
    assert.equal(lo.verdict, "deny");
    assert.match(why(lo.deniedBy), /block incoming localnet connections/);
    assert.equal(lo.deniedBy?.table, "filter");
    // The same port through the node port DNAT: not a localnet connection any more.
    const np = t.trace(tcp("203.0.113.5", "127.0.0.1", 30070));
    assert.ok(np.branches.length > 0);
    assert.ok(
      np.branches.every((b) => b.dnat !== undefined && !b.path.some((s) => /localnet/.test(why(s)))),
      JSON.stringify(np.branches.map((b) => [b.dnat, lastStep(b)])),
    );
  });

  test("IPv6: the shares of a dual-node service", async () => {
    const t = await tracerOn("svc-ipv6");
    const r = t.trace({ src: "fd00:65:2::9", dst: "fd00:96::10", sport: 40000, dport: 80, protocol: "tcp" });
    assert.deepEqual(
      r.branches
        .filter((b) => !b.conditions.some((c) => c.startsWith("the client")))
        .map((b) => `${b.dnat?.ip}:${b.dnat?.port}`),
      ["fd00:65:1::2:8080", "fd00:65:2::2:8080"],
    );
  });
});
