// Kernel test topology for end-to-end tests: network namespaces wired like a
// small Kubernetes cluster with Calico's CNI, real servers in every pod, and a
// probe that makes real connections from inside a pod's namespace.
//
//   const topo = await Topology.create();            // prefix e.g. "fx3a9c", switch netns "<prefix>-sw"
//   after(() => topo.destroy());                       // idempotent; also runs on process exit
//   const n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.0.0/24" });
//   const a = await topo.addPod(n1, { namespace: "x", name: "a", ip: "10.65.0.2", servers?: { tcp: [80, 81], udp: [80, 81] } });
//   await topo.probe(a, b, 80, "tcp", 1000)           // → boolean: b's reply arrived
//   await topo.probeDetail(a, "10.65.1.2", 81, "udp") // → { ok, reply: "x/b", error?, ms }
//   const m = await topo.probeMatrix(pods, [{ port: 80, protocol: "tcp" }]); m.text; m.get(a, b, 80, "tcp"); m.compare(fn)
//   await topo.waitForProbe(a, b, 80, "tcp", { expect: false, withinMs: 5000 }); await topo.waitForMatrix(pods, ports, fn)
//   await topo.removePod(a)                            // like CNI DEL: host veth and netns go
//   topo.spawn(n1, "node", ["dist/src/cli/felix.js", ...])   // tracked background process in a netns, killed by destroy()
//   await topo.wireLikeAgentForSelfTest()             // ONLY for topology.test.ts: does what the agent would
//   await Topology.cleanupStale("fx")                 // removes leftovers of killed runs (owner pid dead)
//   await Topology.cleanupStale("demo", { dryRun: true }); Topology.ownerAlive(prefix); await topo.detach()
//                                                      // felix demo: report leftovers; --keep lets go of the namespaces
//   await topo.addNode("node3", { underlayIp: "172.31.251.3", podCIDR: "…", secondSubnet: true }) // other subnet, routed by the switch
//   const ext = await topo.addExternal("ext", { ip: "203.0.113.10", tellPeer: true }) // a host outside the cluster
//   topo.probeDetail(pod, ext.ip, 80, "tcp")          // → reply "ext/ext 172.31.250.1": the source it saw
//
// Layout. Switch netns "<prefix>-sw" holds bridge br0 with the underlay gateway
// (default 172.31.250.254/24, fd00:fe11::fe/64). Node netns "<prefix>-n-<node>": lo up,
// eth0 (veth to the bridge) with the underlay IP (+ optional underlayIpv6), default
// route via the gateway — nothing else; routes to pods and to other nodes' pod CIDRs,
// forwarding, proxy ARP are the agent's job. Pod netns "<prefix>-p-<namespace>.<name>",
// wired as Calico's CNI does: host side "cali"+sha1("<namespace>.<name>")[0:11] in the
// node netns, MAC ee:ee:ee:ee:ee:ee, up, no address, no route, no proxy_arp; pod side
// eth0 with <ip>/32, routes "169.254.1.1 dev eth0 scope link" and "default via
// 169.254.1.1 dev eth0"; for IPv6 <ipv6>/128 and "default via fe80::ecee:eeff:feee:eeee
// dev eth0" (the host side's EUI-64 link-local). IPv6 deviation: accept_dad=0 on the
// host side and on node eth0, else IPv6 forwarding stalls for 1-2 s (see addNode).
// Probes may start from a pod or from a node (host network; its prober starts lazily).
//
// Servers. Every pod runs src/netns/pod-server.py (python3), which serves TCP and UDP
// (default ports 80 and 81; reply "<namespace>/<name>\n") and is also the prober:
// probes are sent to it on stdin and run as real client sockets in the pod netns.
// It exits by itself when the test process dies (stdin EOF).
//
// Module helpers: run, exec(ns, cmd, ...args), ipn(ns, ...args), ipBatch(ns, lines),
// sysctls(ns, {...}), hostSide(pod | namespace, name), netnsOf(pod | node), isRoot(),
// requirementsMissing() (reason string or undefined; use as test(..., { skip })),
// pythonPath(), iptablesCmd(), renderTruthTable().

import { type ChildProcess, execFileSync, spawn as spawnChild } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// ───────────────────────────── types ─────────────────────────────

/** sctp: an INIT answered by an INIT ACK on raw sockets (pod-server.py), IPv4. */
export type Protocol = "tcp" | "udp" | "sctp";

export interface PortSpec {
  readonly port: number;
  readonly protocol: Protocol;
}

export interface ServerSpec {
  readonly tcp?: readonly number[];
  readonly udp?: readonly number[];
  readonly sctp?: readonly number[];
}

export const DEFAULT_SERVERS: ServerSpec = { tcp: [80, 81], udp: [80, 81] };

export interface NodeOptions {
  /** Underlay address without prefix length, e.g. "172.31.250.1". */
  readonly underlayIp: string;
  /** Optional IPv6 underlay address (in TopologyOptions.underlayCIDRv6), e.g. "fd00:fe11::1". */
  readonly underlayIpv6?: string;
  /** This node's pod CIDR (informational: used by wireLikeAgentForSelfTest and by tests). */
  readonly podCIDR: string;
  readonly podCIDRv6?: string;
  /** Host-networked servers in the node netns (default: none). */
  readonly servers?: ServerSpec;
  /**
   * On the second underlay subnet (TopologyOptions.secondUnderlayCIDR, bridge br1 in
   * the switch netns), which the switch routes to and from the first one.
   */
  readonly secondSubnet?: boolean;
}

export interface ExternalOptions {
  /** Default "203.0.113.10", on its own /24 behind the switch (gateway .254). */
  readonly ip?: string;
  /** Default TCP and UDP on 80. */
  readonly servers?: ServerSpec;
  /** Servers answer "<ns>/<name> <peer address>" (default true). */
  readonly tellPeer?: boolean;
}

/** A host outside the cluster, routed by the switch; the switch has no route to pod CIDRs. */
export interface TopoExternal {
  readonly kind: "external";
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
}

export interface PodOptions {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly ipv6?: string;
  /** Default DEFAULT_SERVERS (TCP and UDP on 80 and 81); { } for none. */
  readonly servers?: ServerSpec;
  /** Free-form, for tests that build manifests from the topology. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface TopoNode {
  readonly kind: "node";
  readonly name: string;
  readonly netns: string;
  readonly underlayIp: string;
  readonly underlayIpv6?: string;
  readonly podCIDR: string;
  readonly podCIDRv6?: string;
  /** Interface of this node's underlay veth inside the switch netns. */
  readonly switchPort: string;
  /** Its underlay gateway and prefix length (the second subnet's for secondSubnet nodes). */
  readonly gateway?: string;
  readonly underlayPrefixLength?: number;
  readonly pods: TopoPod[];
}

export interface TopoPod {
  readonly kind: "pod";
  readonly namespace: string;
  readonly name: string;
  /** "<namespace>/<name>": also what its servers answer. */
  readonly key: string;
  readonly node: TopoNode;
  readonly netns: string;
  readonly ip: string;
  readonly ipv6?: string;
  /** Host-side veth in the node netns ("cali…"). */
  readonly hostIface: string;
  readonly servers: ServerSpec;
  readonly labels: Readonly<Record<string, string>>;
}

export type Endpoint = TopoPod | TopoNode;

export interface ProbeResult {
  readonly ok: boolean;
  /** The server's reply (its "<namespace>/<name>") when ok. */
  readonly reply?: string;
  /** Why not, e.g. "timeout", "ConnectionRefusedError:Connection_refused". */
  readonly error?: string;
  readonly ms: number;
}

export interface ProbeMatrixOptions {
  readonly concurrency?: number;
  readonly timeoutMs?: number;
  /** Clients (default: the pods). */
  readonly clients?: readonly Endpoint[];
  /** Probe the servers' IPv6 addresses. */
  readonly ipv6?: boolean;
}

export interface ProbeMatrix {
  readonly clients: readonly string[];
  readonly servers: readonly string[];
  readonly ports: readonly PortSpec[];
  /** results[client][server]["tcp/80"] */
  readonly results: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, ProbeResult>>>>>>;
  /** One truth table per port: header row of servers, one row per client, "." connected, "X" blocked. */
  readonly text: string;
  readonly ms: number;
  get(client: Endpoint | string, server: Endpoint | string, port: number, protocol: Protocol): boolean;
  /** Compare with expectations; text is the Kubernetes e2e-style comparison (". " agrees, "X" differs). */
  compare(expected: (client: string, server: string, port: PortSpec) => boolean): {
    ok: boolean;
    mismatches: string[];
    text: string;
  };
}

// ───────────────────────────── host helpers ─────────────────────────────

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface RunOptions {
  readonly input?: string;
  /** Resolve instead of throwing on a non-zero exit. */
  readonly allowFail?: boolean;
  readonly timeoutMs?: number;
}

/** Runs a program to completion (no shell). Throws with stderr on failure unless allowFail. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawnChild(cmd, args as string[], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const c = code ?? (signal ? 128 : 1);
      if (c !== 0 && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(" ")} → exit ${code ?? signal}: ${stderr.trim() || stdout.trim()}`));
      } else resolveRun({ stdout, stderr, code: c });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

/** `ip netns exec <ns> <cmd> <args…>`; resolves to stdout, throws on failure. */
export async function exec(ns: string, cmd: string, ...args: string[]): Promise<string> {
  return (await run("ip", ["netns", "exec", ns, cmd, ...args])).stdout;
}

/** `ip -n <ns> <args…>` (cheaper than `ip netns exec` for iproute2 itself). */
export async function ipn(ns: string, ...args: string[]): Promise<string> {
  return (await run("ip", ["-n", ns, ...args])).stdout;
}

/** Several `ip` commands in one process: `ip -n <ns> -batch -`. */
export async function ipBatch(ns: string, lines: readonly string[]): Promise<void> {
  if (lines.length) await run("ip", ["-n", ns, "-batch", "-"], { input: `${lines.join("\n")}\n` });
}

/** Sets sysctls in a netns; keys in dotted or slashed form ("net.ipv4.ip_forward", "net/ipv4/conf/x/rp_filter"). */
export async function sysctls(ns: string, values: Readonly<Record<string, string | number>>): Promise<void> {
  const args = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  if (args.length) await exec(ns, "sysctl", "-q", "-w", ...args);
}

/** Calico's host-side interface name for a pod: "cali" + first 11 hex chars of sha1("<namespace>.<name>"). */
export function hostSide(pod: { readonly namespace: string; readonly name: string } | string, name?: string): string {
  const [ns, n] = typeof pod === "string" ? [pod, name ?? ""] : [pod.namespace, pod.name];
  return `cali${createHash("sha1").update(`${ns}.${n}`).digest("hex").slice(0, 11)}`;
}

export function netnsOf(e: Endpoint): string {
  return e.netns;
}

export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/** The path of an executable on PATH or in the sbin directories (root's tools), if any. */
export function which(cmd: string, path = process.env.PATH ?? ""): string | undefined {
  const dirs = path.split(delimiter).concat(["/usr/sbin", "/sbin", "/usr/local/sbin"]);
  for (const d of dirs) {
    const p = join(d, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

let python: string | null | undefined;
/**
 * The real python3 binary (not a pyenv shim: those are shell scripts that cost
 * tens of ms per start). FELIX_E2E_PYTHON overrides. undefined if there is none.
 */
export function pythonPath(): string | undefined {
  if (python === undefined) {
    python = process.env.FELIX_E2E_PYTHON ?? null;
    if (!python && which("python3")) {
      try {
        python =
          execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim() || null;
      } catch {
        python = null;
      }
    }
  }
  return python ?? undefined;
}

/** The iptables binary matching the agent's backend: iptables-legacy when present. */
export function iptablesCmd(): string {
  return which("iptables-legacy") ? "iptables-legacy" : "iptables";
}

/** Why kernel end-to-end tests cannot run here, or undefined when they can. */
export function requirementsMissing(): string | undefined {
  if (process.platform !== "linux") return "kernel tests need Linux";
  if (!isRoot()) return "kernel tests need root (network namespaces, iptables)";
  const missing = ["ip", "ipset", "iptables-legacy-restore", "sysctl"].filter((c) => !which(c));
  if (!pythonPath()) missing.push("python3");
  if (missing.length) return `kernel tests need: ${missing.join(", ")}`;
  if (!serverScript()) return "src/netns/pod-server.py not found";
  return undefined;
}

function serverScript(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  // From source (src/netns/) or compiled (dist/src/netns/ → ../../../src/netns/).
  return [join(here, "pod-server.py"), resolve(here, "../../../src/netns/pod-server.py")].find((p) => existsSync(p));
}

// ───────────────────────────── background processes ─────────────────────────────

/** A tracked background process; output is kept (last 256 KiB) so its pipes never block. */
export interface Background {
  readonly child: ChildProcess;
  readonly netns: string;
  output(): string;
  /** Resolves with the exit code (or signal name) when it has exited. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const OUTPUT_KEEP = 256 * 1024;

function background(ns: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Background {
  const child = spawnChild("ip", ["netns", "exec", ns, cmd, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: env ?? process.env,
  });
  let out = "";
  const keep = (d: string) => {
    out += d;
    if (out.length > OUTPUT_KEEP * 2) out = out.slice(-OUTPUT_KEEP);
  };
  child.stdout!.setEncoding("utf8").on("data", keep);
  child.stderr!.setEncoding("utf8").on("data", keep);
  child.stdin!.on("error", () => {});
  const exited = new Promise<number | string>((r) => {
    child.on("close", (code, signal) => r(code ?? signal ?? -1));
    child.on("error", (e) => {
      keep(`spawn error: ${e.message}\n`);
      r(-1);
    });
  });
  return {
    child,
    netns: ns,
    output: () => out,
    exited,
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const t = setTimeout(() => child.kill("SIGKILL"), 1000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** The pod-server.py process of one pod (or node): servers plus prober. */
class Prober {
  private readonly pending = new Map<number, (line: string) => void>();
  private nextId = 1;
  private buf = "";
  private stderr = "";
  readonly proc: Background;
  readonly ready: Promise<void>;

  constructor(ns: string, key: string, servers: ServerSpec, extraArgs: readonly string[] = []) {
    const args = [serverScript()!, "--name", key, ...extraArgs];
    if (servers.tcp?.length) args.push("--tcp", servers.tcp.join(","));
    if (servers.udp?.length) args.push("--udp", servers.udp.join(","));
    if (servers.sctp?.length) args.push("--sctp", servers.sctp.join(","));
    this.proc = background(ns, pythonPath() ?? "python3", ["-u", ...args]);
    const child = this.proc.child;
    let onReady: () => void = () => {};
    let onFail: (e: Error) => void = () => {};
    this.ready = new Promise<void>((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    child.stderr!.on("data", (d: string) => {
      this.stderr = (this.stderr + d).slice(-4096);
    });
    child.stdout!.on("data", (d: string) => {
      this.buf += d;
      let i = this.buf.indexOf("\n");
      while (i >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line === "ready") onReady();
        else if (line.startsWith("result ")) {
          const id = Number(line.split(" ", 3)[1]);
          const cb = this.pending.get(id);
          this.pending.delete(id);
          cb?.(line);
        }
        i = this.buf.indexOf("\n");
      }
    });
    const timer = setTimeout(
      () => onFail(new Error(`pod-server for ${key} not ready after 10 s: ${this.stderr}`)),
      10_000,
    );
    this.ready.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
    void this.proc.exited.then((code) => {
      onFail(new Error(`pod-server for ${key} in ${ns} exited (${code}): ${this.stderr.trim()}`));
      for (const [id, cb] of this.pending) {
        this.pending.delete(id);
        cb(`result ${id} fail server-exited`);
      }
    });
  }

  async probe(host: string, port: number, protocol: Protocol, timeoutMs: number): Promise<ProbeResult> {
    await this.ready;
    const id = this.nextId++;
    const t0 = performance.now();
    const line = await new Promise<string>((res) => {
      const guard = setTimeout(() => {
        this.pending.delete(id);
        res(`result ${id} fail prober-did-not-answer`);
      }, timeoutMs + 5000);
      this.pending.set(id, (l) => {
        clearTimeout(guard);
        res(l);
      });
      this.proc.child.stdin!.write(`probe ${id} ${protocol} ${host} ${port} ${Math.max(1, Math.round(timeoutMs))}\n`);
    });
    const ms = Math.round(performance.now() - t0);
    const m = /^result \d+ (ok|fail) ?(.*)$/.exec(line);
    if (m?.[1] === "ok") return { ok: true, reply: m[2], ms };
    return { ok: false, error: m?.[2] || line, ms };
  }
}

// ───────────────────────────── stale-run bookkeeping ─────────────────────────────

const OWNER_DIR = "/run/felix-ts-e2e";
const live = new Set<Topology>();
let hooksInstalled = false;

/** "<pid> <start time>" of a process, or undefined when it is gone or a zombie. */
function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return f[0] === "Z" || f[0] === "X" ? undefined : `${pid} ${f[19]}`; // state; starttime (field 22)
  } catch {
    return undefined;
  }
}

function listNetnsSync(): string[] {
  try {
    return readdirSync("/run/netns");
  } catch {
    return [];
  }
}

/** Best-effort synchronous teardown, for process exit and signals. */
function removeNetnsSync(names: readonly string[]): void {
  for (const ns of names) {
    try {
      const pids = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      for (const p of pids.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(p), "SIGKILL");
        } catch {}
      }
    } catch {}
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    } catch {}
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", () => {
    for (const t of live) t.destroySync();
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      for (const t of live) t.destroySync();
      process.kill(process.pid, sig);
    });
  }
}

function cidrPrefixLength(cidr: string): number {
  const m = /\/(\d+)$/.exec(cidr);
  if (!m) throw new Error(`not a CIDR: ${cidr}`);
  return Number(m[1]);
}

function portKey(p: PortSpec): string {
  return `${p.protocol}/${p.port}`;
}

function endpointKey(e: Endpoint | string): string {
  return typeof e === "string" ? e : e.kind === "pod" ? e.key : `node/${e.name}`;
}

/**
 * Kubernetes e2e-style truth table: a header row of servers, one row per client,
 * tab-separated, with `.` where cell() is true and `X` where false.
 */
export function renderTruthTable(
  clients: readonly string[],
  servers: readonly string[],
  cell: (client: string, server: string) => boolean,
): string {
  const rows = [["-", ...servers].join("\t")];
  for (const c of clients) rows.push([c, ...servers.map((s) => (cell(c, s) ? "." : "X"))].join("\t"));
  return rows.join("\n");
}

/** Runs fns with at most `limit` in flight; results in order. */
async function pool<T>(limit: number, fns: readonly (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(fns.length);
  let next = 0;
  const worker = async () => {
    while (next < fns.length) {
      const i = next++;
      out[i] = await fns[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, fns.length)) }, worker));
  return out;
}

// ───────────────────────────── the topology ─────────────────────────────

export interface TopologyOptions {
  /** Name stem; the prefix is stem + 4 random hex digits. Default "fx". */
  readonly stem?: string;
  /** Underlay subnet; default "172.31.250.0/24". */
  readonly underlayCIDR?: string;
  /** Gateway address on the bridge in the switch netns; default "172.31.250.254". */
  readonly gateway?: string;
  /** IPv6 underlay subnet (used by nodes given underlayIpv6); default "fd00:fe11::/64". */
  readonly underlayCIDRv6?: string;
  /** IPv6 gateway on the bridge; default "fd00:fe11::fe". */
  readonly gatewayV6?: string;
  /** The second underlay subnet (nodes with secondSubnet); default "172.31.251.0/24", gateway .254. */
  readonly secondUnderlayCIDR?: string;
}

export class Topology {
  readonly prefix: string;
  readonly switchNs: string;
  readonly gateway: string;
  readonly gatewayV6: string;
  readonly underlayPrefixLength: number;
  readonly underlayPrefixLengthV6: number;
  readonly nodes = new Map<string, TopoNode>();
  readonly pods = new Map<string, TopoPod>();
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<Background>();
  private readonly probers = new Map<string, Prober>();
  private nodeCount = 0;
  private destroyed = false;
  private readonly secondCIDR: string;
  private routedSwitch?: Promise<void>;
  private externals = 0;

  private constructor(prefix: string, o: TopologyOptions) {
    this.prefix = prefix;
    this.switchNs = `${prefix}-sw`;
    this.gateway = o.gateway ?? "172.31.250.254";
    this.underlayPrefixLength = cidrPrefixLength(o.underlayCIDR ?? "172.31.250.0/24");
    this.gatewayV6 = o.gatewayV6 ?? "fd00:fe11::fe";
    this.underlayPrefixLengthV6 = cidrPrefixLength(o.underlayCIDRv6 ?? "fd00:fe11::/64");
    this.secondCIDR = o.secondUnderlayCIDR ?? "172.31.251.0/24";
  }

  /** The switch routes between its subnets (once). */
  private routing(): Promise<void> {
    this.routedSwitch ??= sysctls(this.switchNs, { "net.ipv4.ip_forward": 1 });
    return this.routedSwitch;
  }

  private secondBridge?: Promise<{ gateway: string; len: number }>;
  /** Bridge br1 with the second subnet's gateway (.254), created on first use. */
  private secondSubnet(): Promise<{ gateway: string; len: number }> {
    this.secondBridge ??= (async () => {
      const [net, lenText] = this.secondCIDR.split("/");
      const gateway = net.replace(/\.\d+$/, ".254");
      const len = Number(lenText);
      await ipBatch(this.switchNs, [
        "link add br1 type bridge forward_delay 0 stp_state 0 mcast_snooping 0",
        `addr add ${gateway}/${len} dev br1`,
        "link set br1 up",
      ]);
      await this.routing();
      return { gateway, len };
    })();
    return this.secondBridge;
  }

  /**
   * A host outside the cluster (netns "<prefix>-x-<name>") on its own /24 behind the
   * switch, serving TCP/UDP; it answers with the source address it saw.
   */
  async addExternal(name: string, o: ExternalOptions = {}): Promise<TopoExternal> {
    const ip = o.ip ?? "203.0.113.10";
    const gw = ip.replace(/\.\d+$/, ".254");
    const netns = `${this.prefix}-x-${name}`;
    const port = `ext${this.externals++}`;
    await this.addNetns(netns);
    await this.routing();
    await ipn(netns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", this.switchNs);
    await ipBatch(this.switchNs, [`addr add ${gw}/24 dev ${port}`, `link set ${port} up`]);
    await ipBatch(netns, [
      "link set lo up",
      `addr add ${ip}/24 dev eth0`,
      "link set eth0 up",
      `route add default via ${gw}`,
    ]);
    const ext: TopoExternal = { kind: "external", name, netns, ip };
    const servers = o.servers ?? { tcp: [80], udp: [80] };
    const p = new Prober(netns, `ext/${name}`, servers, o.tellPeer === false ? [] : ["--tell-peer"]);
    this.procs.add(p.proc);
    this.probers.set(netns, p);
    await p.ready;
    return ext;
  }

  /** Creates the switch netns with its bridge; the instance is destroyed on process exit if not before. */
  static async create(o: TopologyOptions = {}): Promise<Topology> {
    const stem = o.stem ?? "fx";
    if (!/^[a-z][a-z0-9]{0,5}$/.test(stem)) throw new Error(`bad stem ${stem}`);
    const existing = listNetnsSync();
    let prefix: string;
    do prefix = stem + randomBytes(2).toString("hex");
    while (existing.some((n) => n.startsWith(`${prefix}-`)));
    const t = new Topology(prefix, o);
    installHooks();
    live.add(t);
    try {
      mkdirSync(OWNER_DIR, { recursive: true });
      writeFileSync(join(OWNER_DIR, prefix), `${processIdentity(process.pid)}\n`);
    } catch {}
    await t.addNetns(t.switchNs);
    await ipBatch(t.switchNs, [
      "link set lo up",
      "link add br0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0",
      `addr add ${t.gateway}/${t.underlayPrefixLength} dev br0`,
      `addr add ${t.gatewayV6}/${t.underlayPrefixLengthV6} dev br0 nodad`,
      "link set br0 up",
    ]);
    return t;
  }

  private async addNetns(name: string): Promise<void> {
    if (this.destroyed) throw new Error(`topology ${this.prefix} is destroyed`);
    this.namespaces.push(name);
    await run("ip", ["netns", "add", name]);
  }

  /** A node: netns "<prefix>-n-<name>", eth0 on the underlay, default route via the gateway. */
  async addNode(name: string, o: NodeOptions): Promise<TopoNode> {
    if (this.nodes.has(name)) throw new Error(`node ${name} exists`);
    const netns = `${this.prefix}-n-${name}`;
    const switchPort = `node${this.nodeCount++}`;
    const second = o.secondSubnet ? await this.secondSubnet() : undefined;
    const gateway = second?.gateway ?? this.gateway;
    const prefixLength = second?.len ?? this.underlayPrefixLength;
    const node: TopoNode = {
      kind: "node",
      name,
      netns,
      underlayIp: o.underlayIp,
      underlayIpv6: o.underlayIpv6,
      podCIDR: o.podCIDR,
      podCIDRv6: o.podCIDRv6,
      switchPort,
      pods: [],
      gateway,
      underlayPrefixLength: prefixLength,
    };
    this.nodes.set(name, node);
    await this.addNetns(netns);
    // Created directly in the two namespaces: nothing ever appears in the root netns.
    await ipn(netns, "link", "add", "eth0", "type", "veth", "peer", "name", switchPort, "netns", this.switchNs);
    await ipBatch(this.switchNs, [
      `link set ${switchPort} master ${second ? "br1" : "br0"}`,
      `link set ${switchPort} up`,
    ]);
    if (o.underlayIpv6) {
      // No DAD on eth0's link-local address: until DAD ends (1-2 s) the kernel sends
      // no neighbour solicitation for *forwarded* IPv6 packets (ndisc_send_ns wants a
      // non-tentative link-local source), so pod-to-pod IPv6 across nodes would fail
      // for the first seconds although host-originated IPv6 traffic works.
      await sysctls(netns, { "net/ipv6/conf/eth0/accept_dad": 0 });
    }
    const lines = [
      "link set lo up",
      `addr add ${o.underlayIp}/${prefixLength} dev eth0`,
      "link set eth0 up",
      `route add default via ${gateway} dev eth0`,
    ];
    if (o.underlayIpv6) {
      lines.push(
        `addr add ${o.underlayIpv6}/${this.underlayPrefixLengthV6} dev eth0 nodad`,
        `route add ::/0 via ${this.gatewayV6} dev eth0`,
      );
    }
    await ipBatch(netns, lines);
    if (o.servers && (o.servers.tcp?.length || o.servers.udp?.length || o.servers.sctp?.length)) {
      await this.proberFor(node, o.servers);
    }
    return node;
  }

  /** A pod wired as Calico's CNI does (see the top of this file); its servers are listening when this resolves. */
  async addPod(nodeOrName: TopoNode | string, o: PodOptions): Promise<TopoPod> {
    const node = typeof nodeOrName === "string" ? this.nodes.get(nodeOrName) : nodeOrName;
    if (!node) throw new Error(`no node ${String(nodeOrName)}`);
    const key = `${o.namespace}/${o.name}`;
    if (this.pods.has(key)) throw new Error(`pod ${key} exists`);
    const pod: TopoPod = {
      kind: "pod",
      namespace: o.namespace,
      name: o.name,
      key,
      node,
      netns: `${this.prefix}-p-${o.namespace}.${o.name}`,
      ip: o.ip,
      ipv6: o.ipv6,
      hostIface: hostSide(o),
      servers: o.servers ?? DEFAULT_SERVERS,
      labels: o.labels ?? {},
    };
    this.pods.set(key, pod);
    node.pods.push(pod);
    await this.addNetns(pod.netns);
    const cali = pod.hostIface;
    await ipn(node.netns, "link", "add", cali, "type", "veth", "peer", "name", "eth0", "netns", pod.netns);
    if (o.ipv6) {
      // The pod's IPv6 default route goes via the host side's link-local address;
      // skip DAD so that it answers at once, and so that the node can solicit the
      // pod's address for forwarded packets right away (see addNode).
      await sysctls(node.netns, { [`net/ipv6/conf/${cali}/accept_dad`]: 0 });
    }
    await ipBatch(node.netns, [`link set ${cali} address ee:ee:ee:ee:ee:ee`, `link set ${cali} up`]);
    const lines = [
      "link set lo up",
      `addr add ${o.ip}/32 dev eth0`,
      "link set eth0 up",
      "route add 169.254.1.1 dev eth0 scope link",
      "route add default via 169.254.1.1 dev eth0",
    ];
    if (o.ipv6) {
      lines.push(`addr add ${o.ipv6}/128 dev eth0 nodad`, "route add ::/0 via fe80::ecee:eeff:feee:eeee dev eth0");
    }
    await ipBatch(pod.netns, lines);
    await this.proberFor(pod, pod.servers);
    return pod;
  }

  /** Deletes a pod (its server and netns; the host-side veth goes with it), as when Kubernetes deletes it. */
  async removePod(pod: TopoPod | string): Promise<void> {
    const p = typeof pod === "string" ? this.pods.get(pod) : pod;
    if (!p) return;
    const prober = this.probers.get(p.netns);
    this.probers.delete(p.netns);
    if (prober) {
      this.procs.delete(prober.proc);
      await prober.proc.kill();
    }
    // As CNI DEL does: delete the host-side veth (its peer goes with it) — deleting
    // the netns alone frees its interfaces only later, asynchronously.
    await ipn(p.node.netns, "link", "del", p.hostIface).catch(() => {});
    await run("ip", ["netns", "del", p.netns], { allowFail: true });
    const n = this.namespaces.indexOf(p.netns);
    if (n >= 0) this.namespaces.splice(n, 1);
    this.pods.delete(p.key);
    const i = p.node.pods.indexOf(p);
    if (i >= 0) p.node.pods.splice(i, 1);
  }

  /** The pod-server process of an endpoint; started on first use for nodes without servers. */
  private async proberFor(e: Endpoint, servers: ServerSpec = {}): Promise<Prober> {
    if (this.destroyed) throw new Error(`topology ${this.prefix} is destroyed`);
    let p = this.probers.get(e.netns);
    if (!p) {
      p = new Prober(e.netns, endpointKey(e), servers);
      this.procs.add(p.proc);
      this.probers.set(e.netns, p);
    }
    await p.ready;
    return p;
  }

  /** Starts a tracked background process in an endpoint's netns (or a netns by name); destroy() kills it. */
  spawn(where: Endpoint | string, cmd: string, args: readonly string[] = [], env?: NodeJS.ProcessEnv): Background {
    if (this.destroyed) throw new Error(`topology ${this.prefix} is destroyed`);
    const b = background(typeof where === "string" ? where : where.netns, cmd, args, env);
    this.procs.add(b);
    void b.exited.then(() => this.procs.delete(b));
    return b;
  }

  /** A real connection from `from`'s netns to `to` (a pod/node or an address); true iff the server's reply arrived. */
  async probe(
    from: Endpoint | TopoExternal,
    to: Endpoint | string,
    port: number,
    protocol: Protocol,
    timeoutMs = 1000,
  ): Promise<boolean> {
    return (await this.probeDetail(from, to, port, protocol, timeoutMs)).ok;
  }

  async probeDetail(
    from: Endpoint | TopoExternal,
    to: Endpoint | string,
    port: number,
    protocol: Protocol,
    timeoutMs = 1000,
  ): Promise<ProbeResult> {
    const host = typeof to === "string" ? to : to.kind === "pod" ? to.ip : to.underlayIp;
    if (!host) throw new Error("probe: no destination address");
    // An external host's prober starts with it (addExternal).
    const prober = from.kind === "external" ? this.probers.get(from.netns)! : await this.proberFor(from);
    return prober.probe(host, port, protocol, timeoutMs);
  }

  /** Probes every (client, server, port) combination, `concurrency` (default 8) at a time. */
  async probeMatrix(
    servers: readonly TopoPod[],
    ports: readonly PortSpec[] = [
      { port: 80, protocol: "tcp" },
      { port: 80, protocol: "udp" },
    ],
    o: ProbeMatrixOptions = {},
  ): Promise<ProbeMatrix> {
    const clients = o.clients ?? servers;
    const timeoutMs = o.timeoutMs ?? 1000;
    const t0 = performance.now();
    const results: Record<string, Record<string, Record<string, ProbeResult>>> = {};
    const jobs: (() => Promise<void>)[] = [];
    for (const c of clients) {
      const ck = endpointKey(c);
      results[ck] = {};
      for (const s of servers) {
        const row: Record<string, ProbeResult> = {};
        results[ck]![s.key] = row;
        const dst = o.ipv6 ? s.ipv6 : s.ip;
        for (const p of ports) {
          jobs.push(async () => {
            row[portKey(p)] = dst
              ? await this.probeDetail(c, dst, p.port, p.protocol, timeoutMs)
              : { ok: false, error: "no-ipv6-address", ms: 0 };
          });
        }
      }
    }
    await pool(o.concurrency ?? 8, jobs);
    const ms = Math.round(performance.now() - t0);
    const clientKeys = clients.map(endpointKey);
    const serverKeys = servers.map((s) => s.key);
    const got = (c: string, s: string, p: PortSpec) => results[c]?.[s]?.[portKey(p)]?.ok ?? false;
    const tables = (cell: (c: string, s: string, p: PortSpec) => boolean, title: string) =>
      ports
        .map((p) => `${title} ${portKey(p)}:\n${renderTruthTable(clientKeys, serverKeys, (c, s) => cell(c, s, p))}`)
        .join("\n\n");
    return {
      clients: clientKeys,
      servers: serverKeys,
      ports,
      results,
      ms,
      text: tables(got, "reachability"),
      get: (c, s, port, protocol) => got(endpointKey(c), endpointKey(s), { port, protocol }),
      compare(expected) {
        const mismatches: string[] = [];
        for (const c of clientKeys)
          for (const s of serverKeys)
            for (const p of ports) {
              const want = expected(c, s, p);
              const r = results[c]![s]![portKey(p)]!;
              if (r.ok !== want)
                mismatches.push(
                  `${c} → ${s} ${portKey(p)}: expected ${want ? "connected" : "blocked"}, got ${
                    r.ok ? `connected (${r.reply})` : `blocked (${r.error})`
                  }`,
                );
            }
        return {
          ok: mismatches.length === 0,
          mismatches,
          text: `${tables((c, s, p) => got(c, s, p) === expected(c, s, p), "comparison (. = as expected, X = differs)")}\n\n${tables(got, "actual")}`,
        };
      },
    };
  }

  /**
   * Probes until the outcome is `expect` (default true) or `withinMs` (default 5000)
   * has passed; returns the last result. For agent tests: programming takes a moment, and
   * a pod that talked before the agent was ready keeps an INCOMPLETE neighbour entry
   * for 169.254.1.1 until the next ARP retransmit (up to 1 s).
   */
  async waitForProbe(
    from: Endpoint,
    to: Endpoint | string,
    port: number,
    protocol: Protocol,
    o: { expect?: boolean; withinMs?: number; timeoutMs?: number; intervalMs?: number } = {},
  ): Promise<ProbeResult> {
    const expect = o.expect ?? true;
    const deadline = performance.now() + (o.withinMs ?? 5000);
    for (;;) {
      const r = await this.probeDetail(from, to, port, protocol, o.timeoutMs ?? 500);
      if (r.ok === expect || performance.now() >= deadline) return r;
      await new Promise((res) => setTimeout(res, o.intervalMs ?? 100));
    }
  }

  /** probeMatrix repeated until it matches `expected` or `withinMs` (default 10000) has passed; returns the last. */
  async waitForMatrix(
    servers: readonly TopoPod[],
    ports: readonly PortSpec[],
    expected: (client: string, server: string, port: PortSpec) => boolean,
    o: ProbeMatrixOptions & { withinMs?: number } = {},
  ): Promise<ProbeMatrix> {
    const deadline = performance.now() + (o.withinMs ?? 10_000);
    for (;;) {
      const m = await this.probeMatrix(servers, ports, o);
      if (m.compare(expected).ok || performance.now() >= deadline) return m;
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  /**
   * FOR topology.test.ts ONLY — does what the agent under test is responsible for, so
   * the topology can be checked on its own: ip_forward=1; per pod veth forwarding,
   * proxy_arp=1, proxy_delay=0, rp_filter=1 and "<ip> dev caliX scope link" (+ IPv6
   * equivalents); per other node "<podCIDR> via <underlayIp>". Never use it in agent tests.
   */
  async wireLikeAgentForSelfTest(only?: readonly TopoNode[]): Promise<void> {
    const nodes = only ?? [...this.nodes.values()];
    await Promise.all(
      nodes.map(async (n) => {
        const values: Record<string, number> = { "net.ipv4.ip_forward": 1 };
        const lines: string[] = [];
        const anyV6 = n.pods.some((p) => p.ipv6);
        if (anyV6) values["net.ipv6.conf.all.forwarding"] = 1;
        for (const p of n.pods) {
          const i = p.hostIface;
          Object.assign(values, {
            [`net/ipv4/conf/${i}/forwarding`]: 1,
            [`net/ipv4/conf/${i}/proxy_arp`]: 1,
            [`net/ipv4/neigh/${i}/proxy_delay`]: 0,
            [`net/ipv4/conf/${i}/rp_filter`]: 1,
          });
          lines.push(`route replace ${p.ip} dev ${i} scope link proto 80`);
          if (p.ipv6) {
            values[`net/ipv6/conf/${i}/proxy_ndp`] = 1;
            lines.push(`route replace ${p.ipv6} dev ${i} proto 80`);
          }
        }
        for (const other of this.nodes.values()) {
          if (other === n) continue;
          lines.push(`route replace ${other.podCIDR} via ${other.underlayIp} dev eth0 proto 80`);
          if (anyV6 && other.podCIDRv6 && other.underlayIpv6)
            lines.push(`route replace ${other.podCIDRv6} via ${other.underlayIpv6} dev eth0 proto 80`);
        }
        await sysctls(n.netns, values);
        await ipBatch(n.netns, lines);
      }),
    );
  }

  /** The namespaces this topology created, in creation order. */
  netnsNames(): readonly string[] {
    return [...this.namespaces];
  }

  /** Kills every process it started (and any other process in its namespaces) and deletes the namespaces. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.procs].map((p) => p.kill()));
    this.procs.clear();
    this.probers.clear();
    // Pods first, then nodes, then the switch: each deletion takes its veths along.
    const order = [...this.namespaces].reverse();
    for (const ns of order) {
      const pids = await run("ip", ["netns", "pids", ns], { allowFail: true });
      for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(p), "SIGKILL");
        } catch {}
      }
    }
    await Promise.all(order.map((ns) => run("ip", ["netns", "del", ns], { allowFail: true })));
    this.namespaces.length = 0;
    live.delete(this);
    rmSync(join(OWNER_DIR, this.prefix), { force: true });
  }

  /**
   * Lets go of the namespaces (felix demo --keep): stops the tracked processes and
   * leaves the namespaces for inspection; once this process is gone they count as
   * stale for cleanupStale().
   */
  async detach(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.procs].map((p) => p.kill()));
    this.procs.clear();
    this.probers.clear();
    live.delete(this);
  }

  /** Whether the process that created the topology with this prefix is still running. */
  static ownerAlive(prefix: string): boolean {
    let owner = "";
    try {
      owner = readFileSync(join(OWNER_DIR, prefix), "utf8").trim();
    } catch {}
    return owner !== "" && processIdentity(Number(owner.split(" ")[0])) === owner;
  }

  /** Synchronous last-resort variant of destroy() (process exit, signals). */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) {
      try {
        p.child.kill("SIGKILL");
      } catch {}
    }
    removeNetnsSync([...this.namespaces].reverse());
    live.delete(this);
    rmSync(join(OWNER_DIR, this.prefix), { force: true });
  }

  /**
   * Removes leftovers of killed runs: namespaces named "<stem><4 hex>-…" (or exactly
   * "<prefix>-…" when given a full prefix, or matching a RegExp) whose owning
   * process (recorded in /run/felix-ts-e2e/<prefix>) is gone or a zombie — or all of
   * them with { force: true }. Kills the processes still
   * inside them. Returns the deleted namespace names.
   */
  static async cleanupStale(
    pattern: string | RegExp = "fx",
    o: { force?: boolean; dryRun?: boolean } = {},
  ): Promise<string[]> {
    let re: RegExp;
    if (typeof pattern !== "string") re = pattern;
    else {
      const p = pattern.replace(/[^a-z0-9]/gi, "");
      // A stem ("fx") matches "fx<4 hex>-…"; a full prefix ("fx3a9c") also matches itself.
      re = new RegExp(/[0-9a-f]{4}$/.test(p) && p.length > 4 ? `^${p}(?:[0-9a-f]{4})?-` : `^${p}[0-9a-f]{4}-`);
    }
    const owners = new Map<string, boolean>(); // prefix → owner alive
    const doomed: string[] = [];
    for (const ns of listNetnsSync()) {
      if (!re.test(ns)) continue;
      const prefix = ns.slice(0, ns.indexOf("-"));
      let alive = owners.get(prefix);
      if (alive === undefined) {
        // The owner file holds "<pid> <start time>": a pid reused since, or a zombie
        // owner (nobody reaps orphans in some containers), counts as dead.
        let owner = "";
        try {
          owner = readFileSync(join(OWNER_DIR, prefix), "utf8").trim();
        } catch {}
        alive = !o.force && owner !== "" && processIdentity(Number(owner.split(" ")[0])) === owner;
        owners.set(prefix, alive);
      }
      if (!alive) doomed.push(ns);
    }
    // Pods and nodes before switches, so veth peers vanish with their first end.
    doomed.sort((a, b) => Number(a.endsWith("-sw")) - Number(b.endsWith("-sw")));
    if (o.dryRun) return doomed; // only report (felix demo's leftover check)
    removeNetnsSync(doomed);
    for (const [prefix, alive] of owners) if (!alive) rmSync(join(OWNER_DIR, prefix), { force: true });
    return doomed;
  }
}
