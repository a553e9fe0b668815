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

import { randomBytes } from "node:crypto";
import { claim, cleanupStale, listNetnsSync, ownerAlive, release, removeNetns, removeNetnsSync } from "./owners.js";
import { endpointKey, probeMatrix } from "./probe-matrix.js";
import { type Background, background, Prober } from "./prober.js";
import { hostSide, ipn, run, sysctls } from "./shell.js";
import {
  DEFAULT_SERVERS,
  type Endpoint,
  type ExternalOptions,
  type NodeOptions,
  type PodOptions,
  type PortSpec,
  type ProbeMatrix,
  type ProbeMatrixOptions,
  type ProbeResult,
  type Protocol,
  type ServerSpec,
  type TopoExternal,
  type TopologyOptions,
  type TopoNode,
  type TopoPod,
} from "./types.js";
import { wireExternal, wireNode, wirePod, wireSecondBridge, wireSwitch } from "./wiring.js";

export { renderTruthTable } from "./probe-matrix.js";
export type { Background } from "./prober.js";
export * from "./shell.js";
export * from "./types.js";

function cidrPrefixLength(cidr: string): number {
  const m = /\/(\d+)$/.exec(cidr);
  if (!m) throw new Error(`not a CIDR: ${cidr}`);
  return Number(m[1]);
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
      await wireSecondBridge(this.switchNs, gateway, len);
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
    await wireExternal(netns, this.switchNs, port, ip, gw);
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
    claim(prefix, t);
    await t.addNetns(t.switchNs);
    await wireSwitch(t);
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
    await wireNode(node, this.switchNs, second ? "br1" : "br0", this.gatewayV6, this.underlayPrefixLengthV6);
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
    await wirePod(pod);
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
    return probeMatrix((c, host, port, protocol, t) => this.probeDetail(c, host, port, protocol, t), servers, ports, o);
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
    await removeNetns([...this.namespaces].reverse());
    this.namespaces.length = 0;
    release(this.prefix, this, true);
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
    release(this.prefix, this, false);
  }

  /** Whether the process that created the topology with this prefix is still running. */
  static ownerAlive(prefix: string): boolean {
    return ownerAlive(prefix);
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
    release(this.prefix, this, true);
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
    return cleanupStale(pattern, o);
  }
}
