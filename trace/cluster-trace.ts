// Follows a new connection across the cluster through the rules felix-ts
// renders: on the client's node (nat PREROUTING or OUTPUT: service DNAT;
// filter FORWARD: the client's cali-fw- chain, its tiers, policies and
// profiles; nat POSTROUTING: masquerade), then on the server's node
// (FORWARD again: cali-tw-, the server's ingress). A client no pod owns is
// outside the cluster (its packet enters the server's node from the
// underlay); a client at a node's own address is that node's host.

import type { WorkloadEndpoint } from "../calc-graph/model.js";
import { MARK_MASQ_CHAIN } from "../calc-graph/services/names.js";
import { NFT_MARK_MASQ_CHAIN } from "../calc-graph/services/nft-names.js";

/** The chains whose jump marks a connection for masquerade (iptables and nftables proxy layouts). */
const MASQ_MARKERS = new Set([MARK_MASQ_CHAIN, NFT_MARK_MASQ_CHAIN]);

import { natStagesOf } from "../model/nat-shards.js";
import type { TableName } from "../model/tables.js";
import type { NodeView } from "./node-view.js";
import { type Origin, OriginMap } from "./origin.js";
import { inCidr, type NodeEnv, type PacketState, type TracePacket } from "./packet.js";
import { type Branch, type Step, type TableOutcome, walkTable } from "./walker.js";

/** The underlay interface packets to and from other nodes use (it never matches a workload prefix). */
export const UPLINK = "eth0";

export interface TracedStep {
  readonly node: string;
  readonly table: TableName;
  readonly chain: string;
  readonly rule: number;
  readonly action: string;
  readonly origin: Origin;
}

export interface Party {
  /** `<namespace>/<pod>` when a pod owns the address. */
  readonly workload?: string;
  readonly node?: string;
  /** The address is a node's own (host network). */
  readonly host?: boolean;
}

export interface TraceBranchResult {
  readonly probability: number;
  readonly conditions: readonly string[];
  readonly verdict: "allow" | "deny";
  readonly dnat?: { readonly ip: string; readonly port: number };
  readonly masquerade: boolean;
  readonly masqueradeWhy?: string;
  readonly server: Party;
  readonly path: readonly TracedStep[];
}

export interface TraceResult {
  readonly packet: TracePacket;
  readonly client: Party;
  readonly verdict: "allow" | "deny";
  /** Share of new connections allowed (below 1 when only some service endpoints are reachable). */
  readonly allowedShare: number;
  /** The branch the verdict is shown with (the first denied one, else the first). */
  readonly path: readonly TracedStep[];
  readonly deniedBy?: TracedStep;
  /** Every way the connection can go (service endpoint choices, affinity). */
  readonly branches: readonly TraceBranchResult[];
}

export interface ClusterModel {
  /** Node name → view (computed on first use). */
  node(name: string): NodeView;
  readonly nodeNames: readonly string[];
  /** Node name → its addresses. */
  readonly nodeAddresses: ReadonlyMap<string, readonly string[]>;
  readonly endpoints: ReadonlyMap<string, WorkloadEndpoint>;
}

interface Owner {
  readonly ep?: WorkloadEndpoint;
  readonly node?: string;
  readonly host?: boolean;
}

const bare = (net: string) => net.split("/")[0];

export class ClusterTracer {
  private readonly byIp = new Map<string, WorkloadEndpoint>();
  private readonly origins = new Map<string, OriginMap>();

  /** `only`: restrict the trace to this node (felix-dump's --node-name). */
  constructor(
    readonly cluster: ClusterModel,
    private readonly only?: string,
  ) {
    for (const ep of cluster.endpoints.values()) {
      for (const n of [...ep.ipv4Nets, ...ep.ipv6Nets]) this.byIp.set(bare(n), ep);
    }
  }

  ownerOf(ip: string): Owner {
    const ep = this.byIp.get(ip);
    if (ep) return { ep, node: ep.node };
    for (const [node, addrs] of this.cluster.nodeAddresses) if (addrs.includes(ip)) return { node, host: true };
    return {};
  }

  /** `ingressOnly`: the packet arrives at the server's node from the underlay (its ingress alone decides). */
  trace(p: TracePacket, o: { ingressOnly?: boolean } = {}): TraceResult {
    const v = p.dst.includes(":") ? 6 : 4;
    const client = this.ownerOf(p.src);
    const start: Branch = {
      pkt: { ...p, mark: 0, dnated: false },
      probability: 1,
      conditions: [],
      steps: [],
    };
    let entryNode = client.node;
    let from: "pod" | "host" | "uplink" = client.host ? "host" : client.ep ? "pod" : "uplink";
    if (this.only && entryNode !== this.only) {
      entryNode = this.only;
      from = "uplink";
    }
    if (o.ingressOnly) {
      entryNode = this.ownerOf(p.dst).node;
      from = "uplink";
    }
    if (!entryNode) {
      // From outside the cluster: straight to the server's node (a service address needs --node-name).
      entryNode = this.ownerOf(p.dst).node;
      from = "uplink";
    }
    const ends = entryNode ? this.pass(entryNode, start, from, v, client, 0) : [outside(start)];
    const branches = ends.map((e) => this.result(e, v));
    // Shares of new clients (a returning client's affinity branch repeats a share already counted).
    // (Summed before rounding: three thirds make one.)
    const fresh = ends.filter((e) => !e.b.conditions.some((c) => c.startsWith("the client has")));
    const allowedShare = fresh.filter((e) => !e.denied).reduce((a, e) => a + e.b.probability, 0);
    const denied = branches.find((b) => b.verdict === "deny");
    const shown = denied ?? branches[0];
    const verdict = denied ? "deny" : "allow";
    const deniedBy = denied ? denied.path[denied.path.length - 1] : undefined;
    return {
      packet: p,
      client: party(client),
      verdict,
      allowedShare: Math.round(allowedShare * 1e6) / 1e6,
      path: shown.path,
      ...(deniedBy ? { deniedBy } : {}),
      branches,
    };
  }

  /** One node's hooks; then on to the server's node when the packet leaves for it. */
  private pass(node: string, b: Branch, from: "pod" | "host" | "uplink", v: 4 | 6, client: Owner, hops: number): End[] {
    const view = this.cluster.node(node);
    const env = v === 4 ? view.env4 : view.env6;
    const inIface = from === "pod" ? client.ep?.iface : from === "uplink" ? UPLINK : undefined;
    const run = (table: TableName, chain: string, xs: Branch[]): TableOutcome[] =>
      xs.flatMap((x) => walkTable(node, table, view.chains(v, table), env, x, chain));
    // Sharded nat (nftables dataplane): each stage's base chain in priority order, until one DNATs.
    const natHooks = view.state.iptables[v === 4 ? "ipv4" : "ipv6"].nat.hooks;
    const runNat = (builtin: string, xs: Branch[]): TableOutcome[] => {
      const stages = natStagesOf(natHooks, builtin);
      const from = (i: number, x: Branch): TableOutcome[] =>
        run("nat", stages[i], [x]).flatMap((o) =>
          i + 1 < stages.length && o.verdict !== "drop" && o.verdict !== "reject" && !o.pkt.dnated
            ? from(i + 1, o)
            : [o],
        );
      return stages.length > 1 ? xs.flatMap((x) => from(0, x)) : run("nat", builtin, xs);
    };
    const ends: End[] = [];
    const goOn = (outs: TableOutcome[]): TableOutcome[] => {
      const live: TableOutcome[] = [];
      for (const o of outs) {
        if (o.verdict === "drop" || o.verdict === "reject")
          ends.push({ b: o, denied: true, server: this.ownerOf(o.pkt.dst) });
        else live.push(o);
      }
      return live;
    };
    const pre = from === "host" ? "OUTPUT" : "PREROUTING";
    let xs: Branch[] = [{ ...b, pkt: { ...b.pkt, inIface, outIface: undefined } }];
    xs = goOn(run("raw", pre, xs));
    xs = goOn(run("mangle", pre, xs));
    xs = goOn(runNat(pre, xs));
    const out: TableOutcome[] = [];
    for (const x of xs) {
      const server = this.ownerOf(x.pkt.dst);
      const local = server.ep?.node === node;
      const toHost = !server.ep && (env as NodeEnv).localAddresses.has(x.pkt.dst);
      const outIface = local ? server.ep!.iface : toHost ? undefined : UPLINK;
      const y = { ...x, pkt: { ...x.pkt, outIface } };
      if (toHost && from !== "host") {
        for (const o of goOn(run("filter", "INPUT", [y]))) ends.push({ b: o, denied: false, server });
        continue;
      }
      const filterChain = from === "host" ? "OUTPUT" : "FORWARD";
      out.push(...goOn(run("filter", filterChain, goOn(run("mangle", filterChain, [y])))));
    }
    for (const post of goOn(run("nat", "POSTROUTING", out))) {
      const pkt = masquerade(post, view.addresses, v);
      const server = this.ownerOf(pkt.dst);
      const next = { ...post, pkt: { ...pkt, mark: 0, dnated: false } };
      if (server.ep && server.ep.node !== node && hops === 0 && (!this.only || this.only === server.ep.node)) {
        ends.push(...this.pass(server.ep.node, next, "uplink", v, client, hops + 1));
      } else {
        ends.push({ b: next, denied: false, server });
      }
    }
    return ends;
  }

  private originOf(s: Step, v: 4 | 6): Origin {
    let m = this.origins.get(s.node);
    if (!m) {
      m = new OriginMap(this.cluster.node(s.node));
      this.origins.set(s.node, m);
    }
    return m.of(s, v);
  }

  private result(e: End, v: 4 | 6): TraceBranchResult {
    const path = e.b.steps.map((s) => ({
      node: s.node,
      table: s.table,
      chain: s.chain,
      rule: s.index,
      action: actionText(s),
      origin: this.originOf(s, v),
    }));
    const dnatStep = e.b.steps.find((s) => s.rule.action.kind === "dnat");
    const masqStep = e.b.steps.find((s) => s.rule.action.kind === "masquerade" || s.rule.action.kind === "snat");
    const marked = e.b.steps.find((s) => s.rule.action.kind === "jump" && MASQ_MARKERS.has(s.rule.action.chain));
    const why = marked ?? masqStep;
    return {
      probability: Math.round(e.b.probability * 1e6) / 1e6,
      conditions: e.b.conditions,
      verdict: e.denied ? "deny" : "allow",
      ...(dnatStep && dnatStep.rule.action.kind === "dnat"
        ? { dnat: { ip: dnatStep.rule.action.toAddress, port: dnatStep.rule.action.toPort } }
        : {}),
      masquerade: masqStep !== undefined,
      ...(masqStep && why
        ? { masqueradeWhy: `${why.node} ${why.table} ${why.chain}#${why.index}: ${whyText(this.originOf(why, v))}` }
        : {}),
      server: party(e.server),
      path,
    };
  }
}

interface End {
  readonly b: Branch;
  readonly denied: boolean;
  readonly server: Owner;
}

const outside = (b: Branch): End => ({ b, denied: false, server: {} });

function party(o: Owner): Party {
  return {
    ...(o.ep ? { workload: o.ep.key } : {}),
    ...(o.node ? { node: o.node } : {}),
    ...(o.host ? { host: true } : {}),
  };
}

/** MASQUERADE takes the node's address of the family; SNAT its --to-source. */
function masquerade(o: TableOutcome, addrs: readonly string[], v: 4 | 6): PacketState {
  const last = o.steps[o.steps.length - 1]?.rule.action;
  if (o.verdict === "snat" && last?.kind === "snat") return { ...o.pkt, src: last.toAddress };
  if (o.verdict !== "masquerade") return o.pkt;
  const own = addrs.find((a) => a.includes(":") === (v === 6) && !inCidr(a, v === 4 ? "127.0.0.0/8" : "::1/128"));
  return own ? { ...o.pkt, src: own } : o.pkt;
}

export function whyText(o: Origin): string {
  switch (o.kind) {
    case "policy":
      return `${o.policyKind} ${o.namespace ? `${o.namespace}/` : ""}${o.name} (tier ${o.tier}) ${o.direction} rule ${o.ruleIndex}: ${o.action}`;
    case "profile":
      return `profile ${o.profile} (${o.direction})`;
    case "endpoint":
      return `${o.direction} of ${o.workload}${o.tier ? `, tier ${o.tier}` : ""}: ${o.why}`;
    default:
      return o.why;
  }
}

export function actionText(s: Step): string {
  const a = s.rule.action;
  switch (a.kind) {
    case "verdict":
      return a.verdict;
    case "jump":
    case "goto":
      return `${a.kind} ${a.chain}`;
    case "setMark":
      return `MARK ${a.value === 0 ? "clear" : "set"} 0x${a.value.toString(16)}/0x${a.mask.toString(16)}`;
    case "reject":
      return "REJECT";
    case "masquerade":
      return "MASQUERADE";
    case "snat":
      return `SNAT ${a.toAddress}`;
    case "dnat":
      return `DNAT ${a.toAddress.includes(":") ? `[${a.toAddress}]` : a.toAddress}:${a.toPort}`;
    case "notrack":
      return "NOTRACK";
    case "log":
      return `LOG ${a.prefix}`;
    case "nflog":
      return `NFLOG group ${a.group} ${a.prefix}`;
    case "none":
      return "count";
    case "vmap":
      return `vmap @${a.map}`;
    case "randomGoto":
      return `goto one of ${a.chains.join(", ")}`;
    case "setUpdate":
      return `update @${a.set}`;
  }
}
