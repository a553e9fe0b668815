// Why a cell of the matrix is blocked, from the engine itself: the calculation
// graph computes each node's DesiredState from the same manifests the agents
// read; felix-dump's policy explanation (src/dump/policies.ts) gives, per
// endpoint and direction, the ordered policies that select it. To tell which
// direction refused a connection, the selecting policies' rules (the graph's
// Calico model) are matched against the connection tier by tier, as the
// endpoint chain runs them: in each policy the first matching rule decides
// (Allow, Deny, or Pass to the next tier; Log goes on); a tier whose policies
// decide nothing drops at its end unless its default action is Pass.

import ipaddr from "ipaddr.js";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import {
  expandRule,
  type Policy,
  type PolicyRule,
  type Profile,
  type WorkloadEndpoint,
} from "../../calc-graph/model.js";
import { matches } from "../../calc-graph/selector/selector.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { type DirectionExplanation, explainPolicies } from "../dump/policies.js";
import type { PortSpec } from "../netns/topology.js";
import { portLabel } from "./matrix.js";

interface Engine {
  readonly states: Map<string, DesiredState>;
  readonly endpoints: Map<string, WorkloadEndpoint>;
  readonly profiles: Map<string, Profile>;
  readonly policies: Map<string, Policy>;
}

export class Explainer {
  private readonly e: Engine;

  /** One graph per node over the same updates (what each agent computes). */
  constructor(updates: readonly ResourceUpdate[], nodes: readonly string[]) {
    const e: Engine = { states: new Map(), endpoints: new Map(), profiles: new Map(), policies: new Map() };
    for (const node of nodes) {
      // Proxy mode as the agents run (agents.ts): Service problems are reported too.
      const g = new CalcGraph({ nodeName: node, proxyMode: "iptables" });
      if (e.states.size === 0) {
        // The model is the same on every node: collect it from the first graph.
        g.converter.endpoints$.subscribe(
          ({ key, ep }) => void (ep ? e.endpoints.set(key, ep) : e.endpoints.delete(key)),
        );
        g.converter.profiles$.subscribe(
          ({ id, profile }) => void (profile ? e.profiles.set(id, profile) : e.profiles.delete(id)),
        );
        g.converter.policies$.subscribe(
          ({ key, policy }) => void (policy ? e.policies.set(key, policy) : e.policies.delete(key)),
        );
      }
      e.states.set(node, g.apply(updates));
    }
    this.e = e;
  }

  /** Problems the graph reported for the input (invalid policies…), one line each. */
  problems(where: (file: string) => string = (f) => f): string[] {
    const first = [...this.e.states.values()][0];
    return Object.values(first?.problems ?? {}).map(
      (p) => `${p.source?.file ? `${where(p.source.file)}:${p.source.line}: ` : ""}${p.key}: ${p.message}`,
    );
  }

  /** "x/b ← x/a tcp/80: denied by knp.default.deny (ingress of x/b)" */
  explainBlocked(client: string, server: string, port: PortSpec): string {
    const head = `${server} ← ${client} ${portLabel(port)}`;
    return `${head}: ${this.denial(client, server, port) ?? "blocked, although the policies allow it (no server on that port, or not programmed yet?)"}`;
  }

  /** Which policies deny client → server on port ("denied by … (ingress of …)"); undefined when they allow it. */
  denial(client: string, server: string, port: PortSpec): string | undefined {
    const src = this.e.endpoints.get(client);
    const dst = this.e.endpoints.get(server);
    if (!src || !dst) return `blocked (no endpoint for ${src ? server : client})`;
    const egress = this.direction(src, "egress");
    const ingress = this.direction(dst, "ingress");
    const reasons: string[] = [];
    const conn: Conn = { src, dst, port };
    const egressDenial = egress && this.decide(egress, "egress", conn, `egress of ${client}`);
    const ingressDenial = ingress && this.decide(ingress, "ingress", conn, `ingress of ${server}`);
    if (egressDenial) reasons.push(egressDenial);
    if (ingressDenial) reasons.push(ingressDenial);
    return reasons.length ? reasons.join("; and ") : undefined;
  }

  private direction(ep: WorkloadEndpoint, dir: "ingress" | "egress"): DirectionExplanation | undefined {
    const state = this.e.states.get(ep.node);
    if (!state?.endpoints[ep.key]) return undefined;
    const d = explainPolicies(state, ep.key)[dir];
    return d.policies.length > 0 ? d : undefined;
  }

  /** Why the direction drops the connection, tier by tier; undefined when it lets it through. */
  private decide(d: DirectionExplanation, dir: "ingress" | "egress", c: Conn, what: string): string | undefined {
    for (const tier of d.tiers) {
      const inTier = d.policies.filter((p) => p.tier === tier.name);
      let passed = false;
      for (const p of inTier) {
        const verdict = this.policyVerdict(p.key, dir, c);
        if (verdict === "allow") return undefined;
        if (verdict === "deny") return `denied by ${p.name} (${what}: a Deny rule)`;
        if (verdict === "pass") {
          passed = true;
          break;
        }
      }
      if (passed || tier.defaultAction === "Pass") continue;
      return denied(
        inTier.map((p) => p.name),
        tier.name === "default" ? what : `${what}, tier ${tier.name}`,
      );
    }
    return undefined;
  }

  /** The action of the policy's first rule that matches the connection (Log rules go on). */
  private policyVerdict(key: string, dir: "ingress" | "egress", c: Conn): "allow" | "deny" | "pass" | undefined {
    const policy = this.e.policies.get(key);
    for (const r of (dir === "ingress" ? policy?.inbound : policy?.outbound) ?? []) {
      if (r.action !== "log" && expandRule(r).some((x) => this.ruleMatches(x, c))) return r.action;
    }
    return undefined;
  }

  private labels(ep: WorkloadEndpoint): Map<string, string> {
    const out = new Map<string, string>();
    for (const id of ep.profileIds)
      for (const [k, v] of Object.entries(this.e.profiles.get(id)?.labels ?? {})) out.set(k, v);
    for (const [k, v] of Object.entries(ep.labels)) out.set(k, v);
    return out;
  }

  private ruleMatches(r: PolicyRule, c: Conn): boolean {
    const srcIp = c.src.ipv4Nets[0]?.split("/")[0] ?? "";
    const dstIp = c.dst.ipv4Nets[0]?.split("/")[0] ?? "";
    if (r.protocol !== undefined && r.protocol !== c.port.protocol) return false;
    if (r.notProtocol === c.port.protocol || r.ipVersion === 6 || r.icmp) return false;
    // The client's port is an ephemeral one: a rule on source ports is taken not to match it.
    if (r.srcPorts) return false;
    if (r.srcSelector && !matches(r.srcSelector, this.labels(c.src))) return false;
    if (r.srcNotSelector && matches(r.srcNotSelector, this.labels(c.src))) return false;
    if (r.dstSelector && !matches(r.dstSelector, this.labels(c.dst))) return false;
    if (r.dstNotSelector && matches(r.dstNotSelector, this.labels(c.dst))) return false;
    if (r.dstNotPorts?.some((p) => c.port.port >= p.first && c.port.port <= p.last)) return false;
    const onNamed = (name: string) =>
      c.dst.ports.some((p) => p.name === name && p.protocol === c.port.protocol && p.port === c.port.port);
    if (r.dstNotNamedPorts?.some(onNamed)) return false;
    if (r.srcNets && !r.srcNets.some((n) => inCidr(srcIp, n))) return false;
    if (r.srcNotNets?.some((n) => inCidr(srcIp, n))) return false;
    if (r.dstNets && !r.dstNets.some((n) => inCidr(dstIp, n))) return false;
    if (r.dstNotNets?.some((n) => inCidr(dstIp, n))) return false;
    if (r.dstPorts?.length && !r.dstPorts.some((p) => c.port.port >= p.first && c.port.port <= p.last)) return false;
    if (r.dstNamedPort !== undefined) {
      if (r.namedPortSelector && !matches(r.namedPortSelector, this.labels(c.dst))) return false;
      if (!onNamed(r.dstNamedPort)) return false;
    }
    return true;
  }
}

interface Conn {
  readonly src: WorkloadEndpoint;
  readonly dst: WorkloadEndpoint;
  readonly port: PortSpec;
}

/** The end of a tier: the policies selecting the pod there decide together. */
function denied(names: readonly string[], what: string): string {
  if (names.length === 1) return `denied by ${names[0]} (${what})`;
  return `denied by ${names.slice(0, -1).join(", ")} and ${names.at(-1)} (${what}: none allows it)`;
}

function inCidr(ip: string, cidr: string): boolean {
  try {
    const a = ipaddr.parse(ip);
    const [net, len] = ipaddr.parseCIDR(cidr);
    return a.kind() === net.kind() && a.match(net, len);
  } catch {
    return false;
  }
}
