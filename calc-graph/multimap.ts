// A map from a string to a set of strings that keeps a lone member as the
// bare string: most pod addresses have exactly one holder, and a Set per
// address costs ~10 times a string reference at tens of thousands of pods.

export class StringMultimap {
  private readonly m = new Map<string, string | Set<string>>();

  add(k: string, v: string): void {
    const cur = this.m.get(k);
    if (cur === undefined) this.m.set(k, v);
    else if (typeof cur === "string") {
      if (cur !== v) this.m.set(k, new Set([cur, v]));
    } else cur.add(v);
  }

  delete(k: string, v: string): void {
    const cur = this.m.get(k);
    if (cur === undefined) return;
    if (typeof cur === "string") {
      if (cur === v) this.m.delete(k);
      return;
    }
    cur.delete(v);
    if (cur.size === 1) this.m.set(k, cur.values().next().value as string);
  }

  /** The members of `k` (none: empty). */
  get(k: string): readonly string[] {
    const cur = this.m.get(k);
    return cur === undefined ? [] : typeof cur === "string" ? [cur] : [...cur];
  }

  /** The keys and their members. */
  *entries(): Iterable<[string, readonly string[]]> {
    for (const k of this.m.keys()) yield [k, this.get(k)];
  }

  get size(): number {
    return this.m.size;
  }
}
