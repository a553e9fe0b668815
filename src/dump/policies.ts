// `felix-dump policies <ns>/<pod>`: which policies apply to a local workload,
// in order, per direction, and what happens when none does.

import type { DesiredState, EndpointState } from "../../calc-graph/desired-state.js";
import {
  FORWARD_CHECK,
  FORWARD_ENDPOINT_MARK,
  FROM_ENDPOINT_MARK,
  SET_ENDPOINT_MARK,
  setMarkChainName,
} from "../../calc-graph/rules/endpoint-mark.js";
import { endpointChainName, policyChainName, TO_WORKLOAD_DISPATCH } from "../../calc-graph/rules/names.js";
import { chainOf } from "../../iptables/tables.js";

export interface PolicyExplanation {
  readonly workload: string;
  readonly interface: string;
  readonly node: string;
  readonly ingress: DirectionExplanation;
  readonly egress: DirectionExplanation;
  readonly profiles: readonly string[];
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
  /** Policy names as Calico shows them: `<namespace>/<name>`, in evaluation order. */
  readonly policies: readonly { name: string; key: string; chain: string }[];
  /** What happens to traffic no policy allows. */
  readonly otherwise: string;
}

export class NotLocalError extends Error {}

export function explainPolicies(s: DesiredState, workload: string): PolicyExplanation {
  const key = workload.includes("/") ? workload : `default/${workload}`;
  const ep = s.endpoints[key];
  if (!ep) {
    throw new NotLocalError(
      `${key} is not a workload endpoint on node ${s.nodeName} (unknown pod, no IP, or another node)`,
    );
  }
  return {
    workload: key,
    interface: ep.iface,
    node: ep.node,
    ingress: direction(ep, "ingress"),
    egress: direction(ep, "egress"),
    profiles: ep.profiles,
    ...ipvsPath(s, ep),
  };
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

function direction(ep: EndpointState, dir: "ingress" | "egress"): DirectionExplanation {
  const keys = dir === "ingress" ? ep.ingressPolicies : ep.egressPolicies;
  const cdir = dir === "ingress" ? "inbound" : "outbound";
  return {
    chain: endpointChainName(cdir, ep.iface),
    policies: keys.map((k) => ({ name: k.split("/").slice(1).join("/"), key: k, chain: policyChainName(cdir, k) })),
    otherwise:
      keys.length > 0
        ? "denied (end of tier default: selected by a policy that did not allow it)"
        : `allowed by profile ${ep.profiles[0]} (no policy selects this pod for ${dir})`,
  };
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
  if (e.ipvs) {
    lines.push("IPVS-forwarded service traffic (INPUT → OUTPUT, not FORWARD), same policies:");
    lines.push(`  INPUT:  ${e.ipvs.input.join(" → ")} (endpoint mark ${e.ipvs.endpointMark})`);
    lines.push(`  OUTPUT: ${e.ipvs.output.join(", ")}`);
  }
  return `${lines.join("\n")}\n`;
}
