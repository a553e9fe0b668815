// Reading a snapshot part through an immer draft makes proxies for what is
// read (and iterating a draft Set copies it). Comparisons read the plain
// object the draft stands for instead.
//
// Worse, immer copies a record the moment one of its object values is read
// through the draft (to hold the child draft): comparing one IP set, route or
// endpoint with `d.ipsets[name]` copied the node's whole record of them
// (1,446 sets at the large preset), every flush, even when nothing was
// written. `peek` reads the record's current entry without that.

import { type Draft, isDraft, original } from "immer";
import { copyDict } from "../model/dict.js";

/** The plain object behind a draft value read from a draft; other values as they are. */
export function plain<T>(value: T): T {
  return value !== null && value !== undefined && isDraft(value) ? (original(value as Draft<T>) as T) : value;
}

/** immer's draft state (immer keeps it under this registered symbol): the record as written so far, or its base. */
const DRAFT_STATE = Symbol.for("immer-state");
interface DraftState {
  readonly copy_?: object;
  readonly base_: object;
}

/** The record as of now (a draft's current copy, else its base; a plain record as it is), for reading only. */
export function latest<T extends object>(record: T): T {
  if (!isDraft(record)) return record;
  const s = (record as unknown as Record<symbol, DraftState | undefined>)[DRAFT_STATE];
  if (!s || typeof s.base_ !== "object") return current(record); // not immer's layout: the slow, exact way
  return (s.copy_ ?? s.base_) as T;
}

/** `plain(record[key])` without immer copying the record for the read; undefined for a key it does not own. */
export function peek<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  if (record === undefined) return undefined;
  const now = latest(record);
  return Object.hasOwn(now, key) ? plain(now[key]) : undefined;
}

/**
 * `delete record[key]` when the record holds the key; returns whether it did. immer's delete copies a
 * draft record even for a key it does not hold: clearing an absent problem or sysctl copied the
 * node's whole record of them, every flush.
 */
export function deleteKey<T>(record: Record<string, T>, key: string): boolean {
  if (!Object.hasOwn(latest(record), key)) return false;
  delete record[key];
  return true;
}

function current<T extends object>(record: T): T {
  return copyDict(record as Record<string, unknown>) as T;
}
