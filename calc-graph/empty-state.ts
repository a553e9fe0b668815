// The snapshot before any flush, and the copy the first (whole-cluster) flush
// mutates without immer's per-object draft and finalize work.

import type { Draft } from "immer";
import { dict } from "../model/dict.js";
import { emptyIpSets } from "../model/ipset-shards.js";
import { type FamilyTables, TABLE_NAMES, type TableName, type TableState, tableState } from "../model/tables.js";
import type { DesiredState } from "./desired-state.js";
import { EMPTY_NETWORK } from "./network/state.js";
import { noServicePorts } from "./services/port-shards.js";

function emptyTables(): FamilyTables {
  const t = {} as Record<TableName, TableState>;
  for (const n of TABLE_NAMES) t[n] = tableState();
  return t;
}

export function emptyState(nodeName: string): DesiredState {
  return {
    nodeName,
    iptables: { ipv4: emptyTables(), ipv6: emptyTables() },
    ipsets: emptyIpSets(),
    endpoints: dict(),
    routes: dict(),
    sysctls: dict(),
    services: noServicePorts(),
    problems: dict(),
    network: EMPTY_NETWORK,
  };
}

/** `recipe` applied to a deep copy of `base` (no other snapshot shares its objects). */
export function mutatedCopy(base: DesiredState, recipe: (d: Draft<DesiredState>) => void): DesiredState {
  const d = deepCopy(base) as Draft<DesiredState>;
  recipe(d);
  return d as DesiredState;
}

/** Like structuredClone, but an object keeps its prototype: a record without one (model/dict.ts) stays a hash table. */
function deepCopy<T>(v: T): T {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(deepCopy) as T;
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, deepCopy(x)])) as T;
  if (v instanceof Set) return new Set([...v].map(deepCopy)) as T;
  const out = Object.create(Object.getPrototypeOf(v)) as Record<string, unknown>;
  for (const k of Object.keys(v)) out[k] = deepCopy((v as Record<string, unknown>)[k]);
  return out as T;
}
