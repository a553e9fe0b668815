// IP set membership. Active sets (those the rules of active policies use) are
// kept filled from every endpoint in the cluster, local or remote: a selector
// set holds the IPs of the endpoints its selector matches, a named-port set
// holds `ip,proto:port` for the matching endpoints that have that port.
// Members are refcounted, so two endpoints sharing an IP do not clash, and
// each set records its net changes since the last flush.
//
// A set's size is bounded (FELIX_MAXIPSETSIZE, Felix's MaxIpsetSize): tenants
// write network sets and pods, so one selector can gather more members than
// ipset's maxelem, and a restore that overflows a set would fail and stall
// every later apply on the node. A set over the bound is never programmed;
// the rules that use it fail closed (rules/overfull-sets.ts). Its members are
// still counted here, so it comes back once it shrinks.

import { MAX_IPSET_SIZE } from "../../model/ipset.js";
import { MemberSet } from "../../model/member-set.js";
import { LabelIndex } from "../label-index.js";
import type { IpVersion, WorkloadEndpoint } from "../model.js";
import { sameList, sameMembers } from "../same.js";
import { hashNetMembers } from "./hash-net.js";
import type { IpSetSpec } from "./ids.js";
import { countMember } from "./member-count.js";

interface SetState {
  readonly spec: IpSetSpec;
  refs: number;
  /** Member → refcount, per IP family (index 0: IPv4, 1: IPv6). */
  readonly members: readonly [Map<string, number>, Map<string, number>];
  /** Per family, the members last handed out (`members()`), and those that came or went since. */
  readonly taken: [MemberSet | undefined, MemberSet | undefined];
  readonly toggled: [Set<string>, Set<string>];
}

/** What the index needs of a member: a workload, a host endpoint (expectedIPs) or a network set (nets). */
export type SetMember = Pick<WorkloadEndpoint, "ipv4Nets" | "ipv6Nets" | "labels" | "profileIds"> & {
  readonly ports?: WorkloadEndpoint["ports"];
};

/** What an endpoint contributes: its IPs (per family) and named ports. */
interface Contribution {
  readonly ips: readonly [readonly string[], readonly string[]];
  readonly ports: WorkloadEndpoint["ports"];
}

export class IpSetIndex {
  readonly labels = new LabelIndex();
  /** Sets (`<family><id>`) holding more than maxSize members of one family, now. */
  private readonly over = new Set<string>();
  /** `over` as of the last takeOverfullFlips. */
  private reportedOver = new Set<string>();
  private readonly sets = new Map<string, SetState>();
  private readonly contributions = new Map<string, Contribution>();
  /** Endpoint whose contribution is being replaced; match events skip it. */
  private updating: string | undefined;
  /** Sets whose membership or existence changed since the last `takeDirty`. */
  private dirty = new Set<string>();

  /** `maxSize`: the most members one set may hold per family. */
  constructor(readonly maxSize: number = MAX_IPSET_SIZE) {
    this.labels.onMatch((selectorId, itemId, matched) => {
      if (itemId === this.updating) return;
      const c = this.contributions.get(itemId);
      const set = this.sets.get(selectorId);
      if (c && set) this.contribute(set, c, matched ? 1 : -1);
    });
  }

  /** Adds a reference to a set; the first one makes it active. */
  addRef(spec: IpSetSpec): void {
    const existing = this.sets.get(spec.id);
    if (existing) {
      existing.refs++;
      return;
    }
    this.sets.set(spec.id, {
      spec,
      refs: 1,
      members: [new Map(), new Map()],
      taken: [undefined, undefined],
      toggled: [new Set(), new Set()],
    });
    this.dirty.add(spec.id);
    this.labels.updateSelector(spec.id, spec.selector);
  }

  /** Drops a reference; the last one deactivates the set. */
  removeRef(id: string): void {
    const s = this.sets.get(id);
    if (!s) return;
    if (--s.refs > 0) return;
    this.labels.updateSelector(id, null);
    this.sets.delete(id);
    this.over.delete(`4${id}`);
    this.over.delete(`6${id}`);
    this.dirty.add(id);
  }

  /** Whether the set holds more members of family `v` than maxSize (it is then not programmed). */
  isOverfull(id: string, v: IpVersion): boolean {
    return this.over.size > 0 && this.over.has(`${v}${id}`);
  }

  /** Whether any set is over maxSize (rules need checking only then). */
  get anyOverfull(): boolean {
    return this.over.size > 0;
  }

  /** The ids of sets that went over maxSize or came back under since the last call. */
  takeOverfullFlips(): Set<string> {
    const flips = new Set<string>();
    for (const k of this.over) if (!this.reportedOver.has(k)) flips.add(k.slice(1));
    for (const k of this.reportedOver) if (!this.over.has(k)) flips.add(k.slice(1));
    if (flips.size > 0) this.reportedOver = new Set(this.over);
    return flips;
  }

  updateParent(id: string, labels: Readonly<Record<string, string>> | null): void {
    this.labels.updateParent(id, labels);
  }

  /** Workloads, host endpoints and network sets alike (keys never collide: see their key functions). */
  updateEndpoint(key: string, ep: SetMember | null): void {
    const old = this.contributions.get(key);
    // A network set's /0 becomes two /1s: the kernel refuses /0 in a hash:net set.
    const next: Contribution | undefined = ep
      ? { ips: [hashNetMembers(ep.ipv4Nets), hashNetMembers(ep.ipv6Nets)], ports: ep.ports ?? [] }
      : undefined;
    if (old && next && sameContribution(old, next)) {
      this.labels.updateItem(key, ep!.labels, ep!.profileIds);
      return;
    }
    // Replace the contribution wholesale: withdraw it from the sets matched
    // now, update labels without per-event accounting, re-add to the sets
    // matched after.
    this.updating = key;
    if (old) for (const id of this.labels.selectorsMatching(key)) this.contribute(this.sets.get(id)!, old, -1);
    if (next) this.contributions.set(key, next);
    else this.contributions.delete(key);
    this.labels.updateItem(key, ep ? ep.labels : null, ep?.profileIds);
    if (next) for (const id of this.labels.selectorsMatching(key)) this.contribute(this.sets.get(id)!, next, 1);
    this.updating = undefined;
  }

  /** The ids of sets changed since the last call. */
  takeDirty(): string[] {
    const d = [...this.dirty];
    this.dirty = new Set();
    return d;
  }

  spec(id: string): IpSetSpec | undefined {
    return this.sets.get(id)?.spec;
  }

  /**
   * The current members of one family. `old` (the snapshot's members of the set) comes back as it
   * is when it holds exactly those; when it is what this index last handed out, the new set is
   * made from the members that came or went since and shares old's untouched buckets.
   */
  members(id: string, v: IpVersion, old?: ReadonlySet<string>): ReadonlySet<string> {
    const s = this.sets.get(id);
    if (!s) return old?.size === 0 ? old : MemberSet.EMPTY;
    const f = v === 4 ? 0 : 1;
    const counts = s.members[f];
    const taken = s.taken[f];
    let next: ReadonlySet<string>;
    if (old !== undefined && old === taken) next = taken.with(s.toggled[f], (m) => counts.has(m));
    else if (old !== undefined && sameMembers(counts, old)) next = old;
    else next = MemberSet.of(counts.keys());
    // A set made elsewhere (a test's, or an older build's) is kept, but the next change rebuilds it.
    s.taken[f] = next instanceof MemberSet ? next : undefined;
    s.toggled[f].clear();
    return next;
  }

  /** The snapshot no longer holds the set's members of one family (over the bound): keep no changes for them. */
  release(id: string, v: IpVersion): void {
    const s = this.sets.get(id);
    if (!s) return;
    const f = v === 4 ? 0 : 1;
    s.taken[f] = undefined;
    s.toggled[f].clear();
  }

  get activeSetIds(): IterableIterator<string> {
    return this.sets.keys();
  }

  private contribute(set: SetState, c: Contribution, delta: 1 | -1): void {
    for (const family of [0, 1] as const) {
      const members = set.members[family];
      for (const m of membersOf(set.spec, c.ips[family], c.ports)) {
        if (!countMember(members, m, delta)) continue;
        this.dirty.add(set.spec.id);
        if (set.taken[family]) set.toggled[family].add(m);
      }
      // No string is built for the common case: no set near the bound.
      if (members.size > this.maxSize) this.over.add(`${family === 0 ? 4 : 6}${set.spec.id}`);
      else if (this.over.size > 0) this.over.delete(`${family === 0 ? 4 : 6}${set.spec.id}`);
    }
  }
}

function membersOf(spec: IpSetSpec, ips: readonly string[], ports: WorkloadEndpoint["ports"]): readonly string[] {
  if (spec.kind === "selector") return ips;
  const out: string[] = [];
  for (const p of ports) {
    if (p.name !== spec.port || p.protocol !== spec.protocol) continue;
    for (const ip of ips) out.push(`${ip},${p.protocol}:${p.port}`);
  }
  return out;
}

function sameContribution(a: Contribution, b: Contribution): boolean {
  return (
    sameList(a.ips[0], b.ips[0]) &&
    sameList(a.ips[1], b.ips[1]) &&
    a.ports.length === b.ports.length &&
    a.ports.every(
      (p, i) => p.name === b.ports[i].name && p.protocol === b.ports[i].protocol && p.port === b.ports[i].port,
    )
  );
}
