// Value comparisons the graph makes before putting something into a snapshot
// (an equal value keeps the snapshot's object, so consumers see no change).

export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether `a` (a set, or a map by its keys) holds exactly the members of `b`. */
export function sameMembers(a: { readonly size: number; has(x: string): boolean }, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of b) if (!a.has(x)) return false;
  return true;
}
