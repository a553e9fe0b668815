// A table syncer's restore input as parts (each table's input ends with its
// own `COMMIT\n` part): what is added to it, where it is held, its size.

import type { HoldAt } from "./exec.js";
import type { TablePlan } from "./table-syncer.js";

/** A plan's main transaction that also deletes its stale chains (after the rules that jumped to them are gone). */
export function withDeletes(p: Pick<TablePlan, "input" | "removed">): readonly string[] {
  return [...p.input.slice(0, -1), p.removed.map((c) => `-X ${c}\n`).join(""), "COMMIT\n"];
}

/** The COMMIT of each table whose input uses an IP set (the last part of a table's input), held until `until`. */
export function holdSetUsers(inputs: readonly (readonly string[])[], until: Promise<unknown>): HoldAt {
  const indexes = new Set<number>();
  let at = 0;
  for (const parts of inputs) {
    at += parts.length;
    if (parts.some((p) => p.includes("--match-set "))) indexes.add(at - 1);
  }
  return { indexes, until };
}

/** UTF-8 bytes of text given as parts. */
export function textBytes(parts: readonly string[]): number {
  let n = 0;
  for (const p of parts) n += Buffer.byteLength(p);
  return n;
}
