// The static plumbing of host endpoints (Felix's static.go), added to the
// static tables while this node has a host endpoint: without one, Felix's
// chains would be empty pass-throughs, so a node without host endpoints keeps
// its shorter per-packet path.
//
//   raw     cali-PREROUTING: non-workload traffic → cali-from-host-endpoint
//                            (untracked policy); ACCEPT if it accepted
//           cali-OUTPUT:     → cali-to-host-endpoint; ACCEPT if it accepted
//   mangle  cali-PREROUTING: → cali-from-host-endpoint (pre-DNAT policy);
//                            ACCEPT if it accepted
//           cali-POSTROUTING (new, POSTROUTING): host traffic that was DNAT'd
//                            → cali-to-host-endpoint (its egress policy,
//                            once the kernel knows the real out-interface)
//   filter  cali-INPUT:   ACCEPT what raw/mangle accepted, then
//                         → cali-from-host-endpoint; ACCEPT if it accepted
//           cali-OUTPUT:  ACCEPT what raw accepted first; at the end, traffic
//                         not DNAT'd → cali-to-host-endpoint; ACCEPT if accepted
//           cali-FORWARD: → cali-from-hep-forward (unless raw/mangle accepted)
//                         before the workload dispatch, → cali-to-hep-forward after
//   and cali-failsafe-in / cali-failsafe-out in raw, mangle and filter.

import { Actions, type Chain, match, NO_MATCH, type Rule, rule } from "../../model/rule.js";
import type { TableName } from "../../model/tables.js";
import type { RuleSettings } from "../config/settings.js";
import type { IpVersion } from "../model.js";
import { failsafeChains } from "./failsafe.js";
import { allowAction } from "./filter-actions.js";
import {
  DISPATCH_FROM_HOST_ENDPOINT,
  DISPATCH_FROM_HOST_ENDPOINT_FORWARD,
  DISPATCH_TO_HOST_ENDPOINT,
  DISPATCH_TO_HOST_ENDPOINT_FORWARD,
} from "./host-endpoint-names.js";
import type { Marks } from "./marks.js";

interface Table {
  readonly chains: readonly Chain[];
  readonly hooks: Readonly<Record<string, { insert: readonly Rule[]; append: readonly Rule[] }>>;
}

const ACCEPTED = "Host endpoint policy accepted packet.";

export function withHostEndpointTables<T extends Table>(
  tables: Record<TableName, T>,
  s: RuleSettings,
  marks: Marks,
  v: IpVersion,
  ipvs = false,
): Record<TableName, Table> {
  const allow = allowAction({ allow: s.filterAllowAction, deny: s.filterDenyAction, marks });
  const accepted = match().mark(marks.accept, marks.accept).build();
  const notAccepted = match().mark(0, marks.accept).build();
  const clear = rule(NO_MATCH, Actions.clearMark(marks.calico));
  const edit = (t: Table, name: string, f: (rules: readonly Rule[]) => Rule[]): Chain[] =>
    t.chains.map((c) => (c.name === name ? { name, rules: f(c.rules) } : c));

  const raw = tables.raw;
  const rawChains = edit(raw, "cali-PREROUTING", (r) => [
    ...r,
    rule(match().mark(0, marks.scratch0).build(), Actions.jump(DISPATCH_FROM_HOST_ENDPOINT)),
    rule(accepted, Actions.accept),
  ]).map((c) =>
    c.name === "cali-OUTPUT"
      ? {
          name: c.name,
          rules: [...c.rules, rule(NO_MATCH, Actions.jump(DISPATCH_TO_HOST_ENDPOINT)), rule(accepted, Actions.accept)],
        }
      : c,
  );

  const mangle = tables.mangle;
  const manglePre = edit(mangle, "cali-PREROUTING", (r) => [
    ...r,
    rule(NO_MATCH, Actions.jump(DISPATCH_FROM_HOST_ENDPOINT)),
    rule(accepted, Actions.accept, ACCEPTED),
  ]);
  const manglePost: Chain = {
    name: "cali-POSTROUTING",
    rules: [
      // Forwarded traffic (filter FORWARD set the mark) is not host traffic.
      rule(accepted, Actions.return),
      // Nor is IPVS-forwarded traffic (an endpoint mark from filter INPUT).
      ...(ipvs && marks.endpoint !== 0 ? [rule(match().mark(0, marks.endpoint, true).build(), Actions.return)] : []),
      clear,
      rule(match().ctDnat().build(), Actions.jump(DISPATCH_TO_HOST_ENDPOINT)),
      rule(accepted, Actions.return, ACCEPTED),
    ],
  };

  const filter = tables.filter;
  const hepTail = (dispatch: string, m = NO_MATCH) => [
    clear,
    rule(m, Actions.jump(dispatch)),
    rule(accepted, allow, ACCEPTED),
  ];
  const filterChains = filter.chains.map((c): Chain => {
    switch (c.name) {
      case "cali-INPUT":
        return { name: c.name, rules: [...c.rules, rule(accepted, allow), ...hepTail(DISPATCH_FROM_HOST_ENDPOINT)] };
      case "cali-OUTPUT":
        return {
          name: c.name,
          rules: [
            rule(accepted, allow),
            ...c.rules,
            ...hepTail(DISPATCH_TO_HOST_ENDPOINT, match().ctDnat(true).build()),
          ],
        };
      case "cali-forward-endpoint-mark": {
        // IPVS-forwarded traffic leaving through a host endpoint gets its applyOnForward egress policy (Felix).
        const found = c.rules.findIndex((r) => r.action.kind === "setMark" && r.action.value === 0);
        const at = found < 0 ? c.rules.length : found;
        const toHep = rule(NO_MATCH, Actions.jump(DISPATCH_TO_HOST_ENDPOINT_FORWARD));
        return { name: c.name, rules: [...c.rules.slice(0, at), toHep, ...c.rules.slice(at)] };
      }
      case "cali-FORWARD":
        return {
          name: c.name,
          rules: [
            c.rules[0],
            rule(notAccepted, Actions.jump(DISPATCH_FROM_HOST_ENDPOINT_FORWARD)),
            ...c.rules.slice(1),
            rule(NO_MATCH, Actions.jump(DISPATCH_TO_HOST_ENDPOINT_FORWARD)),
          ],
        };
      default:
        return c;
    }
  });

  return {
    ...tables,
    raw: { chains: [...failsafeChains(s, "raw", v), ...rawChains], hooks: raw.hooks },
    mangle: {
      chains: [...failsafeChains(s, "mangle", v), ...manglePre, manglePost],
      hooks: {
        ...mangle.hooks,
        POSTROUTING: { insert: [rule(NO_MATCH, Actions.jump("cali-POSTROUTING"))], append: [] },
      },
    },
    filter: { chains: [...failsafeChains(s, "filter", v), ...filterChains], hooks: filter.hooks },
  };
}
