// Ids filed under labels: under `key` with a value, or under `key` alone (a
// selector's "has key" anchor; every item carrying the key). Two levels, key
// then value, rather than one map keyed by `key=value` text: the cold start
// files every pod's labels and looks up every new item's, and a fresh
// `key=value` string per lookup cost a concatenation, its hash and its garbage.

interface Entry {
  /** Filed under the key alone. */
  any: Set<string> | undefined;
  readonly byValue: Map<string, Set<string>>;
}

export class LabelFile {
  private readonly byKey = new Map<string, Entry>();

  /** Ids filed under `key=value`, or under `key` alone when value is undefined. */
  get(key: string, value: string | undefined): ReadonlySet<string> | undefined {
    const e = this.byKey.get(key);
    if (e === undefined) return undefined;
    return value === undefined ? e.any : e.byValue.get(value);
  }

  add(key: string, value: string | undefined, id: string): void {
    let e = this.byKey.get(key);
    if (e === undefined) {
      e = { any: undefined, byValue: new Map() };
      this.byKey.set(key, e);
    }
    if (value === undefined) {
      if (e.any === undefined) e.any = new Set();
      e.any.add(id);
    } else {
      let s = e.byValue.get(value);
      if (s === undefined) {
        s = new Set();
        e.byValue.set(value, s);
      }
      s.add(id);
    }
  }

  /** Removes the id; an emptied set goes, and so does an emptied key. */
  delete(key: string, value: string | undefined, id: string): void {
    const e = this.byKey.get(key);
    if (e === undefined) return;
    if (value === undefined) {
      if (e.any?.delete(id) && e.any.size === 0) e.any = undefined;
    } else {
      const s = e.byValue.get(value);
      if (s?.delete(id) && s.size === 0) e.byValue.delete(value);
    }
    if (e.any === undefined && e.byValue.size === 0) this.byKey.delete(key);
  }

  /** Every id filed, once per place it is filed. */
  *members(): Iterable<string> {
    for (const e of this.byKey.values()) {
      if (e.any) yield* e.any;
      for (const s of e.byValue.values()) yield* s;
    }
  }
}
