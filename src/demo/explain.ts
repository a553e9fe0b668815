// Why a cell of the matrix is blocked, from the tracer (trace/): the same
// manifests the agents read go through each node's graph, and the connection
// is traced through the rules those graphs render, client's node then
// server's. The rule that drops it names the policy (a Deny rule) or the end
// of a tier (the policies selecting the pod there, none of which allowed it);
// a connection the egress side drops is traced again at the server's node, so
// that an ingress denial is named too. Each explanation comes with the
// tracer's path: the chains and rules from the endpoint chain to the drop.

import type { DesiredState } from "../../calc-graph/desired-state.js";
import { IPTABLES_RULES } from "../../iptables/rule-render.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { clusterModel } from "../../trace/cluster-model.js";
import { ClusterTracer, type TracedStep, type TraceResult } from "../../trace/cluster-trace.js";
import type { PortSpec } from "../netns/topology.js";
import { portLabel } from "./matrix.js";

export class Explainer {
  private readonly tracer: ClusterTracer;
  private readonly first: DesiredState;

  /** One graph per node over the same updates (what each agent computes), run as a trace first reaches it. */
  constructor(updates: readonly ResourceUpdate[], nodes: readonly string[]) {
    // Proxy mode as the agents run (agents.ts): Service problems are reported too.
    const cfg = (node: string) => ({ nodeName: node, proxyMode: "iptables" as const });
    this.tracer = new ClusterTracer(clusterModel(updates, cfg, IPTABLES_RULES));
    this.first = this.tracer.cluster.node(nodes[0] ?? this.tracer.cluster.nodeNames[0] ?? "").state;
  }

  /** Problems the graph reported for the input (invalid policies…), one line each. */
  problems(where: (file: string) => string = (f) => f): string[] {
    return Object.values(this.first.problems).map(
      (p) => `${p.source?.file ? `${where(p.source.file)}:${p.source.line}: ` : ""}${p.key}: ${p.message}`,
    );
  }

  /** "x/b ← x/a tcp/80: denied by knp.default.deny (ingress of x/b)", then the tracer's path. */
  explainBlocked(client: string, server: string, port: PortSpec): string {
    const head = `${server} ← ${client} ${portLabel(port)}`;
    const d = this.denials(client, server, port);
    if (!d) return `${head}: blocked, although the policies allow it (no server on that port, or not programmed yet?)`;
    return `${head}: ${d.text}\n${d.paths.map((p) => `    path: ${p}`).join("\n")}`;
  }

  /** Which policies deny client → server on port ("denied by … (ingress of …)"); undefined when they allow it. */
  denial(client: string, server: string, port: PortSpec): string | undefined {
    return this.denials(client, server, port)?.text;
  }

  private denials(client: string, server: string, port: PortSpec): { text: string; paths: string[] } | undefined {
    const src = this.ipOf(client);
    const dst = this.ipOf(server);
    if (!src || !dst) return { text: `blocked (no endpoint for ${src ? server : client})`, paths: [] };
    const pkt = { src, dst, sport: 40000, dport: port.port, protocol: port.protocol };
    const first = this.tracer.trace(pkt);
    if (first.verdict === "allow") return undefined;
    const found = [first];
    // Denied on the way out: would the server's ingress have let it in?
    if (first.deniedBy && isEgress(first.deniedBy)) {
      const ingress = this.tracer.trace(pkt, { ingressOnly: true });
      if (ingress.verdict === "deny") found.push(ingress);
    }
    return { text: found.map((r) => this.reason(r)).join("; and "), paths: found.map(pathText) };
  }

  private ipOf(key: string): string | undefined {
    const ep = this.tracer.cluster.endpoints.get(key);
    return ep?.ipv4Nets[0]?.split("/")[0];
  }

  private reason(r: TraceResult): string {
    const o = r.deniedBy?.origin;
    if (!o) return "denied";
    if (o.kind === "policy") {
      const what = `${o.direction} of ${this.workloadOf(r, o.direction)}`;
      return `denied by ${o.namespace ? `${o.namespace}/` : ""}${o.name} (${what}: a Deny rule)`;
    }
    if (o.kind === "endpoint" && o.tier) {
      const what = `${o.direction} of ${o.workload}`;
      const names = this.tierPolicies(r.deniedBy!.node, o.workload, o.direction, o.tier);
      return denied(names, o.tier === "default" ? what : `${what}, tier ${o.tier}`);
    }
    if (o.kind === "endpoint") return `denied: no profile allows it (${o.direction} of ${o.workload})`;
    return `denied by ${r.deniedBy!.chain}: ${"why" in o ? o.why : o.kind}`;
  }

  private workloadOf(r: TraceResult, dir: "ingress" | "egress"): string {
    return (dir === "egress" ? r.client.workload : r.branches[0]?.server.workload) ?? "?";
  }

  /** The policies selecting the workload in that tier, as Calico names them. */
  private tierPolicies(node: string, workload: string, dir: "ingress" | "egress", tier: string): string[] {
    const view = this.tracer.cluster.node(node);
    const ep = view.state.endpoints[workload];
    const keys = (dir === "ingress" ? ep?.ingressTiers : ep?.egressTiers)?.find((t) => t.name === tier)?.policies ?? [];
    return keys.map((k) => {
      const p = view.policies.get(k);
      return p ? (p.id.namespace ? `${p.id.namespace}/${p.id.name}` : p.id.name) : k;
    });
  }
}

const isEgress = (s: TracedStep) =>
  (s.origin.kind === "policy" || s.origin.kind === "endpoint" || s.origin.kind === "profile") &&
  s.origin.direction === "egress";

/** The end of a tier: the policies selecting the pod there decide together. */
function denied(names: readonly string[], what: string): string {
  if (names.length === 1) return `denied by ${names[0]} (${what})`;
  return `denied by ${names.slice(0, -1).join(", ")} and ${names.at(-1)} (${what}: none allows it)`;
}

/** The endpoint chain that dropped it, its jumps to policies and their rules hit, the drop: `node2 cali-tw-c1#5 (jump cali-pi-_x) → cali-pi-_x#1 DROP`. */
function pathText(r: TraceResult): string {
  const last = r.path[r.path.length - 1];
  if (!last) return "";
  const onNode = r.path.filter((s) => s.node === last.node && s.table === "filter");
  const endpoint = [...onNode].reverse().find((s) => /^cali-[tf]w-/.test(s.chain))?.chain;
  const steps = onNode
    .slice(endpoint ? onNode.findIndex((s) => s.chain === endpoint) : 0)
    .filter((s) => s === last || (!s.action.startsWith("MARK clear") && /^cali-(p|[tf]w-)/.test(s.chain)));
  const step = (s: TracedStep) => `${s.chain}#${s.rule}${s.action.startsWith("jump ") ? ` (${s.action})` : ""}`;
  return `${last.node} ${steps.map(step).join(" → ")} ${last.action}`;
}
