// `felix-dump policies <ns>/<pod>`: which policies apply to a local workload,
// in order, per direction, and what happens when none does.

import { type DesiredState, type EndpointState, familyKey } from "../../calc-graph/desired-state.js";
import { DEFAULT_FILTER_ACTIONS, filterActionsOf } from "../../calc-graph/rules/filter-actions.js";
import { endpointChainName, policyChainName, profileChainName } from "../../calc-graph/rules/names.js";
import { chainList } from "../../iptables/tables.js";
import { Tracer } from "../../iptables/tracer.js";

export interface PolicyExplanation {
  readonly workload: string;
  readonly interface: string;
  readonly node: string;
  readonly ingress: DirectionExplanation;
  readonly egress: DirectionExplanation;
  readonly profiles: readonly string[];
}

export interface DirectionExplanation {
  readonly chain: string;
  /** Policy names as Calico shows them: `<namespace>/<name>`, in evaluation order. */
  readonly policies: readonly { name: string; key: string; chain: string }[];
  /** What happens to traffic no policy allows. */
  readonly otherwise: string;
}

export class NotLocalError extends Error {}

export function explainPolicies(s: DesiredState, workload: string): PolicyExplanation {
  const key = workload.includes("/") ? workload : `default/${workload}`;
  const ep = s.endpoints[key];
  const collision = s.problems[`Pod/${key}/iface`];
  if (!ep && collision) throw new NotLocalError(`${key} is not programmed: ${collision.message}`);
  if (!ep) {
    throw new NotLocalError(
      `${key} is not a workload endpoint on node ${s.nodeName} (unknown pod, no IP, or another node)`,
    );
  }
  return {
    workload: key,
    interface: ep.iface,
    node: ep.node,
    ingress: direction(s, ep, "ingress"),
    egress: direction(s, ep, "egress"),
    profiles: ep.profiles,
  };
}

function direction(s: DesiredState, ep: EndpointState, dir: "ingress" | "egress"): DirectionExplanation {
  const keys = dir === "ingress" ? ep.ingressPolicies : ep.egressPolicies;
  const cdir = dir === "ingress" ? "inbound" : "outbound";
  const chain = endpointChainName(cdir, ep.iface);
  const policies = keys.map((k) => ({
    name: k.split("/").slice(1).join("/"),
    key: k,
    chain: policyChainName(cdir, k),
  }));
  return { chain, policies, otherwise: otherwise(s, ep, chain, policies, dir) };
}

/**
 * What the rendered endpoint chain does with traffic no policy allows: traced
 * through the chain as programmed, with the policy chains allowing nothing,
 * so the answer is the chain's (a profile that drops, for an unknown
 * namespace, shows as denied), not a guess from the model.
 */
function otherwise(
  s: DesiredState,
  ep: EndpointState,
  chain: string,
  policies: readonly { chain: string }[],
  dir: "ingress" | "egress",
): string {
  const v = ep.ipv4Nets.length > 0 ? 4 : 6;
  const filter = s.iptables[familyKey(v)].filter;
  const chains: Record<string, string[]> = {};
  for (const c of chainList(filter)) chains[c.name] = c.rules.map((r) => r.text);
  for (const p of policies) chains[p.chain] = [];
  const ipsets: Record<string, Iterable<string>> = {};
  for (const set of Object.values(s.ipsets)) ipsets[set.name] = set.members;
  const own = (ep.ipv4Nets[0] ?? ep.ipv6Nets[0] ?? "").split("/")[0];
  const other = v === 4 ? "192.0.2.1" : "2001:db8::1";
  const pkt = {
    src: dir === "ingress" ? other : own,
    dst: dir === "ingress" ? own : other,
    dport: 80,
    protocol: "tcp" as const,
  };
  let outcomes: ReturnType<Tracer["trace"]>;
  try {
    outcomes = new Tracer({ chains }, { localAddresses: [], ipsets }).trace(chain, pkt);
  } catch (e) {
    return `unknown (the chain could not be traced: ${(e as Error).message})`;
  }
  // The accept mark in force (iptablesMarkMask moves it); an endpoint chain accepts by returning with it set.
  const accept = (s.config ? filterActionsOf(s.config.settings) : DEFAULT_FILTER_ACTIONS).marks.accept;
  const allowed = outcomes.every((o) => o.verdict === "continue" && (o.mark & accept) !== 0);
  if (allowed) {
    return policies.length > 0
      ? "allowed by a profile (no policy in this direction ends its tier)"
      : `allowed by profile ${ep.profiles[0]} (no policy selects this pod for ${dir})`;
  }
  if (policies.length > 0) return "denied (end of tier default: selected by a policy that did not allow it)";
  // No policy, and still dropped: a profile fails closed (its namespace or service account is unknown).
  const dropper = ep.profiles.find((id) =>
    outcomes.some((o) =>
      o.path.some((p) => p.startsWith(`${profileChainName(dir === "ingress" ? "inbound" : "outbound", id)}#`)),
    ),
  );
  return `denied (no policy selects this pod for ${dir}, and profile ${dropper ?? ep.profiles[0]} drops it: fail closed)`;
}

export function policiesText(e: PolicyExplanation): string {
  const lines = [`Workload ${e.workload} (interface ${e.interface}, node ${e.node})`];
  for (const dir of ["ingress", "egress"] as const) {
    const d = e[dir];
    lines.push(`${dir === "ingress" ? "Ingress" : "Egress"} (${d.chain}):`);
    for (const [i, p] of d.policies.entries()) lines.push(`  ${i + 1}. ${p.name}  [tier default, chain ${p.chain}]`);
    lines.push(`  otherwise: ${d.otherwise}`);
  }
  lines.push(`Profiles: ${e.profiles.join(", ")}`);
  return `${lines.join("\n")}\n`;
}
