// Which services each nat shard holds, which shards' dispatch a flush must
// rewrite, and the writing of a shard's dispatch chains and nat hooks (both
// proxy layouts; model/nat-shards.ts, rules/services-shards.ts). A service
// change rewrites its own shard's dispatch only (O(shard), not O(services)); a
// shard other than 0 is in the dataplane only while it holds a service.

import { castDraft, type Draft } from "immer";
import { sameRules } from "../../model/chain-render.js";
import { natShardOf } from "../../model/nat-shards.js";
import type { ChainStats, ChainWrites } from "../chain-writer.js";
import { type DesiredState, familyKey } from "../desired-state.js";
import type { IpVersion } from "../model.js";
import { plain } from "../plain.js";
import type { ShardDispatch } from "../rules/services-shards.js";
import type { ServiceId } from "./service-index.js";

export class NatShardTracker {
  private readonly members = new Map<number, Set<ServiceId>>();
  private readonly dirty = new Set<number>();

  /** `shards`: the rule backend's nat tables (1: not sharded). */
  constructor(readonly shards: number) {}

  get sharded(): boolean {
    return this.shards > 1;
  }

  shardOf(id: ServiceId): number {
    return this.sharded ? natShardOf(id) : 0;
  }

  /** Service `id` is (or with `present` false, is no longer) in the dataplane, or its dispatch rules changed. */
  touch(id: ServiceId, present: boolean): void {
    const k = this.shardOf(id);
    let m = this.members.get(k);
    if (present) {
      if (!m) {
        m = new Set();
        this.members.set(k, m);
      }
      m.add(id);
    } else m?.delete(id);
    this.dirty.add(k);
  }

  /** Every shard's dispatch is due (node-port addresses changed). */
  touchAll(): void {
    this.dirty.add(0);
    for (const k of this.members.keys()) this.dirty.add(k);
  }

  /** The shards due, each with its services sorted (none: the shard goes); clears them. */
  take(): { shard: number; ids: ServiceId[] }[] {
    const out = [...this.dirty].sort((a, b) => a - b).map((shard) => ({ shard, ids: this.sorted(shard) }));
    this.dirty.clear();
    return out;
  }

  private sorted(shard: number): ServiceId[] {
    const m = this.members.get(shard);
    if (!m || m.size === 0) {
      this.members.delete(shard);
      return [];
    }
    return [...m].sort();
  }
}

/** Writes shard k's dispatch chains and nat hooks, or with `remove`, deletes them (k > 0 only). */
export function putShardDispatch(
  d: Draft<DesiredState>,
  writes: ChainWrites,
  v: IpVersion,
  dispatch: ShardDispatch,
  remove: boolean,
  stats: ChainStats,
): void {
  for (const c of dispatch.chains) writes.write(v, "nat", c.name, remove ? undefined : c, stats);
  const hooks = d.iptables[familyKey(v)].nat.hooks;
  for (const [key, h] of Object.entries(dispatch.hooks)) {
    if (remove) {
      if (key in hooks) delete hooks[key];
      continue;
    }
    const rendered = writes.chains.renderHook(key, h.insert, h.append, { family: v, table: "nat" });
    const prev = plain(hooks[key]);
    if (prev && sameRules(prev.insert, rendered.insert) && sameRules(prev.append, rendered.append)) continue;
    hooks[key] = castDraft(rendered);
  }
}
