// A set of keys with O(1) add, delete and random pick: the synthetic cluster's
// pools of pods, policies and slices to draw changes from.

import type { Rng } from "./rng.js";

/** An array with O(1) add, remove and random pick. */
export class Pool {
  private readonly items: string[] = [];
  private readonly index = new Map<string, number>();
  get size(): number {
    return this.items.length;
  }
  has(k: string): boolean {
    return this.index.has(k);
  }
  add(k: string): void {
    if (this.index.has(k)) return;
    this.index.set(k, this.items.length);
    this.items.push(k);
  }
  delete(k: string): void {
    const i = this.index.get(k);
    if (i === undefined) return;
    const last = this.items.pop()!;
    if (last !== k) {
      this.items[i] = last;
      this.index.set(last, i);
    }
    this.index.delete(k);
  }
  pick(rng: Rng): string {
    if (this.items.length === 0) throw new Error("pick from an empty pool");
    return this.items[rng.int(this.items.length)];
  }
  values(): readonly string[] {
    return this.items;
  }
}
