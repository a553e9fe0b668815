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
//           FORWARD → cali-FORWARD: from-wl / to-wl dispatch; then ACCEPT
//                                   what policy accepted
//           OUTPUT  → cali-OUTPUT:  host → workload is not policed

import { Actions, type Chain, match, NO_MATCH, type Rule, rule } from "../../iptables/rule.js";
import type { TableName } from "../../iptables/tables.js";
import type { EndpointToHostAction, RuleSettings } from "../config/settings.js";
import type { IpVersion } from "../model.js";
import type { ProxyMode } from "../services/model.js";
import { allowAction } from "./filter-actions.js";
import { allocateMarks } from "./marks.js";
import { FROM_WORKLOAD_DISPATCH, TO_WORKLOAD_DISPATCH } from "./names.js";
import { withServiceTables } from "./services-static.js";

export type { EndpointToHostAction };

/** The effective FelixConfiguration settings (config/settings.ts) and the proxy mode. */
export interface StaticConfig extends RuleSettings {
  /** FELIX_PROXYMODE; iptables adds the service chains and hooks. */
  readonly proxyMode?: ProxyMode;
}

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
  const { accept: MARK_ACCEPT, all: MARK_ALL, scratch0: MARK_SCRATCH0 } = marks;
  const wls = cfg.interfacePrefixes.map((p) => `${p}+`);
  const perPrefix = (f: (wl: string) => Rule) => wls.map(f);
  const allow = allowAction({ allow: cfg.filterAllowAction, deny: cfg.filterDenyAction, marks });
  const spoofing = cfg.workloadSourceSpoofing === "Any";
  const acceptMarked = match().mark(MARK_ACCEPT, MARK_ACCEPT).build();
  const wlToHost: Rule[] = [];
  if (v === 6) {
    // Router solicitation/advertisement and neighbour discovery must work
    // whatever the policy, or the workload loses its link.
    for (const type of [130, 131, 132, 133, 135, 136]) {
      wlToHost.push(rule(match().protocol("ipv6-icmp").raw(`-m icmp6 --icmpv6-type ${type}`).build(), allow));
    }
  }
  wlToHost.push(jump(FROM_WORKLOAD_DISPATCH));
  wlToHost.push(rule(NO_MATCH, `-j ${cfg.endpointToHostAction}`, "Configured DefaultEndpointToHostAction"));

  const tables: Record<TableName, StaticTable> = {
    raw: {
      chains: [
        {
          name: "cali-PREROUTING",
          rules: [
            rule(NO_MATCH, Actions.clearMark(MARK_ALL)),
            ...perPrefix((wl) => rule(match().inInterface(wl).build(), Actions.setMark(MARK_SCRATCH0))),
            ...(spoofing
              ? [rule(match().mark(MARK_SCRATCH0, MARK_SCRATCH0).build(), Actions.jump(RPF_SKIP_CHAIN))]
              : []),
            rule(
              match().mark(MARK_SCRATCH0, MARK_SCRATCH0).raw("-m rpfilter --validmark --invert").build(),
              Actions.drop,
              "Drop workload traffic with a spoofed source",
            ),
          ],
        },
        { name: "cali-OUTPUT", rules: [rule(NO_MATCH, Actions.clearMark(MARK_ALL))] },
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
            rule(NO_MATCH, Actions.clearMark(MARK_ALL)),
            ...perPrefix((wl) => rule(match().inInterface(wl).build(), Actions.jump(FROM_WORKLOAD_DISPATCH))),
            ...perPrefix((wl) => rule(match().outInterface(wl).build(), Actions.jump(TO_WORKLOAD_DISPATCH))),
          ],
        },
        {
          name: "cali-INPUT",
          rules: perPrefix((wl) => rule(match().inInterface(wl).build(), Actions.goto("cali-wl-to-host"))),
        },
        { name: "cali-wl-to-host", rules: wlToHost },
        {
          name: "cali-OUTPUT",
          rules: perPrefix((wl) =>
            rule(match().outInterface(wl).build(), Actions.return, "Host to workload is not policed"),
          ),
        },
      ],
      hooks: {
        INPUT: { insert: [jump("cali-INPUT")], append: [] },
        FORWARD: {
          insert: [jump("cali-FORWARD"), rule(acceptMarked, allow, "Policy explicitly accepted packet.")],
          append: [],
        },
        OUTPUT: { insert: [jump("cali-OUTPUT")], append: [] },
      },
    },
  };
  return cfg.proxyMode === "iptables" ? withServiceTables(tables, v, marks.masq) : tables;
}
