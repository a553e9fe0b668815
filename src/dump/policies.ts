// `felix-dump policies <ns>/<pod>`: which policies apply to a local workload,
// tier by tier in evaluation order, per direction, what each tier does at its
// end, and what happens when no policy allows the traffic. With staged
// policies in the input, also what they would change (the same explanation of
// the graph run with them enforced).

import { type DesiredState, type EndpointState, familyKey } from "../../calc-graph/desired-state.js";
import {
  FORWARD_CHECK,
  FORWARD_ENDPOINT_MARK,
  FROM_ENDPOINT_MARK,
  SET_ENDPOINT_MARK,
  setMarkChainName,
} from "../../calc-graph/rules/endpoint-mark.js";
import { DEFAULT_FILTER_ACTIONS, filterActionsOf } from "../../calc-graph/rules/filter-actions.js";
import {
  endpointChainName,
  policyChainName,
  profileChainName,
  TO_WORKLOAD_DISPATCH,
} from "../../calc-graph/rules/names.js";
import { Tracer } from "../../iptables/tracer.js";
import { ipSetList } from "../../model/ipset-shards.js";
import { chainList, chainOf } from "../../model/tables.js";

export interface PolicyExplanation {
  readonly workload: string;
  readonly interface: string;
  readonly node: string;
  readonly ingress: DirectionExplanation;
  readonly egress: DirectionExplanation;
  readonly profiles: readonly string[];
  /** Staged policies that would change this workload's policies, as they would then be. */
  readonly staged?: { readonly ingress: DirectionExplanation; readonly egress: DirectionExplanation };
  /** With IPVS support: how IPVS-forwarded traffic (INPUT → OUTPUT) reaches the same chains. */
  readonly ipvs?: IpvsPath;
}

export interface IpvsPath {
  /** The endpoint mark INPUT gives the workload's traffic, `value/mask`. */
  readonly endpointMark: string;
  /** INPUT, then OUTPUT: the chains in order. */
  readonly input: readonly string[];
  readonly output: readonly string[];
}

export interface DirectionExplanation {
  readonly chain: string;
  /** Policy names as Calico shows them: `<namespace>/<name>` (`<name>` for a global one), in evaluation order. */
  readonly policies: readonly PolicyRef[];
  /** The same policies by tier, tiers in evaluation order. */
  readonly tiers: readonly TierExplanation[];
  /** What happens to traffic no policy allows. */
  readonly otherwise: string;
}

export interface PolicyRef {
  readonly name: string;
  readonly key: string;
  readonly chain: string;
  readonly kind: "KubernetesNetworkPolicy" | "NetworkPolicy" | "GlobalNetworkPolicy" | "ClusterNetworkPolicy";
  readonly tier: string;
}

export interface TierExplanation {
  readonly name: string;
  readonly defaultAction: "Deny" | "Pass";
  /** False: no Tier of this name exists (its policies run last; the end of the tier denies). */
  readonly exists: boolean;
  readonly policies: readonly string[];
  /** What the end of the tier does with traffic no policy in it allowed, denied or passed. */
  readonly end: string;
}

export class NotLocalError extends Error {}

/** `staged`: the state computed with the staged policies enforced (calc-graph/staged.ts), when the input has any. */
export function explainPolicies(s: DesiredState, workload: string, staged?: DesiredState): PolicyExplanation {
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
    ...stagedChanges(ep, staged),
    ...ipvsPath(s, ep),
  };
}

function stagedChanges(ep: EndpointState, staged: DesiredState | undefined): Pick<PolicyExplanation, "staged"> {
  const after = staged?.endpoints[ep.key];
  if (!staged || !after) return {};
  const same = (a: EndpointState["ingressTiers"], b: EndpointState["ingressTiers"]) =>
    JSON.stringify(a) === JSON.stringify(b);
  if (same(ep.ingressTiers, after.ingressTiers) && same(ep.egressTiers, after.egressTiers)) return {};
  return { staged: { ingress: direction(staged, after, "ingress"), egress: direction(staged, after, "egress") } };
}

/** How Calico shows a policy key: `<namespace>/<name>`, or the name of a global policy. */
function policyRef(key: string, cdir: "inbound" | "outbound", tier: string): PolicyRef {
  const [head, ...rest] = key.split("/");
  const chain = policyChainName(cdir, key);
  if (head === "np") return { name: rest.join("/"), key, chain, kind: "NetworkPolicy", tier };
  if (head === "gnp") return { name: rest.join("/"), key, chain, kind: "GlobalNetworkPolicy", tier };
  if (head === "kcnp") return { name: rest.join("/"), key, chain, kind: "ClusterNetworkPolicy", tier };
  return { name: rest.join("/"), key, chain, kind: "KubernetesNetworkPolicy", tier };
}

function ipvsPath(s: DesiredState, ep: EndpointState): { ipvs?: IpvsPath } {
  const filter = s.iptables.ipv4.filter;
  if (!chainOf(filter, FORWARD_CHECK)) return {};
  const setMark = chainOf(filter, setMarkChainName(ep.iface))?.rules[0]?.text ?? "";
  const endpointMark = /--set-xmark (\S+)/.exec(setMark)?.[1] ?? "none (no mark left: its IPVS traffic is dropped)";
  return {
    ipvs: {
      endpointMark,
      input: ["cali-INPUT", FORWARD_CHECK, SET_ENDPOINT_MARK, setMarkChainName(ep.iface)],
      output: [
        "cali-OUTPUT",
        FORWARD_ENDPOINT_MARK,
        `${FROM_ENDPOINT_MARK} → ${endpointChainName("outbound", ep.iface)} (egress)`,
        `${TO_WORKLOAD_DISPATCH} → ${endpointChainName("inbound", ep.iface)} (ingress)`,
      ],
    },
  };
}

function direction(s: DesiredState, ep: EndpointState, dir: "ingress" | "egress"): DirectionExplanation {
  const cdir = dir === "ingress" ? "inbound" : "outbound";
  const chain = endpointChainName(cdir, ep.iface);
  const epTiers = dir === "ingress" ? ep.ingressTiers : ep.egressTiers;
  const policies = epTiers.flatMap((t) => t.policies.map((k) => policyRef(k, cdir, t.name)));
  const tiers = epTiers.map((t) => ({
    name: t.name,
    defaultAction: t.defaultAction,
    exists: t.exists,
    policies: t.policies.map((k) => policyRef(k, cdir, t.name).name),
    end:
      t.defaultAction === "Pass"
        ? "pass: what no policy in it allowed or denied goes on to the next tier"
        : "deny: what no policy in it allowed or passed is dropped",
  }));
  return { chain, policies, tiers, otherwise: withHostEndpoints(s, dir, otherwise(s, ep, chain, policies, dir)) };
}

/**
 * Traffic forwarded through a host endpoint's interface meets that endpoint's
 * applyOnForward policy before the pod's own chains (cali-fhfw-/cali-thfw-),
 * and that policy ends its tier with a drop: say so rather than "allowed".
 */
function withHostEndpoints(s: DesiredState, dir: "ingress" | "egress", pods: string): string {
  const gates = Object.values(s.hostEndpoints ?? {})
    .map((h) => ({ iface: h.iface, keys: dir === "ingress" ? h.forwardIngressPolicies : h.forwardEgressPolicies }))
    .filter((g) => g.keys.length > 0);
  if (gates.length === 0) return pods;
  const through = gates.map((g) => `${g.iface} (${g.keys.join(", ")})`).join("; ");
  const way = dir === "ingress" ? "in through" : "out through";
  return `first, traffic forwarded ${way} host endpoint ${through} needs that applyOnForward policy to allow it (else dropped); then ${pods}`;
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
  for (const set of ipSetList(s.ipsets)) ipsets[set.name] = set.members;
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
  if (policies.length > 0) {
    // The end-of-tier rule that dropped it names its tier.
    const tier = outcomes
      .flatMap((o) => o.comments)
      .map((c) => /^End of tier (\S+)\./.exec(c)?.[1])
      .find((t) => t !== undefined);
    return `denied (end of tier ${tier ?? "?"}: selected by a policy there, none of which allowed or passed it)`;
  }
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
  for (const dir of ["ingress", "egress"] as const) directionLines(lines, e[dir], dir, "");
  lines.push(`Profiles: ${e.profiles.join(", ")}`);
  if (e.staged) {
    lines.push("Staged policies (not enforced) would change this to:");
    for (const dir of ["ingress", "egress"] as const) directionLines(lines, e.staged[dir], dir, "  ");
  }
  if (e.ipvs) {
    lines.push("IPVS-forwarded service traffic (INPUT → OUTPUT, not FORWARD), same policies:");
    lines.push(`  INPUT:  ${e.ipvs.input.join(" → ")} (endpoint mark ${e.ipvs.endpointMark})`);
    lines.push(`  OUTPUT: ${e.ipvs.output.join(", ")}`);
  }
  return `${lines.join("\n")}\n`;
}

function directionLines(lines: string[], d: DirectionExplanation, dir: "ingress" | "egress", indent: string): void {
  lines.push(`${indent}${dir === "ingress" ? "Ingress" : "Egress"} (${d.chain}):`);
  let n = 0;
  for (const t of d.tiers) {
    lines.push(`${indent}  tier ${t.name}${t.exists ? "" : " (does not exist: runs last)"}:`);
    for (const p of d.policies.filter((x) => x.tier === t.name)) {
      lines.push(`${indent}    ${++n}. ${p.name}  [${p.kind}, chain ${p.chain}]`);
    }
    lines.push(`${indent}    end of tier: ${t.end}`);
  }
  lines.push(`${indent}  otherwise: ${d.otherwise}`);
}
