// IP set membership. Active sets (those the rules of active policies use) are
// kept filled from every endpoint in the cluster, local or remote: a selector
// set holds the IPs of the endpoints its selector matches, a named-port set
// holds `ip,proto:port` for the matching endpoints that have that port.
// Members are refcounted, so two endpoints sharing an IP do not clash, and
// each set records its net changes since the last flush.

import { LabelIndex } from "../label-index.js";
import type { IpVersion, WorkloadEndpoint } from "../model.js";
import type { IpSetSpec } from "./ids.js";

interface SetState {
  readonly spec: IpSetSpec;
  refs: number;
  readonly members: Map<string, number>;
}

/** What an endpoint contributes: its IPs and named ports. */
interface Contribution {
  readonly ips: readonly string[];
  readonly ports: WorkloadEndpoint["ports"];
}

export class IpSetIndex {
  readonly labels = new LabelIndex();
  private readonly sets = new Map<string, SetState>();
  private readonly contributions = new Map<string, Contribution>();
  /** Endpoint whose contribution is being replaced; match events skip it. */
  private updating: string | undefined;
  /** Sets whose membership or existence changed since the last `takeDirty`. */
  private dirty = new Set<string>();

  constructor() {
    this.labels.matches$.subscribe(({ selectorId, itemId, matched }) => {
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
    this.sets.set(spec.id, { spec, refs: 1, members: new Map() });
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
    this.dirty.add(id);
  }

  updateParent(id: string, labels: Readonly<Record<string, string>> | null): void {
    this.labels.updateParent(id, labels);
  }

  updateEndpoint(key: string, ep: WorkloadEndpoint | null): void {
    const old = this.contributions.get(key);
    const next: Contribution | undefined = ep
      ? { ips: [...ep.ipv4Nets, ...ep.ipv6Nets].map(stripHostPrefix), ports: ep.ports }
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

  has(id: string): boolean {
    return this.sets.has(id);
  }

  spec(id: string): IpSetSpec | undefined {
    return this.sets.get(id)?.spec;
  }

  /** Current members of one family, unsorted. */
  members(id: string, v: IpVersion): string[] {
    const s = this.sets.get(id);
    if (!s) return [];
    return [...s.members.keys()].filter((m) => isV6Member(m) === (v === 6));
  }

  get activeSetIds(): IterableIterator<string> {
    return this.sets.keys();
  }

  private contribute(set: SetState, c: Contribution, delta: 1 | -1): void {
    for (const m of membersOf(set.spec, c)) {
      const n = (set.members.get(m) ?? 0) + delta;
      if (n <= 0) set.members.delete(m);
      else set.members.set(m, n);
      if (n === 0 || (n === 1 && delta === 1)) this.dirty.add(set.spec.id);
    }
  }
}

function membersOf(spec: IpSetSpec, c: Contribution): string[] {
  if (spec.kind === "selector") return [...c.ips];
  const out: string[] = [];
  for (const p of c.ports) {
    if (p.name !== spec.port || p.protocol !== spec.protocol) continue;
    for (const ip of c.ips) out.push(`${ip},${p.protocol}:${p.port}`);
  }
  return out;
}

/** IPv6 members contain `:` in the address part (named-port members also hold `tcp:80`). */
function isV6Member(m: string): boolean {
  return m.split(",")[0].includes(":");
}

function stripHostPrefix(net: string): string {
  return net.replace(/\/(32|128)$/, "");
}

function sameContribution(a: Contribution, b: Contribution): boolean {
  return (
    a.ips.length === b.ips.length &&
    a.ips.every((x, i) => x === b.ips[i]) &&
    a.ports.length === b.ports.length &&
    a.ports.every(
      (p, i) => p.name === b.ports[i].name && p.protocol === b.ports[i].protocol && p.port === b.ports[i].port,
    )
  );
}
