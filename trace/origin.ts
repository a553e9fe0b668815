// Where a traced rule comes from: a policy's rule (tier, kind, namespace,
// name, rule index, action), a profile, a workload's endpoint chain (which
// tier, which end), a service chain, or a static chain and why it is there.
// Mapped from the chain names the graph gives (Felix's names) and, for the
// rule index, from how many kernel rules each policy rule renders to.

import { ipSetName } from "../calc-graph/ipsets/ids.js";
import { overfullProblemKey } from "../calc-graph/ipsets/overfull-problem.js";
import type { Policy, PolicyRule } from "../calc-graph/model.js";
import type { DropOrigin } from "../calc-graph/rules/drop-log.js";
import { DEFAULT_FILTER_ACTIONS, type FilterActions, filterActionsOf } from "../calc-graph/rules/filter-actions.js";
import {
  FROM_WORKLOAD_PREFIX,
  policyChainName,
  profileChainName,
  TO_WORKLOAD_PREFIX,
} from "../calc-graph/rules/names.js";
import { failClosedRules } from "../calc-graph/rules/overfull-sets.js";
import { renderPolicyRules } from "../calc-graph/rules/policy.js";
import { policySizeProblemKey } from "../calc-graph/rules/policy-size-problem.js";
import { failClosedPolicy } from "../calc-graph/rules/rule-bound.js";
import { hex, type Rule } from "../model/rule.js";
import type { NodeView } from "./node-view.js";
import type { Step } from "./walker.js";

export type Origin =
  | {
      readonly kind: "policy";
      readonly tier: string;
      readonly policyKind: Policy["kind"];
      readonly namespace?: string;
      readonly name: string;
      readonly direction: "ingress" | "egress";
      /** 0-based, as Calico counts a policy's rules. */
      readonly ruleIndex: number;
      readonly action: PolicyRule["action"];
    }
  | { readonly kind: "profile"; readonly profile: string; readonly direction: "ingress" | "egress" }
  | {
      readonly kind: "endpoint";
      readonly workload: string;
      readonly direction: "ingress" | "egress";
      readonly tier?: string;
      readonly why: string;
    }
  | { readonly kind: "service"; readonly why: string }
  | { readonly kind: "static"; readonly why: string };

/** What the origin mapping reads of a node: a NodeView, or the agent's own graph and state. */
export type OriginSource = Pick<NodeView, "name" | "state" | "policies" | "byIface">;

/** Built once per node: chain name → policy or profile. */
export class OriginMap {
  private readonly policyChains = new Map<string, { policy: Policy; dir: "inbound" | "outbound" }>();
  private readonly profileChains = new Map<string, { id: string; dir: "inbound" | "outbound" }>();
  /** Per endpoint chain: policy chain → tier. */
  private readonly tierOf = new Map<string, string>();

  /** The node's actions (drop logging adds rules to a policy's chain). */
  private readonly actions: FilterActions;
  /** Whether the node reported an IP set over FELIX_MAXIPSETSIZE; and each policy chain's rules as enforced. */
  private readonly anyOverfull: boolean;
  private readonly enforcedRules = new Map<string, readonly (PolicyRule | null)[]>();

  constructor(private readonly node: OriginSource) {
    const settings = node.state.config?.settings;
    this.actions = settings ? filterActionsOf(settings) : DEFAULT_FILTER_ACTIONS;
    this.anyOverfull = Object.keys(node.state.problems).some((k) => k.startsWith("IPSet//"));
    for (const p of node.policies.values()) {
      for (const dir of ["inbound", "outbound"] as const)
        this.policyChains.set(policyChainName(dir, p.key), { policy: p, dir });
    }
    for (const ep of node.byIface.values()) {
      for (const id of ep.profiles) {
        for (const dir of ["inbound", "outbound"] as const)
          this.profileChains.set(profileChainName(dir, id), { id, dir });
      }
      for (const t of [...ep.ingressTiers, ...ep.egressTiers]) {
        for (const k of t.policies) {
          this.tierOf.set(policyChainName("inbound", k), t.name);
          this.tierOf.set(policyChainName("outbound", k), t.name);
        }
      }
    }
  }

  /**
   * The policy's rules as the graph enforced them in family `v`, position for
   * position: failed closed where it reported an IP set over FELIX_MAXIPSETSIZE
   * or the policy over FELIX_POLICYMAXRULES (the problems say so).
   */
  private enforced(policy: Policy, dir: "inbound" | "outbound", v: 4 | 6): readonly (PolicyRule | null)[] {
    const cacheKey = `${v}${dir}${policy.key}`;
    const cached = this.enforcedRules.get(cacheKey);
    if (cached) return cached;
    const problems = this.node.state.problems;
    const own = dir === "inbound" ? policy.inbound : policy.outbound;
    const sets = this.anyOverfull
      ? failClosedRules(own, v, (id, fam) => overfullProblemKey(ipSetName(id, fam)) in problems)
      : own;
    const out = policySizeProblemKey(policy.key) in problems ? failClosedPolicy(sets) : sets;
    this.enforcedRules.set(cacheKey, out);
    return out;
  }

  /** A drop reported by NFLOG: its prefix names the chain and the rule or tier index. */
  ofDrop(d: DropOrigin): Origin {
    const node = this.node;
    const pol = this.policyChains.get(d.chain);
    if (pol && d.owner === "P") {
      const { policy, dir } = pol;
      return {
        kind: "policy",
        tier: policy.id.tier,
        policyKind: policy.kind,
        ...(policy.id.namespace ? { namespace: policy.id.namespace } : {}),
        name: policy.id.name,
        direction: dir === "inbound" ? "ingress" : "egress",
        ruleIndex: d.index,
        // Only deny rules log their drops (a pass failed closed is one: overfull-sets.ts).
        action: "deny",
      };
    }
    const prof = this.profileChains.get(d.chain);
    if (prof) return { kind: "profile", profile: prof.id, direction: prof.dir === "inbound" ? "ingress" : "egress" };
    const ingress = d.chain.startsWith(TO_WORKLOAD_PREFIX);
    if (ingress || d.chain.startsWith(FROM_WORKLOAD_PREFIX)) {
      const ep = node.byIface.get(d.chain.slice(TO_WORKLOAD_PREFIX.length));
      const direction = ingress ? "ingress" : "egress";
      const tiers = ep ? (ingress ? ep.ingressTiers : ep.egressTiers) : [];
      const tier = d.owner === "T" ? tiers[d.index]?.name : undefined;
      return {
        kind: "endpoint",
        workload: ep?.key ?? d.chain,
        direction,
        ...(tier ? { tier } : {}),
        why: d.owner === "T" ? `End of tier ${tier ?? "?"}: no policy allowed it` : "no profile allowed it",
      };
    }
    return { kind: "static", why: d.owner === "U" ? `Unknown interface (${d.chain})` : d.chain };
  }

  of(step: Step, v: 4 | 6): Origin {
    const { chain, rule, index } = step;
    const pol = this.policyChains.get(chain);
    if (pol) {
      const { policy, dir } = pol;
      const rules = this.enforced(policy, dir, v);
      const i = ruleIndexAt(rules, index, v, this.actions);
      const ns = policy.id.namespace;
      return {
        kind: "policy",
        tier: policy.id.tier,
        policyKind: policy.kind,
        ...(ns ? { namespace: ns } : {}),
        name: policy.id.name,
        direction: dir === "inbound" ? "ingress" : "egress",
        ruleIndex: i,
        action: rules[i]?.action ?? "deny",
      };
    }
    const prof = this.profileChains.get(chain);
    if (prof) return { kind: "profile", profile: prof.id, direction: prof.dir === "inbound" ? "ingress" : "egress" };
    const ingress = chain.startsWith(TO_WORKLOAD_PREFIX);
    if (ingress || chain.startsWith(FROM_WORKLOAD_PREFIX)) {
      const iface = chain.slice((ingress ? TO_WORKLOAD_PREFIX : FROM_WORKLOAD_PREFIX).length);
      const ep = this.node.byIface.get(iface);
      const target = rule.action.kind === "jump" ? rule.action.chain : undefined;
      const tier = target ? this.tierOf.get(target) : tierOfComment(rule.comment);
      return {
        kind: "endpoint",
        workload: ep?.key ?? iface,
        direction: ingress ? "ingress" : "egress",
        ...(tier ? { tier } : {}),
        why: endpointWhy(
          rule,
          target,
          this.policyChains.get(target ?? "")?.policy,
          this.profileChains.get(target ?? "")?.id,
        ),
      };
    }
    if (
      /^cali-(SVC|SVL|SEP|EXT|FW|SERVICES|NODEPORTS|EXTERNAL-SERVICES|PROXY-|MARK-MASQ|MASQUERADE)/.test(chain) ||
      NFT_SERVICE_CHAIN.test(chain)
    ) {
      return { kind: "service", why: rule.comment ?? serviceWhy(chain) };
    }
    return { kind: "static", why: rule.comment ?? STATIC_WHY[chain] ?? `${chain} (Calico's fixed chain)` };
  }
}

/** Which policy rule the `index`-th (1-based) kernel rule of its chain renders (a null renders none). */
function ruleIndexAt(rules: readonly (PolicyRule | null)[], index: number, v: 4 | 6, actions: FilterActions): number {
  let seen = 0;
  for (const [i, r] of rules.entries()) {
    seen += r ? renderPolicyRules([r], v, actions).length : 0;
    if (index <= seen) return i;
  }
  return rules.length - 1;
}

function tierOfComment(comment: string | undefined): string | undefined {
  return comment ? /(?:Start|End) of tier (\S+?)\.?(?:\s|$)/.exec(comment)?.[1] : undefined;
}

function endpointWhy(r: Rule, target: string | undefined, policy: Policy | undefined, profile: string | undefined) {
  if (policy) return `policy ${policyName(policy)}`;
  if (profile) return `profile ${profile}`;
  if (r.comment) return r.comment;
  const ct = r.match.terms.find((t) => t.kind === "ctState");
  if (ct?.kind === "ctState") {
    return ct.states.includes("INVALID") ? "conntrack INVALID: dropped" : "an established connection is accepted";
  }
  if (r.action.kind === "setMark") return `clear the policy marks (${hex(r.action.mask)})`;
  return target ? `to ${target}` : "endpoint chain";
}

export function policyName(p: Policy): string {
  const kind = p.kind === "KubernetesNetworkPolicy" ? "" : `${p.kind} `;
  return `${kind}${p.id.namespace ? `${p.id.namespace}/` : ""}${p.id.name}`;
}

/** kube-proxy's nftables layout (FELIX_PROXYMODE=nftables): per-port and fixed chains. */
const NFT_SERVICE_CHAIN =
  /^((service|local|external|endpoint|firewall)-[A-Z2-7]{8}-|(services(-[1-9])?|service-endpoints-check|nodeport-endpoints-check|firewall-check|reject-chain|mark-for-masquerade|masquerading|nodeport-health-checks)$)/;

function serviceWhy(chain: string): string {
  if (/^(cali-SVC-|cali-SVL-|service-|local-)/.test(chain)) return "the service's endpoint choice";
  if (/^(cali-SEP-|endpoint-)/.test(chain)) return "DNAT to one endpoint";
  return `${chain} (kube-proxy's service processing)`;
}

const STATIC_WHY: Readonly<Record<string, string>> = {
  PREROUTING: "our hook in the built-in chain",
  OUTPUT: "our hook in the built-in chain",
  INPUT: "our hook in the built-in chain",
  FORWARD: "our hook in the built-in chain",
  POSTROUTING: "our hook in the built-in chain",
  "cali-PREROUTING": "Calico's PREROUTING processing (marks, anti-spoofing)",
  "cali-FORWARD": "Calico's forwarding: dispatch to the workloads' chains",
  "cali-from-wl-dispatch": "dispatch by the workload interface the packet came from",
  "cali-to-wl-dispatch": "dispatch by the workload interface the packet goes to",
  "cali-INPUT": "Calico's INPUT processing",
  "cali-OUTPUT": "Calico's OUTPUT processing",
  "cali-wl-to-host": "workload to host",
  "cali-POSTROUTING": "Calico's POSTROUTING processing",
  "cali-nat-outgoing": "natOutgoing of the IP pools",
};
