// Per-interface host endpoint chains (Felix's endpoints.go), for one
// interface (or `*`, the all-interfaces endpoint):
//
//   filter  cali-th-<if>   host → out of the interface: normal egress policy
//           cali-fh-<if>   into the host from the interface: normal ingress policy
//           cali-thfw-<if> forwarded out of it: applyOnForward egress policy
//           cali-fhfw-<if> forwarded in from it: applyOnForward ingress policy
//   mangle  cali-th-<if>   host traffic DNAT'd out of it: normal egress policy (RETURN, not ACCEPT)
//           cali-fh-<if>   preDNAT ingress policy (only with preDNAT policy)
//   raw     cali-th-/fh-   doNotTrack policy (only with such policy; never for `*`)
//
// Each: conntrack (not raw) → failsafe jump (not forward) → clear accept|pass →
// per tier: its policies, Return on accept (raw: NOTRACK first), end-of-tier
// drop (normal and forward only) → forward with no policy: allow (Felix:
// forwarded traffic is allowed unless an applyOnForward policy applies) →
// normal only: profiles, then "Drop if no profiles matched": a host endpoint
// with neither policy nor profile denies everything but the failsafes.

import { type Action, Actions, type Chain, match, NO_MATCH, type Rule, rule } from "../../model/rule.js";
import type { IpVersion } from "../model.js";
import { denyAction, type FilterActions } from "./filter-actions.js";
import {
  FAILSAFE_IN,
  FAILSAFE_OUT,
  HOST_FROM_ENDPOINT_FORWARD_PREFIX,
  HOST_FROM_ENDPOINT_PREFIX,
  HOST_TO_ENDPOINT_FORWARD_PREFIX,
  HOST_TO_ENDPOINT_PREFIX,
  hostChainName,
} from "./host-endpoint-names.js";
import { policyChainName, profileChainName } from "./names.js";

export type HostChainType = "normal" | "forward" | "preDNAT" | "untracked";

/** One tier's policy keys per direction, in evaluation order. */
export interface HostTier {
  readonly name: string;
  /** Pass: traffic no policy of the tier decided goes on to the next tier (no end-of-tier drop). */
  readonly defaultAction: "Deny" | "Pass";
  readonly ingress: readonly string[];
  readonly egress: readonly string[];
}

/** A host endpoint's policies by where they apply (Felix's Tiers, ForwardTiers, PreDnatTiers, UntrackedTiers). */
export interface HostPolicies {
  readonly normal: readonly HostTier[];
  readonly forward: readonly HostTier[];
  readonly preDNAT: readonly HostTier[];
  readonly untracked: readonly HostTier[];
}

interface ChainSpec {
  readonly name: string;
  readonly dir: "ingress" | "egress";
  readonly tiers: readonly HostTier[];
  readonly profiles: readonly string[];
  readonly type: HostChainType;
  readonly failsafe?: string;
  readonly allow: Action;
  readonly deny: Action;
}

function endpointChain(c: ChainSpec, actions: FilterActions): Chain {
  const { accept, pass } = actions.marks;
  const out: Rule[] = [];
  if (c.type !== "untracked") {
    const established = match().ctState("RELATED,ESTABLISHED").build();
    // Not ACCEPT: the accept mark tells the caller.
    if (c.allow !== Actions.accept) out.push(rule(established, Actions.setMark(accept)));
    out.push(rule(established, c.allow), rule(match().ctState("INVALID").build(), c.deny));
  }
  if (c.failsafe) out.push(rule(NO_MATCH, Actions.jump(c.failsafe)));
  out.push(rule(NO_MATCH, Actions.clearMark(accept + pass)));
  const policyDir = c.dir === "ingress" ? "inbound" : "outbound";
  for (const tier of c.tiers) {
    const keys = c.dir === "ingress" ? tier.ingress : tier.egress;
    if (keys.length === 0) continue;
    out.push(rule(NO_MATCH, Actions.clearMark(pass), `Start of tier ${tier.name}`));
    for (const key of keys) {
      out.push(rule(match().mark(0, pass).build(), Actions.jump(policyChainName(policyDir, key))));
      if (c.type === "untracked") out.push(rule(match().mark(accept, accept).build(), Actions.notrack));
      out.push(rule(match().mark(accept, accept).build(), Actions.return, "Return if policy accepted"));
    }
    if ((c.type === "normal" || c.type === "forward") && tier.defaultAction !== "Pass") {
      out.push(
        rule(match().mark(0, pass).build(), c.deny, `End of tier ${tier.name}. Drop if no policies passed packet`),
      );
    }
  }
  if (c.tiers.length === 0 && c.type === "forward") {
    out.push(rule(NO_MATCH, Actions.setMark(accept), "Allow forwarded traffic by default"));
    out.push(rule(NO_MATCH, Actions.return, "Return for accepted forward traffic"));
  }
  if (c.type === "normal") {
    for (const id of c.profiles) {
      out.push(rule(NO_MATCH, Actions.jump(profileChainName(policyDir, id))));
      out.push(rule(match().mark(accept, accept).build(), Actions.return, "Return if profile accepted"));
    }
    out.push(rule(NO_MATCH, c.deny, "Drop if no profiles matched"));
  }
  return { name: c.name, rules: out };
}

export interface HostEndpointChains {
  readonly filter: Chain[];
  readonly mangle: Chain[];
  readonly raw: Chain[];
}

/** Every chain of one host endpoint interface (`*` included), per table. */
export function hostEndpointChains(
  iface: string,
  p: HostPolicies,
  profiles: readonly string[],
  actions: FilterActions,
  v: IpVersion,
): HostEndpointChains {
  const deny = denyAction(actions, v);
  // REJECT exists only in the filter table.
  const drop = Actions.drop;
  const allow = Actions.verdict(actions.allow);
  const filter = [
    endpointChain(
      {
        name: hostChainName(HOST_TO_ENDPOINT_PREFIX, iface),
        dir: "egress",
        tiers: p.normal,
        profiles,
        type: "normal",
        failsafe: FAILSAFE_OUT,
        allow,
        deny,
      },
      actions,
    ),
    endpointChain(
      {
        name: hostChainName(HOST_FROM_ENDPOINT_PREFIX, iface),
        dir: "ingress",
        tiers: p.normal,
        profiles,
        type: "normal",
        failsafe: FAILSAFE_IN,
        allow,
        deny,
      },
      actions,
    ),
    endpointChain(
      {
        name: hostChainName(HOST_TO_ENDPOINT_FORWARD_PREFIX, iface),
        dir: "egress",
        tiers: p.forward,
        profiles,
        type: "forward",
        allow,
        deny,
      },
      actions,
    ),
    endpointChain(
      {
        name: hostChainName(HOST_FROM_ENDPOINT_FORWARD_PREFIX, iface),
        dir: "ingress",
        tiers: p.forward,
        profiles,
        type: "forward",
        allow,
        deny,
      },
      actions,
    ),
  ];
  const mangle = [
    endpointChain(
      {
        name: hostChainName(HOST_TO_ENDPOINT_PREFIX, iface),
        dir: "egress",
        tiers: p.normal,
        profiles,
        type: "normal",
        failsafe: FAILSAFE_OUT,
        allow: Actions.return,
        deny: drop,
      },
      actions,
    ),
  ];
  if (p.preDNAT.length > 0) {
    mangle.push(
      endpointChain(
        {
          name: hostChainName(HOST_FROM_ENDPOINT_PREFIX, iface),
          dir: "ingress",
          tiers: p.preDNAT,
          profiles: [],
          type: "preDNAT",
          failsafe: FAILSAFE_IN,
          allow: Actions.accept,
          deny: drop,
        },
        actions,
      ),
    );
  }
  const raw: Chain[] = [];
  if (p.untracked.length > 0 && iface !== "*") {
    raw.push(
      endpointChain(
        {
          name: hostChainName(HOST_TO_ENDPOINT_PREFIX, iface),
          dir: "egress",
          tiers: p.untracked,
          profiles: [],
          type: "untracked",
          failsafe: FAILSAFE_OUT,
          allow: Actions.accept,
          deny: drop,
        },
        actions,
      ),
      endpointChain(
        {
          name: hostChainName(HOST_FROM_ENDPOINT_PREFIX, iface),
          dir: "ingress",
          tiers: p.untracked,
          profiles: [],
          type: "untracked",
          failsafe: FAILSAFE_IN,
          allow: Actions.accept,
          deny: drop,
        },
        actions,
      ),
    );
  }
  return { filter, mangle, raw };
}
