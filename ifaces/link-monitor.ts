// Interface events from rtnetlink's LINK multicast group: added / changed
// (admin or oper state) / removed, keyed by ifindex so renames show up as
// removed(old name) + added(new name). The real monitor listens on the
// namespace of the current process; `stop()` closes its sockets.

import { createRtNetlink, type NetlinkMessage, type RtNetlinkSocket, rt } from "netlink";
import { type Observable, Subject } from "../model/rx.js";

export interface LinkState {
  readonly name: string;
  readonly index: number;
  /** Administratively up (IFF_UP): what the kernel needs to accept routes on it. */
  readonly up: boolean;
  /** Operationally up (IFF_RUNNING): carrier, e.g. a veth whose peer is up too. */
  readonly running: boolean;
}

export type LinkEventKind = "added" | "changed" | "removed";

export interface LinkEvent extends LinkState {
  readonly event: LinkEventKind;
}

export interface LinkMonitor {
  /** Events after `start()`; `changed` is only emitted when `up` or `running` changes. */
  readonly events: Observable<LinkEvent>;
  /** Subscribes, then reads the initial state (returned, not emitted as events). */
  start(): Promise<LinkState[]>;
  /** Current interfaces (a fresh dump for the real monitor; differences from what it knew are emitted). */
  list(): Promise<LinkState[]>;
  /** Closes the socket(s) and completes `events`; the process can then exit. */
  stop(): void;
}

/** Tracks link state by ifindex and turns observations into events. */
class LinkTable {
  readonly byIndex = new Map<number, LinkState>();

  constructor(private readonly emit: (e: LinkEvent) => void) {}

  upsert(s: LinkState, quiet = false): void {
    const prev = this.byIndex.get(s.index);
    this.byIndex.set(s.index, s);
    if (quiet) return;
    if (!prev) this.emit({ ...s, event: "added" });
    else if (prev.name !== s.name) {
      this.emit({ ...prev, up: false, running: false, event: "removed" });
      this.emit({ ...s, event: "added" });
    } else if (prev.up !== s.up || prev.running !== s.running) this.emit({ ...s, event: "changed" });
  }

  remove(index: number, fallback?: LinkState): void {
    const prev = this.byIndex.get(index) ?? fallback;
    if (!this.byIndex.delete(index) || !prev) return;
    this.emit({ ...prev, up: false, running: false, event: "removed" });
  }

  list(): LinkState[] {
    return [...this.byIndex.values()].sort((a, b) => a.index - b.index);
  }
}

const NEWLINK = rt.MessageType.NEWLINK;
const DELLINK = rt.MessageType.DELLINK;
const AF_UNSPEC = 0;

function stateOf(m: rt.LinkMessage): LinkState | undefined {
  const { index, flags } = m.data;
  const name = m.attrs.ifname;
  if (index === undefined || name === undefined) return undefined;
  return { name, index, up: flags?.up === true, running: flags?.running === true };
}

export interface NetlinkLinkMonitorOptions {
  /** Keep the event loop alive while started (default true: a daemon). */
  readonly ref?: boolean;
  /** SO_RCVBUF for the notification socket (default 4 MiB; bursts of veths otherwise overflow). */
  readonly recvBufferSize?: number;
  readonly timeoutMs?: number;
}

export class NetlinkLinkMonitor implements LinkMonitor {
  private readonly subject = new Subject<LinkEvent>();
  readonly events: Observable<LinkEvent> = this.subject.asObservable();
  private readonly table = new LinkTable((e) => this.subject.next(e));
  private mon?: RtNetlinkSocket;
  private req?: RtNetlinkSocket;
  /** Indexes seen in notifications while a dump is in flight (the dump may be older). */
  private touched?: Set<number>;
  private stopped = false;
  private resyncing = false;

  constructor(private readonly opts: NetlinkLinkMonitorOptions = {}) {}

  async start(): Promise<LinkState[]> {
    if (this.mon) return this.table.list();
    if (this.stopped) throw new Error("link monitor stopped");
    // Two sockets: a notification that lands in the middle of a multipart dump
    // on the same socket breaks the package's multipart reassembly.
    const mon = createRtNetlink();
    this.mon = mon;
    try {
      mon.socket.setRecvBufferSize(this.opts.recvBufferSize ?? 4 << 20);
    } catch {
      // capped by net.core.rmem_max; not fatal
    }
    // The package's parsed 'message' event drops the message type (NEW vs
    // DEL), so read the NetlinkMessage[] one level down and parse ourselves.
    mon.socket.on("message", (msgs) => this.onMessages(msgs));
    mon.socket.on("error", () => this.resync()); // ENOBUFS: events were lost
    mon.addMembership("LINK");
    // createRtNetlink({ref:true}) does not type-check (the options type makes
    // the buffer sizes mandatory), so ref afterwards.
    mon.socket.ref(this.opts.ref ?? true);
    await this.sync(true);
    return this.table.list();
  }

  async list(): Promise<LinkState[]> {
    if (!this.mon) return (await this.dump()).filter((s): s is LinkState => !!s);
    await this.sync(false);
    return this.table.list();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.mon?.socket.close();
    this.req?.socket.close();
    this.mon = undefined;
    this.req = undefined;
    this.subject.complete();
  }

  private onMessages(msgs: NetlinkMessage[]): void {
    if (this.stopped) return;
    for (const m of msgs) {
      if (m.type !== NEWLINK && m.type !== DELLINK) continue;
      let parsed: rt.LinkMessage;
      try {
        parsed = rt.parseLinkMessage(m.data);
      } catch {
        continue;
      }
      if ((parsed.data.family ?? AF_UNSPEC) !== AF_UNSPEC) continue; // AF_BRIDGE port info etc.
      const s = stateOf(parsed);
      if (!s) continue;
      this.touched?.add(s.index);
      if (m.type === NEWLINK) this.table.upsert(s);
      else this.table.remove(s.index, s);
    }
  }

  private async dump(): Promise<(LinkState | undefined)[]> {
    this.req ??= createRtNetlink();
    const msgs = await this.req.getLinks(undefined, undefined, { timeout: this.opts.timeoutMs ?? 5000 });
    return msgs.map(stateOf);
  }

  /** Reconciles the table with a dump; notifications during the dump win. */
  private async sync(initial: boolean): Promise<void> {
    const touched = new Set<number>();
    this.touched = touched;
    let states: (LinkState | undefined)[];
    try {
      states = await this.dump();
    } finally {
      if (this.touched === touched) this.touched = undefined;
    }
    if (this.stopped) return;
    const seen = new Set<number>();
    for (const s of states) {
      if (!s) continue;
      seen.add(s.index);
      if (!touched.has(s.index)) this.table.upsert(s, initial);
    }
    for (const index of [...this.table.byIndex.keys()]) {
      if (!seen.has(index) && !touched.has(index)) this.table.remove(index);
    }
  }

  private resync(): void {
    if (this.resyncing || this.stopped) return;
    this.resyncing = true;
    this.sync(false)
      .catch(() => undefined)
      .finally(() => {
        this.resyncing = false;
      });
  }
}

/** In-memory monitor for unit tests: drive it with addLink / setLinkUp / removeLink. */
export class FakeLinkMonitor implements LinkMonitor {
  private readonly subject = new Subject<LinkEvent>();
  readonly events: Observable<LinkEvent> = this.subject.asObservable();
  private readonly table = new LinkTable((e) => {
    if (this.started) this.subject.next(e);
  });
  private nextIndex = 2;
  private started = false;

  constructor(
    initial: { name: string; up?: boolean; running?: boolean }[] = [{ name: "lo", up: true, running: true }],
  ) {
    for (const l of initial) this.addLink(l.name, l);
  }

  async start(): Promise<LinkState[]> {
    this.started = true;
    return this.table.list();
  }

  async list(): Promise<LinkState[]> {
    return this.table.list();
  }

  stop(): void {
    this.started = false;
    this.subject.complete();
  }

  addLink(name: string, opts: { up?: boolean; running?: boolean } = {}): number {
    if (this.find(name)) throw new Error(`link ${name} exists`);
    const index = this.nextIndex++;
    const up = opts.up ?? false;
    this.table.upsert({ name, index, up, running: opts.running ?? up });
    return index;
  }

  setLinkUp(name: string, up: boolean, running: boolean = up): void {
    const s = this.must(name);
    this.table.upsert({ ...s, up, running });
  }

  rename(name: string, to: string): void {
    const s = this.must(name);
    this.table.upsert({ ...s, name: to });
  }

  removeLink(name: string): void {
    this.table.remove(this.must(name).index);
  }

  private find(name: string): LinkState | undefined {
    return [...this.table.byIndex.values()].find((s) => s.name === name);
  }

  private must(name: string): LinkState {
    const s = this.find(name);
    if (!s) throw new Error(`no link ${name}`);
    return s;
  }
}
