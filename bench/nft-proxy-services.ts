#!/usr/bin/env node
// The two service layouts of the nftables dataplane side by side, as root in a
// throwaway network namespace: `node dist/bench/nft-proxy-services.js
// [--preset medium] [--samples 10]`. For FELIX_PROXYMODE=iptables (kube-proxy's
// iptables chains in our table) and =nftables (its nftables layout: verdict
// maps), alternately: a Service with one endpoint added, then removed, on the
// synthetic cluster (bench/scale.ts); bytes written and time inside `nft -f`,
// both families, p50. The graph's own time is left out.

import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { CalcGraph } from "../calc-graph/calc-graph.js";
import type { DesiredState } from "../calc-graph/desired-state.js";
import type { ProxyMode } from "../calc-graph/services/model.js";
import type { KubeObject } from "../model/k8s.js";
import type { ResourceUpdate } from "../model/resource.js";
import { ExecNftBackend } from "../nftables/backend.js";
import { NFT_RULES } from "../nftables/render.js";
import { NftTableSyncer } from "../nftables/table-syncer.js";
import { generateCluster } from "./scale.js";
import { isPresetName, LOCAL_NODE } from "./scale-spec.js";

const { values: o } = parseArgs({
  options: { preset: { type: "string", default: "medium" }, samples: { type: "string", default: "10" } },
});
if (!isPresetName(o.preset)) throw new Error(`unknown preset ${o.preset}`);
const SAMPLES = Number(o.samples);

const NS = "bench-svc";
const update = (kind: "Service" | "EndpointSlice", name: string, value: object | false): ResourceUpdate => ({
  kind,
  namespace: NS,
  name,
  value: value ? (value as KubeObject) : null,
});
const service = (n: number, on: boolean) =>
  update(
    "Service",
    `s${n}`,
    on && {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `s${n}`, namespace: NS },
      spec: { clusterIP: `10.97.${n >> 8}.${n & 255}`, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    },
  );
const slice = (n: number, on: boolean) =>
  update(
    "EndpointSlice",
    `s${n}-1`,
    on && {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `s${n}-1`, namespace: NS, labels: { "kubernetes.io/service-name": `s${n}` } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: [{ addresses: [`10.200.${n >> 8}.${n & 255}`], conditions: { ready: true } }],
    },
  );

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function layout(mode: ProxyMode): Promise<string> {
  const ns = `fxnftsvc-${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", ns]);
  try {
    const g = new CalcGraph({ nodeName: LOCAL_NODE, proxyMode: mode, ruleRenderer: NFT_RULES });
    let s: DesiredState = g.apply(generateCluster(o.preset as Parameters<typeof generateCluster>[0]).updates);
    const syncers = (["ip", "ip6"] as const).map(
      (f) => new NftTableSyncer(new ExecNftBackend(f, ["ip", "netns", "exec", ns])),
    );
    const apply = async () => {
      let bytes = 0;
      let ms = 0;
      for (const [i, sy] of syncers.entries()) {
        const r = await sy.apply(i ? s.iptables.ipv6 : s.iptables.ipv4, s.ipsets, s.nftObjects);
        bytes += r.bytesWritten;
        ms += r.restoreMs;
      }
      return { bytes, ms };
    };
    await apply();
    const added = { bytes: [] as number[], ms: [] as number[] };
    const removed = { bytes: [] as number[], ms: [] as number[] };
    for (let n = 1; n <= SAMPLES; n++) {
      s = g.apply([service(n, true), slice(n, true)]);
      const a = await apply();
      added.bytes.push(a.bytes);
      added.ms.push(a.ms);
      s = g.apply([service(n, false), slice(n, false)]);
      const r = await apply();
      removed.bytes.push(r.bytes);
      removed.ms.push(r.ms);
    }
    const f = (x: typeof added) => `${p50(x.bytes)} B, nft ${p50(x.ms).toFixed(0)} ms`;
    return `${mode.padEnd(8)} service added: ${f(added)}; removed: ${f(removed)}`;
  } finally {
    spawnSync("ip", ["netns", "del", ns]);
  }
}

for (const mode of ["nftables", "iptables", "nftables", "iptables"] as const) console.log(await layout(mode));
