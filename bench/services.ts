// Services benchmark (iptables proxy mode): N services × E endpoints, full
// sync vs a one-service change — graph time, bytes written to
// iptables-restore, and (as root) the real restore in a throwaway network
// namespace.
//
//   node dist/bench/services.js [--services 1000] [--endpoints 10] [--samples 20] [--backend legacy|nft]
//
// Without root the restores go to the in-memory fake backend (bytes only).
// The one-service change replaces one endpoint of one service's
// EndpointSlice (and is reverted, untimed, before the next sample).

import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { CalcGraph } from "../calc-graph/calc-graph.js";
import type { IptablesBackend, IptablesMode } from "../iptables/backend.js";
import { ExecIptablesBackend } from "../iptables/backend.js";
import { FakeIptablesBackend } from "../iptables/fake-backend.js";
import { ExecIpsetBackend, FakeIpsetBackend } from "../iptables/ipset-backend.js";
import { IpsetSyncer } from "../iptables/ipset-syncer.js";
import { TableSyncer } from "../iptables/table-syncer.js";
import { ipSetList } from "../model/ipset-shards.js";
import type { ResourceUpdate } from "../model/resource.js";
import { chainList } from "../model/tables.js";

interface Args {
  services: number;
  endpoints: number;
  samples: number;
  backend: IptablesMode;
  child: boolean;
}

function parse(argv: string[]): Args {
  const a: Args = { services: 1000, endpoints: 10, samples: 20, backend: "legacy", child: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--child") a.child = true;
    else if (k === "--backend") a.backend = argv[++i] as IptablesMode;
    else if (k === "--services" || k === "--endpoints" || k === "--samples")
      a[k.slice(2) as "services"] = Number(argv[++i]);
  }
  return a;
}

const NODES = 10;

function slice(i: number, endpoints: number, shift = 0): ResourceUpdate {
  const eps = [];
  for (let e = 0; e < endpoints; e++) {
    const n = (i + e) % NODES;
    const host = ((i * endpoints + e + shift) % 60000) + 2;
    eps.push({
      addresses: [`10.${64 + n}.${host >> 8}.${host & 255}`],
      nodeName: `node-${n}`,
      conditions: { ready: true },
    });
  }
  return {
    kind: "EndpointSlice",
    namespace: `ns${i % 20}`,
    name: `svc${i}-abcde`,
    value: {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `svc${i}-abcde`,
        namespace: `ns${i % 20}`,
        labels: { "kubernetes.io/service-name": `svc${i}` },
      },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: eps,
    } as never,
  };
}

function cluster(a: Args): ResourceUpdate[] {
  const u: ResourceUpdate[] = [];
  for (let n = 0; n < NODES; n++) {
    u.push({
      kind: "Node",
      namespace: "",
      name: `node-${n}`,
      value: {
        metadata: { name: `node-${n}` },
        spec: { podCIDR: `10.${64 + n}.0.0/16` },
        status: { addresses: [{ type: "InternalIP", address: `172.20.0.${n + 1}` }] },
      } as never,
    });
  }
  for (let i = 0; i < a.services; i++) {
    const nodePort = i % 10 === 0;
    u.push({
      kind: "Service",
      namespace: `ns${i % 20}`,
      name: `svc${i}`,
      value: {
        metadata: { name: `svc${i}`, namespace: `ns${i % 20}` },
        spec: {
          type: nodePort ? "NodePort" : "ClusterIP",
          clusterIP: `10.96.${i >> 8}.${i & 255}`,
          ports: [{ name: "http", port: 80, targetPort: 8080, ...(nodePort ? { nodePort: 30000 + i } : {}) }],
        },
      } as never,
    });
    u.push(slice(i, a.endpoints));
  }
  return u;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

async function measure(a: Args, kernel: boolean): Promise<Record<string, number | string>> {
  const fakeSets = new FakeIpsetBackend();
  const backend: IptablesBackend = kernel
    ? new ExecIptablesBackend(4, a.backend)
    : new FakeIptablesBackend(4, "legacy", fakeSets);
  const tables = new TableSyncer(backend);
  const sets = new IpsetSyncer(kernel ? new ExecIpsetBackend() : fakeSets);
  const updates = cluster(a);

  let t0 = performance.now();
  const graph = new CalcGraph({ nodeName: "node-0", proxyMode: "iptables" });
  const full = graph.apply(updates);
  const fullGraphMs = performance.now() - t0;
  const natRules = chainList(full.iptables.ipv4.nat).reduce((n, c) => n + c.rules.length, 0);
  t0 = performance.now();
  await sets.addOrUpdate(ipSetList(full.ipsets).filter((s) => s.family === 4));
  const fullSync = await tables.apply(full.iptables.ipv4);
  const fullSyncMs = performance.now() - t0;

  const graphMs: number[] = [];
  const syncMs: number[] = [];
  const bytes: number[] = [];
  const restoreMs: number[] = [];
  for (let s = 0; s < a.samples; s++) {
    const i = (s * 37) % a.services;
    t0 = performance.now();
    const changed = graph.apply([slice(i, a.endpoints, 1)]);
    graphMs.push(performance.now() - t0);
    t0 = performance.now();
    const r = await tables.apply(changed.iptables.ipv4);
    syncMs.push(performance.now() - t0);
    bytes.push(r.bytesWritten);
    restoreMs.push(r.restoreMs);
    await tables.apply(graph.apply([slice(i, a.endpoints)]).iptables.ipv4);
  }
  return {
    where: kernel ? `kernel (iptables-${a.backend}, fresh netns)` : "in-memory fake backend (no root)",
    services: a.services,
    endpointsPerService: a.endpoints,
    natRules,
    "full: graph ms": round(fullGraphMs),
    "full: sync ms": round(fullSyncMs),
    "full: restore ms": round(fullSync.restoreMs),
    "full: bytes to iptables-restore": fullSync.bytesWritten,
    "one service: graph ms (median)": round(median(graphMs)),
    "one service: sync ms (median)": round(median(syncMs)),
    "one service: restore ms (median)": round(median(restoreMs)),
    "one service: bytes to iptables-restore (median)": median(bytes),
  };
}

const round = (x: number) => Math.round(x * 10) / 10;

const args = parse(process.argv.slice(2));
const root = typeof process.getuid === "function" && process.getuid() === 0;
if (args.child || !root) {
  const r = await measure(args, args.child);
  if (args.child) process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  else for (const [k, v] of Object.entries(r)) console.log(`${k.padEnd(48)} ${v}`);
} else {
  const ns = `fxbsvc-${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", ns]);
  try {
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync("ip", ["netns", "exec", ns, process.execPath, self, "--child", ...process.argv.slice(2)], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
    if (!line) throw new Error(`child failed: ${r.stderr}`);
    for (const [k, v] of Object.entries(JSON.parse(line.slice(7)))) console.log(`${k.padEnd(48)} ${v}`);
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
  }
}
