// Label index with inheritance: items (endpoints) carry their own labels and
// inherit those of their parents (profiles `kns.`/`ksa.`, which supply the
// `pcns.*`/`pcsa.*` labels); own labels win. Selectors registered here are
// kept matched against the items, and every change of a (selector, item)
// match is told to the `onMatch` listeners (in the order they were added).
//
// Cost of an update is kept proportional to what it can affect:
//   - a new selector is tested only against items carrying its required
//     label (`requiredLabel`), when it has one;
//   - a new item is tested only against selectors it can satisfy: those
//     filed under one of its labels, plus those with no required label;
//   - a label change re-tests only the selectors that mention a changed key.

import { LabelFile } from "./label-file.js";
import { sameList } from "./same.js";
import { type Labels, matches, mentionedKeys, requiredLabels, type Selector } from "./selector/selector.js";

/** A (selector, item) match began (`matched`) or ended. */
export type MatchListener = (selectorId: string, itemId: string, matched: boolean) => void;

interface Item {
  own: Readonly<Record<string, string>>;
  parents: readonly string[];
  effective: Map<string, string>;
}

interface SelectorEntry {
  readonly selector: Selector;
  readonly keys: ReadonlySet<string>;
  /** The label it is filed under (relabel checks it for every selector mentioning a changed key). */
  readonly anchorLabel: AnchorLabel | undefined;
}

interface AnchorLabel {
  readonly key: string;
  /** The key with one of these values (`k == v`: one; `k in {…}`: several); undefined: "has key". */
  readonly values: readonly string[] | undefined;
}

export class LabelIndex {
  // A plain list, not an rxjs Subject: a namespace label change tells one match per pod and set,
  // and Subject.next made a closure, an iterator and an event object for each.
  private readonly listeners: MatchListener[] = [];
  /** How many selector evaluations ran: the cost measure tests and benchmarks read. */
  evaluations = 0;

  private readonly items = new Map<string, Item>();
  private readonly parents = new Map<string, Readonly<Record<string, string>>>();
  private readonly itemsByParent = new Map<string, Set<string>>();
  private readonly selectors = new Map<string, SelectorEntry>();
  private readonly selectorsByKey = new Map<string, Set<string>>();
  private readonly selectorsByAnchor = new LabelFile();
  private readonly unanchored = new Set<string>();
  /** `k=v` and `k` → items whose effective labels carry them. */
  private readonly itemsByLabel = new LabelFile();
  private readonly matchesBySelector = new Map<string, Set<string>>();
  private readonly matchesByItem = new Map<string, Set<string>>();

  /** Calls `listener` on every later change of a (selector, item) match. */
  onMatch(listener: MatchListener): void {
    this.listeners.push(listener);
  }

  /** Items the selector currently matches. */
  itemsMatching(selectorId: string): ReadonlySet<string> {
    return this.matchesBySelector.get(selectorId) ?? EMPTY;
  }

  /** Selectors currently matching the item. */
  selectorsMatching(itemId: string): ReadonlySet<string> {
    return this.matchesByItem.get(itemId) ?? EMPTY;
  }

  updateSelector(id: string, selector: Selector | null): void {
    const old = this.selectors.get(id);
    if (old) {
      this.unfileSelector(id, old);
      this.selectors.delete(id);
    }
    if (selector === null) {
      for (const itemId of [...this.itemsMatching(id)]) this.setMatch(id, itemId, false);
      this.matchesBySelector.delete(id);
      return;
    }
    const anchorLabel = this.bestAnchor(selector);
    const entry: SelectorEntry = { selector, keys: mentionedKeys(selector), anchorLabel };
    this.selectors.set(id, entry);
    this.fileSelector(id, entry);
    const now = new Set<string>();
    const test = (candidates: Iterable<string>) => {
      for (const itemId of candidates) {
        this.evaluations++;
        if (matches(selector, this.items.get(itemId)!.effective)) now.add(itemId);
      }
    };
    if (anchorLabel === undefined) test(this.items.keys());
    else if (anchorLabel.values === undefined) test(this.itemsByLabel.get(anchorLabel.key, undefined) ?? EMPTY);
    // An item has one value per key: the values' sets are disjoint.
    else for (const v of anchorLabel.values) test(this.itemsByLabel.get(anchorLabel.key, v) ?? EMPTY);
    for (const itemId of [...this.itemsMatching(id)]) if (!now.has(itemId)) this.setMatch(id, itemId, false);
    for (const itemId of now) this.setMatch(id, itemId, true);
  }

  /** The required label carried by the fewest items now: the fewest candidates to test. */
  private bestAnchor(selector: Selector): AnchorLabel | undefined {
    let best: AnchorLabel | undefined;
    let bestSize = Number.POSITIVE_INFINITY;
    for (const r of requiredLabels(selector)) {
      let size = 0;
      if (r.values === undefined) size = this.itemsByLabel.get(r.key, undefined)?.size ?? 0;
      else for (const v of r.values) size += this.itemsByLabel.get(r.key, v)?.size ?? 0;
      if (size < bestSize) {
        best = { key: r.key, values: r.values };
        bestSize = size;
      }
    }
    return best;
  }

  updateParent(id: string, labels: Readonly<Record<string, string>> | null): void {
    if (labels === null) this.parents.delete(id);
    else this.parents.set(id, labels);
    for (const itemId of this.itemsByParent.get(id) ?? EMPTY) {
      const item = this.items.get(itemId)!;
      this.relabel(itemId, item, computeEffective(item.own, item.parents, this.parents));
    }
  }

  updateItem(id: string, labels: Readonly<Record<string, string>> | null, parents: readonly string[] = []): void {
    const old = this.items.get(id);
    if (labels === null) {
      if (!old) return;
      for (const selId of [...this.selectorsMatching(id)]) this.setMatch(selId, id, false);
      this.unfileItem(id, old);
      this.items.delete(id);
      return;
    }
    const effective = computeEffective(labels, parents, this.parents);
    if (!old) {
      const item: Item = { own: labels, parents, effective };
      this.items.set(id, item);
      this.fileItem(id, item);
      for (const selId of this.candidateSelectors(effective)) {
        this.evaluations++;
        if (matches(this.selectors.get(selId)!.selector, effective)) this.setMatch(selId, id, true);
      }
      return;
    }
    if (!sameList(old.parents, parents)) {
      this.unfileParents(id, old.parents);
      old.parents = parents;
      this.fileParents(id, parents);
    }
    old.own = labels;
    this.relabel(id, old, effective);
  }

  /**
   * Brings the item's effective labels to `next` in place: the item's Map lives as long as the
   * item, and a new one per relabel was old-generation garbage (a namespace label change
   * relabels every pod in it); `next` is left to the next scavenge.
   */
  private relabel(id: string, item: Item, next: Map<string, string>): void {
    const changed = changedKeys(item.effective, next);
    if (changed.length === 0) return;
    const labels = item.effective;
    const before = new Map<string, string | undefined>();
    // Refile only the changed keys: a namespace label change relabels every pod in it.
    for (const k of changed) {
      const was = labels.get(k);
      const now = next.get(k);
      before.set(k, was);
      if (was !== undefined) this.itemsByLabel.delete(k, was, id);
      if (now !== undefined) this.itemsByLabel.add(k, now, id);
      if (was === undefined) this.itemsByLabel.add(k, undefined, id);
      else if (now === undefined) this.itemsByLabel.delete(k, undefined, id);
      if (now === undefined) labels.delete(k);
      else labels.set(k, now);
    }
    // What the item carried before: the old value of a changed key, else what it carries now.
    const carriedBefore = (a: AnchorLabel) => {
      if (!before.has(a.key)) return carries(labels, a);
      const was = before.get(a.key);
      return was !== undefined && (a.values === undefined || a.values.includes(was));
    };
    const toCheck = new Set<string>();
    for (const k of changed) {
      for (const selId of this.selectorsByKey.get(k) ?? EMPTY) {
        // A selector whose required label is on neither version cannot match either.
        const anchor = this.selectors.get(selId)!.anchorLabel;
        if (anchor === undefined || carriedBefore(anchor) || carries(labels, anchor)) toCheck.add(selId);
      }
    }
    for (const selId of toCheck) {
      this.evaluations++;
      this.setMatch(selId, id, matches(this.selectors.get(selId)!.selector, labels));
    }
  }

  /** Selectors that may match an item with these labels: the unanchored ones and those anchored on one of its labels. */
  private candidateSelectors(labels: Labels): string[] {
    const out = [...this.unanchored];
    for (const [k, v] of labels) {
      for (const id of this.selectorsByAnchor.get(k, v) ?? EMPTY) out.push(id);
      for (const id of this.selectorsByAnchor.get(k, undefined) ?? EMPTY) out.push(id);
    }
    return out;
  }

  private setMatch(selectorId: string, itemId: string, matched: boolean): void {
    const bySel = this.matchesBySelector.get(selectorId);
    if (matched === (bySel?.has(itemId) ?? false)) return;
    if (matched) {
      getOrCreate(this.matchesBySelector, selectorId).add(itemId);
      getOrCreate(this.matchesByItem, itemId).add(selectorId);
    } else {
      deleteFrom(this.matchesBySelector, selectorId, itemId);
      deleteFrom(this.matchesByItem, itemId, selectorId);
    }
    for (let i = 0; i < this.listeners.length; i++) this.listeners[i](selectorId, itemId, matched);
  }

  private fileSelector(id: string, e: SelectorEntry): void {
    for (const k of e.keys) getOrCreate(this.selectorsByKey, k).add(id);
    const a = e.anchorLabel;
    if (a === undefined) this.unanchored.add(id);
    else if (a.values === undefined) this.selectorsByAnchor.add(a.key, undefined, id);
    else for (const v of a.values) this.selectorsByAnchor.add(a.key, v, id);
  }

  private unfileSelector(id: string, e: SelectorEntry): void {
    for (const k of e.keys) deleteFrom(this.selectorsByKey, k, id);
    const a = e.anchorLabel;
    if (a === undefined) this.unanchored.delete(id);
    else if (a.values === undefined) this.selectorsByAnchor.delete(a.key, undefined, id);
    else for (const v of a.values) this.selectorsByAnchor.delete(a.key, v, id);
  }

  private fileItem(id: string, item: Item): void {
    this.fileParents(id, item.parents);
    this.fileLabels(id, item.effective);
  }

  private unfileItem(id: string, item: Item): void {
    this.unfileParents(id, item.parents);
    this.unfileLabels(id, item.effective);
  }

  private fileParents(id: string, parents: readonly string[]): void {
    for (const p of parents) getOrCreate(this.itemsByParent, p).add(id);
  }

  private unfileParents(id: string, parents: readonly string[]): void {
    for (const p of parents) deleteFrom(this.itemsByParent, p, id);
  }

  private fileLabels(id: string, labels: Labels): void {
    for (const [k, v] of labels) {
      this.itemsByLabel.add(k, v, id);
      this.itemsByLabel.add(k, undefined, id);
    }
  }

  private unfileLabels(id: string, labels: Labels): void {
    for (const [k, v] of labels) {
      this.itemsByLabel.delete(k, v, id);
      this.itemsByLabel.delete(k, undefined, id);
    }
  }
}

const EMPTY: ReadonlySet<string> = new Set();

function carries(labels: Labels, anchor: AnchorLabel): boolean {
  if (anchor.values === undefined) return labels.has(anchor.key);
  const v = labels.get(anchor.key);
  return v !== undefined && anchor.values.includes(v);
}

function computeEffective(
  own: Readonly<Record<string, string>>,
  parents: readonly string[],
  parentLabels: ReadonlyMap<string, Readonly<Record<string, string>>>,
): Map<string, string> {
  // No entry arrays: a namespace label change recomputes every pod of the namespace.
  const m = new Map<string, string>();
  for (const p of parents) {
    const labels = parentLabels.get(p);
    if (labels) for (const k in labels) if (Object.hasOwn(labels, k)) m.set(k, labels[k]);
  }
  for (const k in own) if (Object.hasOwn(own, k)) m.set(k, own[k]);
  return m;
}

function changedKeys(a: Labels, b: Labels): string[] {
  const out: string[] = [];
  a.forEach((v, k) => {
    if (b.get(k) !== v) out.push(k);
  });
  b.forEach((_, k) => {
    if (!a.has(k)) out.push(k);
  });
  return out;
}

function getOrCreate<K, V>(m: Map<K, Set<V>>, k: K): Set<V> {
  let s = m.get(k);
  if (!s) {
    s = new Set();
    m.set(k, s);
  }
  return s;
}

function deleteFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}
