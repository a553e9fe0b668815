// Plans one transaction bringing our table from what the kernel holds (the
// view) to the desired one. Only candidates are compared: with `applied` (the
// desired state the view was last brought to) the chains and sets that are
// not the same object in both snapshots, so a change costs O(change); without
// it (cold start, refresh) everything desired and everything in the kernel.
//
// The script, in an order that keeps every reference valid inside the one
// transaction (nft checks each command as it comes):
//   1. flush the chains that will be rewritten or deleted (their jumps and
//      @set uses go first),
//   2. delete stale maps (their elements may name a stale chain), then stale chains, base chains hooked
//      wrongly, stale and re-typed sets,
//   3. add sets and their elements; delete then add elements of changed sets,
//   4. declare new chains (base chains with their hook),
//   5. add the rules of new and rewritten chains.
// A changed chain is flushed and refilled in the same transaction, so no
// packet ever sees it half written; the table itself is never flushed.

import { type IpSetState, missingFrom } from "../model/ipset.js";
import { changedIpSets, type IpSets, ipSetList, ipSetNames, ipSetOf } from "../model/ipset-shards.js";
import { parseNatStage } from "../model/nat-shards.js";
import type { FamilyTables } from "../model/tables.js";
import { BUILTIN_CHAINS, chainNames, chainOf, changedChains, TABLE_NAMES, type TableName } from "../model/tables.js";
import { NftError, type NftFamily } from "./backend.js";
import { type BaseChainSpec, familyChains, hookChain, type NftChain, nftChainName } from "./chains.js";
import { commandsScript, type NftCommand, type NftSetKey } from "./commands.js";
import { NFT_TABLE, nftSetName } from "./names.js";
import { familyObjects, nftObjectElements, nftObjectSpec } from "./objects.js";
import { type NftObjects, objectNames, objectView, planObjects } from "./plan-objects.js";
import { assertSafeNftName, assertSafeNftRule, isSafeNftElement, isSafeNftName } from "./safe-text.js";
import { nftElements, nftSetSpec } from "./sets.js";
import { renderOneTable } from "./table-text.js";
import type { NftView, ViewChain, ViewSet } from "./view.js";

export interface NftDesired {
  readonly tables: FamilyTables;
  /** DesiredState's IP sets (both families: only this family's are used). */
  readonly sets: IpSets;
  /** DesiredState's nft-only objects (FELIX_PROXYMODE=nftables; both families). */
  readonly objects?: NftObjects;
}

export interface NftPlanStats {
  readonly chainsWritten: number;
  readonly chainsDeleted: number;
  /** Base chains (hook rules) among the chains written. */
  readonly hooksWritten: number;
  readonly setsWritten: number;
  readonly setsDeleted: number;
  readonly elementsAdded: number;
  readonly elementsRemoved: number;
  /** Commands in the script. */
  readonly linesWritten: number;
}

export interface NftPlan extends NftPlanStats {
  /** The transaction as `nft -f` text ("" when the kernel is in sync). */
  readonly script: string;
  /** The same transaction as commands; undefined for a whole table (cold start: `nft -f` of the script). */
  readonly commands?: readonly NftCommand[];
  /**
   * The view after the transaction: a whole table's (cold plan; null: still no
   * table), or what changes in `before` (`delta`: a chain or set to its new
   * state, null when deleted), so a change never copies the table's view.
   */
  readonly after?: NftView | null;
  readonly delta?: NftViewDelta;
}

export interface NftViewDelta {
  readonly chains: Map<string, ViewChain | null>;
  readonly sets: Map<string, ViewSet | null>;
}

/** A Map the object planner writes into as into a view: a delete is recorded as null (the delta's form). */
class DeltaSets extends Map<string, ViewSet> {
  constructor(private readonly delta: Map<string, ViewSet | null>) {
    super();
  }
  override set(k: string, v: ViewSet): this {
    this.delta.set(k, v);
    return this;
  }
  override delete(k: string): boolean {
    this.delta.set(k, null);
    return true;
  }
}

/** Brings `view` (the plan's input, owned by the caller) to the plan's outcome in place: O(change). */
export function applyPlan(view: NftView | null, plan: NftPlan): NftView | null {
  if (!plan.delta) return plan.after ?? null;
  if (!view) throw new Error("a delta plan without a view");
  for (const [k, v] of plan.delta.chains) v ? view.chains.set(k, v) : view.chains.delete(k);
  for (const [k, v] of plan.delta.sets) v ? view.sets.set(k, v) : view.sets.delete(k);
  return view;
}

/** A set's key once the plan is applied to `view`. */
export function setAfter(view: NftView | null, plan: NftPlan, name: string): ViewSet | undefined {
  if (plan.delta?.sets.has(name)) return plan.delta.sets.get(name) ?? undefined;
  return (plan.after ?? view)?.sets.get(name);
}

/** Elements per `add element` command: big sets go in several commands of one transaction. */
const ELEMENTS_PER_COMMAND = 1000;

/** The desired chain named `name` (`<table>-<chain>`), or undefined. */
function desiredChain(tables: FamilyTables, name: string): NftChain | undefined {
  const dash = name.indexOf("-");
  const table = name.slice(0, dash) as TableName;
  if (dash < 0 || !TABLE_NAMES.includes(table)) return undefined;
  const rest = name.slice(dash + 1);
  const hook = tables[table].hooks[rest];
  if (hook) {
    if (!BUILTIN_CHAINS[table].includes(rest) && !(table === "nat" && parseNatStage(rest))) {
      throw new Error(`table ${table}: hook rules for unknown chain ${rest}`);
    }
    return hookChain(table, rest, hook.insert, hook.append);
  }
  const c = chainOf(tables[table], rest);
  return c && { name, rules: c.rules };
}

function candidateChains(want: FamilyTables, view: NftView, applied?: FamilyTables): Set<string> {
  const out = new Set<string>();
  for (const t of TABLE_NAMES) {
    if (applied) {
      for (const c of changedChains(applied[t], want[t])) out.add(nftChainName(t, c));
      const [a, b] = [applied[t].hooks, want[t].hooks];
      if (a !== b)
        for (const h of new Set([...Object.keys(a), ...Object.keys(b)])) if (a[h] !== b[h]) out.add(nftChainName(t, h));
    } else {
      for (const c of chainNames(want[t])) out.add(nftChainName(t, c));
      for (const h of Object.keys(want[t].hooks)) out.add(nftChainName(t, h));
    }
  }
  if (!applied) for (const c of view.chains.keys()) out.add(c);
  return out;
}

function candidateSets(family: NftFamily, want: NftDesired, view: NftView, applied?: NftDesired) {
  const v = family === "ip" ? 4 : 6;
  const out = new Map<string, IpSetState | undefined>();
  const keys = applied ? changedIpSets(applied.sets, want.sets) : ipSetNames(want.sets);
  for (const k of keys) {
    const s = ipSetOf(want.sets, k);
    const old = applied && ipSetOf(applied.sets, k);
    if ((s ?? old)?.family !== v) continue;
    out.set(nftSetName(k), s);
  }
  if (!applied) for (const n of view.sets.keys()) if (!out.has(n)) out.set(n, undefined);
  // Maps and affinity sets are plan-objects.ts's; a stale one is deleted here like a stale set.
  for (const n of objectNames(want.objects, family)) out.delete(n);
  return out;
}

const sameBase = (a?: BaseChainSpec, b?: BaseChainSpec) =>
  a?.type === b?.type && a?.hook === b?.hook && a?.priority === b?.priority;

function sameHashes(have: readonly (string | undefined)[], want: NftChain["rules"]): boolean {
  if (have.length !== want.length) return false;
  for (let i = 0; i < have.length; i++) if (have[i] !== want[i].hash) return false;
  return true;
}

/** `table`: which of our tables `want` is for (parts.ts splits a family's desired state). */
export function planNft(
  family: NftFamily,
  want: NftDesired,
  view: NftView | null,
  applied?: NftDesired,
  table = NFT_TABLE,
): NftPlan {
  if (view === null) return coldPlan(family, want, table);
  const flush: NftCommand[] = [];
  const deletes: NftCommand[] = [];
  const setCmds: NftCommand[] = [];
  const declare: NftCommand[] = [];
  const rules: NftCommand[] = [];
  const delta: NftViewDelta = { chains: new Map(), sets: new Map() };
  let [chainsWritten, chainsDeleted, hooksWritten, setsWritten, setsDeleted, added, removed] = [0, 0, 0, 0, 0, 0, 0];

  const addElements = (set: string, key: NftSetKey, elems: Iterable<string>, op: "add" | "delete" = "add") => {
    let batch: string[] = [];
    const emit = () => {
      if (batch.length) setCmds.push({ op: `${op} element`, set, key, elements: batch });
    };
    for (const e of elems) {
      batch.push(e);
      if (batch.length === ELEMENTS_PER_COMMAND) {
        emit();
        batch = [];
      }
    }
    emit();
  };
  const rewrite = new Set<string>();
  // The object planner writes its outcome into an NftView: here, into the delta.
  const objs = planObjects(
    family,
    want.objects,
    view,
    { chains: new Map(), sets: new DeltaSets(delta.sets) },
    applied?.objects,
    [],
  );
  for (const name of objs.recreated) {
    for (const c of familyChains(want.tables)) if (c.rules.some((r) => usesSet(r.text, name))) rewrite.add(c.name);
  }

  for (const [name, s] of [...candidateSets(family, want, view, applied)].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const have = view.sets.get(name);
    if (!s) {
      if (have) {
        kernelName(name);
        deletes.push({ op: "delete set", set: name });
        delta.sets.set(name, null);
        setsDeleted++;
      }
      continue;
    }
    const spec = nftSetSpec(s);
    const elems = nftElements(s);
    assertSafeNftName(name);
    const retyped = have && (have.type !== spec.type || have.interval !== spec.interval);
    if (!have || retyped) {
      if (retyped) {
        deletes.push({ op: "delete set", set: name });
        removed += have.elements.size;
        // Rules using it go first, even in chains that did not change: re-added after the set.
        for (const c of familyChains(want.tables)) if (c.rules.some((r) => usesSet(r.text, name))) rewrite.add(c.name);
      }
      const key = { type: spec.type, interval: spec.interval };
      setCmds.push({ op: "add set", set: name, key });
      addElements(name, key, elems);
      setsWritten++;
      added += elems.size;
    } else {
      const dels = missingFrom(elems, have.elements).map((e) => kernelElement(e, name));
      const adds = missingFrom(have.elements, elems);
      if (dels.length + adds.length === 0) continue;
      // Deletes first: an interval set refuses a new element overlapping one still there.
      addElements(name, have, dels, "delete");
      addElements(name, spec, adds);
      removed += dels.length;
      added += adds.length;
    }
    delta.sets.set(name, { type: spec.type, interval: spec.interval, elements: elems } satisfies ViewSet);
  }

  for (const name of [...new Set([...candidateChains(want.tables, view, applied?.tables), ...rewrite])].sort()) {
    const w = desiredChain(want.tables, name);
    const h = view.chains.get(name);
    if (!w) {
      if (!h) continue;
      kernelName(name);
      flush.push({ op: "flush chain", chain: name });
      deletes.push({ op: "delete chain", chain: name });
      delta.chains.set(name, null);
      chainsDeleted++;
      continue;
    }
    const rehook = h && !sameBase(h.base, w.base);
    const policy = h?.base && !rehook && h.base.policy !== "accept";
    if (h && !rehook && !rewrite.has(name) && !policy && sameHashes(h.hashes, w.rules)) continue;
    assertSafeNftName(name);
    if (h) flush.push({ op: "flush chain", chain: name });
    if (rehook) deletes.push({ op: "delete chain", chain: name });
    if (!h || rehook || policy) declare.push({ op: "add chain", chain: name, base: w.base });
    for (const r of w.rules) {
      assertSafeNftRule(r.text);
      rules.push({ op: "add rule", chain: name, rule: r.text });
    }
    const base = w.base && { ...w.base, policy: "accept" };
    delta.chains.set(name, { base, hashes: w.rules.map((r) => r.hash) } satisfies ViewChain);
    chainsWritten++;
    if (w.base) hooksWritten++;
  }
  // Map elements name chains: deleted before any chain goes, added once the chains exist (plan-objects.ts).
  // A stale map goes whole before the chains too: its elements may name one of them (the kernel refuses
  // to delete a chain a map still jumps to); the rules that used the map were flushed above.
  const commands: NftCommand[] = [
    ...flush,
    ...objs.elementDeletes,
    ...objs.deletes,
    ...deletes,
    ...setCmds,
    ...objs.declares,
    ...declare,
    ...objs.elementAdds,
    ...rules,
  ];
  // Each command is a new object of this plan's: its table set in place, not by a copy of each (a rewritten chain is hundreds of rules).
  for (const c of commands) (c as { table?: string }).table = table;
  // The text is for `nft -f` (a fallback, felix-dump): not built for a netlink write.
  let script: string | undefined;
  setsWritten += objs.setsWritten;
  setsDeleted += objs.setsDeleted;
  added += objs.elementsAdded;
  removed += objs.elementsRemoved;
  const stats = { chainsWritten, chainsDeleted, hooksWritten, setsWritten, setsDeleted };
  return {
    get script() {
      script ??= commandsScript(family, commands);
      return script;
    },
    commands,
    delta,
    ...stats,
    elementsAdded: added,
    elementsRemoved: removed,
    linesWritten: commands.length,
  };
}

/** No table yet: the whole table in one transaction, the very text felix-dump prints. */
function coldPlan(family: NftFamily, want: NftDesired, table: string): NftPlan {
  const plan = coldView(family, want);
  const script = plan.after === null ? "" : renderOneTable(family, table, want);
  let lines = 0;
  for (let at = script.indexOf("\n"); at !== -1; at = script.indexOf("\n", at + 1)) lines++;
  return { ...plan, script, linesWritten: lines };
}

/**
 * coldPlan without its text: the view once `want` is loaded into no table (null: nothing to
 * load) and the counts; a cold load streams the text (cold-load.ts) and builds this meanwhile.
 */
export function coldView(family: NftFamily, want: NftDesired): Omit<NftPlan, "script" | "linesWritten"> {
  const after: NftView = { chains: new Map(), sets: new Map() };
  let elementsAdded = 0;
  let hooksWritten = 0;
  for (const c of familyChains(want.tables)) {
    after.chains.set(c.name, { base: c.base && { ...c.base, policy: "accept" }, hashes: c.rules.map((r) => r.hash) });
    if (c.base) hooksWritten++;
  }
  const v = family === "ip" ? 4 : 6;
  for (const s of ipSetList(want.sets)) {
    if (s.family !== v) continue;
    const spec = nftSetSpec(s);
    after.sets.set(spec.name, { type: spec.type, interval: spec.interval, elements: nftElements(s) });
    elementsAdded += nftElements(s).size;
  }
  for (const o of familyObjects(want.objects, v)) {
    const elems = nftObjectElements(o);
    after.sets.set(o.name, objectView(nftObjectSpec(o), elems));
    elementsAdded += elems.size;
  }
  const empty = after.chains.size === 0 && after.sets.size === 0;
  return {
    after: empty ? null : after,
    chainsWritten: after.chains.size,
    chainsDeleted: 0,
    hooksWritten,
    setsWritten: after.sets.size,
    setsDeleted: 0,
    elementsAdded,
    elementsRemoved: 0,
  };
}

/**
 * A stale name or element read from our table, checked before we write it
 * back: something that could not be one token of a script (put there by
 * someone else) fails the transaction, and the syncer's last retry replaces
 * the table instead of splicing it in.
 */
function kernelName(name: string): void {
  if (!isSafeNftName(name)) throw new NftError(`our table holds an object named ${JSON.stringify(name)}`);
}

function kernelElement(e: string, set: string): string {
  if (!isSafeNftElement(e)) throw new NftError(`set ${set} holds an element ${JSON.stringify(e)} we will not write`);
  return e;
}

/** Whether a rule text refers to set `name` (`@name` as a whole token). */
export function usesSet(text: string, name: string): boolean {
  for (let at = text.indexOf(`@${name}`); at !== -1; at = text.indexOf(`@${name}`, at + 1)) {
    const next = text[at + name.length + 1];
    if (next === undefined || !/[A-Za-z0-9_.-]/.test(next)) return true;
  }
  return false;
}

/** The view our table has once `want` is loaded (what a read-back must equal). */
export function desiredView(family: NftFamily, want: NftDesired, table = NFT_TABLE): NftView {
  return coldPlan(family, want, table).after ?? { chains: new Map(), sets: new Map() };
}
