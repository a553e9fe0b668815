// The fixed chains of each table and the rules that hook them into the
// kernel's built-in chains (Felix's rules/static.go, less host endpoints).
//
//   raw     PREROUTING → cali-PREROUTING: clear marks, mark workload traffic,
//                                         strict reverse-path check on it
//           OUTPUT     → cali-OUTPUT:     clear marks
//   mangle  PREROUTING → cali-PREROUTING: established / already accepted
//   nat     POSTROUTING (appended, after kube-proxy's) → cali-POSTROUTING
//                                         → cali-nat-outgoing
//   filter  INPUT   → cali-INPUT:   workload → host via cali-wl-to-host
//                                   (IPVS: forwarded packets via cali-forward-check)
//           FORWARD → cali-FORWARD: from-wl / to-wl dispatch; then, appended
//                                   at the end of FORWARD (after everyone
//                                   else's rules), ACCEPT what policy accepted
//           OUTPUT  → cali-OUTPUT:  host → workload is not policed (IPVS:
//                                   endpoint-marked packets are, via
//                                   cali-forward-endpoint-mark)
// chainInsertMode Append moves every hook after other programs' rules
// (appendHooks); the network rules (encapsulation guards,
// VXLAN NOTRACK, tunnel MASQUERADE) are added in network/render.ts.

import { Actions, type Chain, match, NO_MATCH, type Rule, rule } from "../../model/rule.js";
import type { TableName } from "../../model/tables.js";
import type { EndpointToHostAction, RuleSettings } from "../config/settings.js";
import type { IpVersion } from "../model.js";
import type { KubeProxyOptions, ProxyMode } from "../services/model.js";
import {
  forwardCheckChain,
  forwardEndpointMarkChain,
  inputForwardCheckRules,
  outputForwardRules,
  THIS_HOST_SET_ID,
} from "./endpoint-mark.js";
import { allowAction, denyAction } from "./filter-actions.js";
import { withHostEndpointTables } from "./host-static.js";
import { allocateMarks } from "./marks.js";
import { FROM_WORKLOAD_DISPATCH, TO_WORKLOAD_DISPATCH } from "./names.js";
import { withNftServiceTables } from "./services-nft-static.js";
import { withServiceTables } from "./services-static.js";

export type { EndpointToHostAction };

/** The effective FelixConfiguration settings (config/settings.ts) and the proxy mode. */
export interface StaticConfig extends RuleSettings {
  /** FELIX_PROXYMODE; iptables adds the service chains and hooks. */
  readonly proxyMode?: ProxyMode;
  /** Felix's KubeIPVSSupportEnabled: our IPVS proxy mode, or kube-proxy's kube-ipvs0 present. */
  readonly kubeIPVSSupport?: boolean;
  /** kube-proxy's flags for the iptables proxy mode. */
  readonly kubeProxy?: KubeProxyOptions;
  /** Nat tables the rule backend spreads the services over (the nftables dataplane's: model/nat-shards.ts). */
  readonly natShards?: number;
  /** This node has a host endpoint: add the host endpoint plumbing (rules/host-static.ts). */
  readonly hostEndpoints?: boolean;
}

/** `cali40this-host` / `cali60this-host`. */
export const thisHostSetName = (v: IpVersion) => `cali${v}0${THIS_HOST_SET_ID}`;

export interface StaticTable {
  readonly chains: readonly Chain[];
  readonly hooks: Readonly<Record<string, { insert: readonly Rule[]; append: readonly Rule[] }>>;
}

export const NAT_OUTGOING_CHAIN = "cali-nat-outgoing";
/** raw: workload sources exempt from the anti-spoofing check (workloadSourceSpoofing Any). */
export const RPF_SKIP_CHAIN = "cali-rpf-skip";

const jump = (chain: string) => rule(NO_MATCH, Actions.jump(chain));

export function renderStaticTables(cfg: StaticConfig, v: IpVersion): Record<TableName, StaticTable> {
  const marks = allocateMarks(cfg.markMask);
  const { accept: MARK_ACCEPT, calico: MARK_CALICO, scratch0: MARK_SCRATCH0 } = marks;
  const wls = cfg.interfacePrefixes.map((p) => `${p}+`);
  const perPrefix = (f: (wl: string) => Rule) => wls.map(f);
  const actions = { allow: cfg.filterAllowAction, deny: cfg.filterDenyAction, marks };
  const allow = allowAction(actions);
  const spoofing = cfg.workloadSourceSpoofing === "Any";
  const ipvs = cfg.kubeIPVSSupport === true;
  const acceptMarked = match().mark(MARK_ACCEPT, MARK_ACCEPT).build();
  const wlToHost: Rule[] = [];
  if (v === 6) {
    // Router solicitation/advertisement and neighbour discovery must work
    // whatever the policy, or the workload loses its link.
    for (const type of [130, 131, 132, 133, 135, 136]) {
      wlToHost.push(rule(match().protocol("ipv6-icmp").icmpv6Type(type).build(), allow));
    }
  }
  wlToHost.push(jump(FROM_WORKLOAD_DISPATCH));
  wlToHost.push(rule(NO_MATCH, Actions.verdict(cfg.endpointToHostAction), "Configured DefaultEndpointToHostAction"));

  const tables: Record<TableName, StaticTable> = {
    raw: {
      chains: [
        {
          name: "cali-PREROUTING",
          rules: [
            rule(NO_MATCH, Actions.clearMark(MARK_CALICO)),
            ...perPrefix((wl) => rule(match().inInterface(wl).build(), Actions.setMark(MARK_SCRATCH0))),
            ...(spoofing
              ? [rule(match().mark(MARK_SCRATCH0, MARK_SCRATCH0).build(), Actions.jump(RPF_SKIP_CHAIN))]
              : []),
            rule(
              match().mark(MARK_SCRATCH0, MARK_SCRATCH0).rpfFailed().build(),
              Actions.drop,
              "Drop workload traffic with a spoofed source",
            ),
          ],
        },
        { name: "cali-OUTPUT", rules: [rule(NO_MATCH, Actions.clearMark(MARK_CALICO))] },
        // Its rules depend on the endpoints: the state builder fills it.
        ...(spoofing ? [{ name: RPF_SKIP_CHAIN, rules: [] }] : []),
      ],
      hooks: {
        PREROUTING: { insert: [jump("cali-PREROUTING")], append: [] },
        OUTPUT: { insert: [jump("cali-OUTPUT")], append: [] },
      },
    },
    mangle: {
      chains: [
        {
          name: "cali-PREROUTING",
          rules: [
            rule(match().ctState("RELATED,ESTABLISHED").build(), Actions.accept),
            rule(acceptMarked, Actions.accept),
          ],
        },
      ],
      hooks: { PREROUTING: { insert: [jump("cali-PREROUTING")], append: [] } },
    },
    nat: {
      chains: [
        { name: "cali-POSTROUTING", rules: [jump(NAT_OUTGOING_CHAIN)] },
        { name: NAT_OUTGOING_CHAIN, rules: [] },
      ],
      hooks: { POSTROUTING: { insert: [], append: [jump("cali-POSTROUTING")] } },
    },
    filter: {
      chains: [
        {
          name: "cali-FORWARD",
          rules: [
            // The accept bit is kept: it carries a verdict from the raw/pre-DNAT chains.
            rule(NO_MATCH, Actions.clearMark(MARK_CALICO - MARK_ACCEPT)),
            ...perPrefix((wl) => rule(match().inInterface(wl).build(), Actions.jump(FROM_WORKLOAD_DISPATCH))),
            ...perPrefix((wl) => rule(match().outInterface(wl).build(), Actions.jump(TO_WORKLOAD_DISPATCH))),
          ],
        },
        {
          name: "cali-INPUT",
          rules: [
            ...(ipvs ? inputForwardCheckRules(marks) : []),
            ...perPrefix((wl) => rule(match().inInterface(wl).build(), Actions.goto("cali-wl-to-host"))),
          ],
        },
        { name: "cali-wl-to-host", rules: wlToHost },
        {
          name: "cali-OUTPUT",
          rules: [
            ...(ipvs ? outputForwardRules(marks) : []),
            ...perPrefix((wl) =>
              rule(match().outInterface(wl).build(), Actions.return, "Host to workload is not policed"),
            ),
          ],
        },
        ...(ipvs
          ? [
              forwardCheckChain(thisHostSetName(v), cfg.kubeNodePortRange, marks, denyAction(actions, v)),
              forwardEndpointMarkChain(cfg.interfacePrefixes, marks),
            ]
          : []),
      ],
      hooks: {
        INPUT: { insert: [jump("cali-INPUT")], append: [] },
        FORWARD: {
          insert: [jump("cali-FORWARD")],
          // Appended, as Felix does: kube-proxy's, docker's and an admin's
          // FORWARD rules see Calico-accepted traffic too. The mark then tells
          // later chains that the packet was forwarded.
          append: [
            rule(acceptMarked, allow, "Policy explicitly accepted packet."),
            rule(NO_MATCH, Actions.setMark(MARK_ACCEPT)),
          ],
        },
        OUTPUT: { insert: [jump("cali-OUTPUT")], append: [] },
      },
    },
  };
  const svc =
    cfg.proxyMode === "iptables"
      ? withServiceTables(tables, v, marks.masq, cfg.masqFullyRandom, cfg.kubeProxy, cfg.natShards)
      : cfg.proxyMode === "nftables"
        ? withNftServiceTables(tables, v, marks.masq, cfg.masqFullyRandom, cfg.kubeProxy, cfg.natShards)
        : tables;
  const all = cfg.hostEndpoints ? withHostEndpointTables(svc, cfg, marks, v, ipvs) : svc;
  return cfg.chainInsertMode === "append" ? appendHooks(all) : all;
}

/**
 * chainInsertMode Append: every hook goes after other programs' rules in its
 * built-in chain (inserts first, then what is always appended), as Felix does.
 */
function appendHooks(tables: Record<TableName, StaticTable>): Record<TableName, StaticTable> {
  const out = {} as Record<TableName, StaticTable>;
  for (const [name, t] of Object.entries(tables) as [TableName, StaticTable][]) {
    const hooks: Record<string, { insert: readonly Rule[]; append: readonly Rule[] }> = {};
    for (const [b, h] of Object.entries(t.hooks)) hooks[b] = { insert: [], append: [...h.insert, ...h.append] };
    out[name] = { chains: t.chains, hooks };
  }
  return out;
}
