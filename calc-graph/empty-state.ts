// The snapshot before any flush, and the copy the first (whole-cluster) flush
// mutates without immer's per-object draft and finalize work.

import type { Draft } from "immer";
import { type FamilyTables, TABLE_NAMES, type TableName, type TableState, tableState } from "../model/tables.js";
import type { DesiredState } from "./desired-state.js";
import { EMPTY_NETWORK } from "./network/state.js";

function emptyTables(): FamilyTables {
  const t = {} as Record<TableName, TableState>;
  for (const n of TABLE_NAMES) t[n] = tableState();
  return t;
}

export function emptyState(nodeName: string): DesiredState {
  return {
    nodeName,
    iptables: { ipv4: emptyTables(), ipv6: emptyTables() },
    ipsets: {},
    endpoints: {},
    routes: {},
    sysctls: {},
    services: {},
    problems: {},
    network: EMPTY_NETWORK,
  };
}

/** `recipe` applied to a deep copy of `base` (no other snapshot shares its objects). */
export function mutatedCopy(base: DesiredState, recipe: (d: Draft<DesiredState>) => void): DesiredState {
  const d = structuredClone(base) as Draft<DesiredState>;
  recipe(d);
  return d as DesiredState;
}
