// IPVS support walked with the packet tracer: IPVS-forwarded service traffic
// to a local pod goes filter INPUT (before IPVS's LOCAL_IN hook) and then
// filter OUTPUT (IPVS sends it on from the host), never FORWARD. There is no
// IPVS in the test kernel, so the rendered rules are followed rule by rule:
// INPUT with the client's interface, then OUTPUT with the real server as
// destination and the mark INPUT left, as the kernel would carry it.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { computeDesiredState, type GraphConfig } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { MARK_ENDPOINT, MARK_NON_CALI_ENDPOINT } from "../../calc-graph/rules/marks.js";
import { type TraceOutcome, type TracePacket, Tracer, type TraceTable } from "../../iptables/tracer.js";
import { ipSetList } from "../../model/ipset-shards.js";
import { chainList } from "../../model/tables.js";
import { readManifestDir } from "../../src/datastore/manifests.js";
import { GOLDEN_DIR } from "../golden-cases.js";

const NODE_IP = "172.31.250.1";
const CLUSTER_IP = "10.96.0.10";
const WEB = "10.65.1.2";
const CLIENT = "10.65.1.3";
const OTHER = "10.65.1.4";

async function state(cfg: Partial<GraphConfig>): Promise<DesiredState> {
  const { updates } = await readManifestDir(join(GOLDEN_DIR, "ipvs-forward-check"));
  return computeDesiredState({ nodeName: "node1", endpointToHostAction: "DROP", ...cfg }, updates);
}

function tracer(s: DesiredState): Tracer {
  const t = s.iptables.ipv4.filter;
  const chains: Record<string, string[]> = {};
  for (const c of chainList(t)) chains[c.name] = c.rules.map((r) => r.text);
  for (const [name, h] of Object.entries(t.hooks)) chains[name] = [...h.insert, ...h.append].map((r) => r.text);
  const ipsets: Record<string, string[]> = {};
  for (const set of ipSetList(s.ipsets)) ipsets[set.name] = [...set.members];
  // IPVS binds service addresses to its dummy device: to the kernel they are local.
  return new Tracer({ chains } as TraceTable, { localAddresses: [NODE_IP, CLUSTER_IP], ipsets });
}

const ifaceOf = (s: DesiredState, ip: string) =>
  Object.values(s.endpoints).find((e) => e.ipv4Nets.includes(`${ip}/32`))!.iface;

function only(outcomes: TraceOutcome[]): TraceOutcome {
  assert.equal(outcomes.length, 1, JSON.stringify(outcomes, null, 1));
  return outcomes[0];
}

/** INPUT, then (unless INPUT ended it) OUTPUT towards the real server with the mark INPUT left. */
function viaIpvs(t: Tracer, pkt: TracePacket, realServer: { ip: string; iface: string }) {
  const input = only(t.trace("INPUT", pkt));
  if (input.verdict !== "continue") return { input };
  const output = only(
    t.trace("OUTPUT", { ...pkt, dst: realServer.ip, inIface: undefined, outIface: realServer.iface, mark: input.mark }),
  );
  return { input, output };
}

describe("IPVS support: INPUT → OUTPUT policy path (tracer)", () => {
  test("pod → ClusterIP with DefaultEndpointToHostAction DROP: not dropped as workload-to-host; the client's egress and the server's ingress policy run in OUTPUT", async () => {
    const s = await state({ proxyMode: "ipvs" });
    const t = tracer(s);
    const web = { ip: WEB, iface: ifaceOf(s, WEB) };
    const pkt: TracePacket = { src: CLIENT, dst: CLUSTER_IP, dport: 80, protocol: "tcp", inIface: ifaceOf(s, CLIENT) };
    const { input, output } = viaIpvs(t, pkt, web);
    assert.equal(input.verdict, "continue", input.path.join(" "));
    assert.ok(
      input.path.some((p) => p.startsWith("cali-forward-check#")),
      input.path.join(" "),
    );
    assert.notEqual((input.mark & MARK_ENDPOINT) >>> 0, 0, "INPUT leaves the client's endpoint mark");
    assert.notEqual((input.mark & MARK_ENDPOINT) >>> 0, MARK_NON_CALI_ENDPOINT);
    assert.ok(!input.path.some((p) => p.startsWith("cali-wl-to-host#")), "not policed as traffic to the host");
    assert.equal(output?.verdict, "accept", output?.path.join(" "));
    const chains = output!.path.map((p) => p.split("#")[0]);
    assert.ok(chains.includes(`cali-fw-${ifaceOf(s, CLIENT)}`), "the client's egress chain ran");
    assert.ok(chains.includes(`cali-tw-${web.iface}`), "the server's ingress chain ran");
    assert.equal((output!.mark & MARK_ENDPOINT) >>> 0, 0, "the endpoint mark is cleared before the verdict");
  });

  test("pod → ClusterIP of a pod whose ingress policy denies it: dropped in OUTPUT by the server's ingress policy", async () => {
    const s = await state({ proxyMode: "ipvs" });
    const t = tracer(s);
    const web = { ip: WEB, iface: ifaceOf(s, WEB) };
    const pkt: TracePacket = { src: OTHER, dst: CLUSTER_IP, dport: 80, protocol: "tcp", inIface: ifaceOf(s, OTHER) };
    const { input, output } = viaIpvs(t, pkt, web);
    assert.equal(input.verdict, "continue");
    assert.equal(output?.verdict, "drop", output?.path.join(" "));
    assert.ok(output!.path.some((p) => p.startsWith(`cali-tw-${web.iface}#`)));
  });

  test("without IPVS support the same OUTPUT packet is not policed (the hole this closes)", async () => {
    const s = await state({ proxyMode: "off" });
    const t = tracer(s);
    const marked = { src: OTHER, dst: WEB, dport: 80, protocol: "tcp" as const, outIface: ifaceOf(s, WEB) };
    const out = only(t.trace("OUTPUT", marked));
    assert.equal(out.verdict, "continue");
    assert.ok(out.comments.includes("Host to workload is not policed"));
  });

  test("external client → NodePort: the non-Calico endpoint mark; the server's ingress policy decides in OUTPUT", async () => {
    const s = await state({ proxyMode: "ipvs" });
    const t = tracer(s);
    const web = { ip: WEB, iface: ifaceOf(s, WEB) };
    const pkt: TracePacket = { src: "172.31.250.9", dst: NODE_IP, dport: 30080, protocol: "tcp", inIface: "eth0" };
    const { input, output } = viaIpvs(t, pkt, web);
    assert.equal(input.verdict, "continue");
    assert.ok(input.comments.includes("To kubernetes NodePort service"));
    assert.equal((input.mark & MARK_ENDPOINT) >>> 0, MARK_NON_CALI_ENDPOINT);
    assert.equal(output?.verdict, "drop", "web admits only the client pods");
  });

  test("pod → this host's own address (not a service): workload-to-host policy applies (DROP)", async () => {
    const s = await state({ proxyMode: "ipvs" });
    const t = tracer(s);
    const pkt: TracePacket = { src: CLIENT, dst: NODE_IP, dport: 22, protocol: "tcp", inIface: ifaceOf(s, CLIENT) };
    const out = only(t.trace("INPUT", pkt));
    assert.equal(out.verdict, "drop", out.path.join(" "));
    assert.ok(out.comments.includes("Configured DefaultEndpointToHostAction"));
  });

  test("a host process → pod (no endpoint mark) stays unpoliced, as in Felix", async () => {
    const s = await state({ proxyMode: "ipvs" });
    const out = only(
      tracer(s).trace("OUTPUT", { src: NODE_IP, dst: WEB, dport: 80, protocol: "tcp", outIface: ifaceOf(s, WEB) }),
    );
    assert.equal(out.verdict, "continue");
  });

  test("an unknown cali interface gets no endpoint mark: dropped in INPUT", async () => {
    const s = await state({ proxyMode: "ipvs" });
    const pkt: TracePacket = {
      src: "10.65.1.99",
      dst: CLUSTER_IP,
      dport: 80,
      protocol: "tcp",
      inIface: "cali00000000000",
    };
    const out = only(tracer(s).trace("INPUT", pkt));
    assert.equal(out.verdict, "drop");
    assert.ok(out.comments.includes("Unknown endpoint"));
  });

  test("kube-proxy's IPVS mode (kubeIPVSSupport with proxy mode off) gets the same path", async () => {
    const s = await state({ proxyMode: "off", kubeIPVSSupport: true });
    const t = tracer(s);
    const pkt: TracePacket = { src: OTHER, dst: CLUSTER_IP, dport: 80, protocol: "tcp", inIface: ifaceOf(s, OTHER) };
    const { output } = viaIpvs(t, pkt, { ip: WEB, iface: ifaceOf(s, WEB) });
    assert.equal(output?.verdict, "drop");
  });
});
