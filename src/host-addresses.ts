// This host's own addresses, for IPVS support's this-host IP set (Felix's
// hostIPManager): every address of every interface except workload
// interfaces and the devices IPVS binds service addresses to (kube-proxy's
// kube-ipvs0, our cali-ipvs0). A local address missing from the set would
// look like a service address to cali-forward-check and skip the
// workload-to-host policy, so the set comes from the kernel, not only from the
// Node object. Read with `ip -j addr` at start-up, after link events and on a
// timer (address changes raise no link event); emitted only when it changed.
//
// The daemon reads through the spawn helper (iptables/spawner.ts): forking the
// ~330 MB agent for `ip` every 10 s blocked its event loop for tens of ms under
// load (a CPU profile of the per-change phase), delaying the change that came
// in meanwhile. An output equal to the last one is not parsed again.

import { run, type Spawn } from "../iptables/exec.js";
import { type Observable, Subject } from "../model/rx.js";
import { KUBE_IPVS_DEVICE } from "./kernel-features.js";

interface AddrJson {
  ifname: string;
  addr_info?: { local?: string; scope?: string }[];
}

/** Addresses in `ip -j addr show` output, sorted, without those of excluded interfaces or link scope. */
export function parseHostAddresses(json: string, excluded: (ifname: string) => boolean): string[] {
  const out = new Set<string>();
  for (const l of JSON.parse(json) as AddrJson[]) {
    if (excluded(l.ifname)) continue;
    for (const a of l.addr_info ?? []) if (a.local && a.scope !== "link") out.add(a.local);
  }
  return [...out].sort();
}

/** Host interfaces and their addresses (host endpoints placed by expectedIPs), from `ip -j addr show`, sorted. */
export function parseHostInterfaces(json: string, excluded: (ifname: string) => boolean): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const l of (JSON.parse(json) as AddrJson[]).sort((a, b) => (a.ifname < b.ifname ? -1 : 1))) {
    if (excluded(l.ifname)) continue;
    out.set(l.ifname, [...new Set((l.addr_info ?? []).flatMap((a) => (a.local ? [a.local] : [])))].sort());
  }
  return out;
}

/** `ip -j addr show`'s output (through `spawn` when given). */
async function ipAddrShow(spawn?: Spawn): Promise<string> {
  const r = await run("ip", ["-j", "addr", "show"], undefined, undefined, spawn ? { spawn } : {});
  if (r.code !== 0) throw new Error(`ip -j addr show: ${r.stderr.trim()}`);
  return r.stdout;
}

export async function readHostInterfaces(
  excluded: (ifname: string) => boolean,
  spawn?: Spawn,
): Promise<Map<string, string[]>> {
  return parseHostInterfaces(await ipAddrShow(spawn), excluded);
}

/**
 * A reader for a feed: `ip -j addr show` through `spawn`, parsed with `parse`
 * unless the output is the one last parsed (then the last value is returned).
 */
export function addrReader<T>(parse: (json: string) => T, spawn?: Spawn): () => Promise<T> {
  let last: { text: string; value: T } | undefined;
  return async () => {
    const text = await ipAddrShow(spawn);
    if (last?.text !== text) last = { text, value: parse(text) };
    return last.value;
  };
}

/** Workload interfaces and IPVS devices hold no host address of ours. */
export function notHostInterface(workloadPrefix: string, ipvsDevice: string): (ifname: string) => boolean {
  return (n) => n.startsWith(workloadPrefix) || n === KUBE_IPVS_DEVICE || n === ipvsDevice;
}

export async function readHostAddresses(excluded: (ifname: string) => boolean, spawn?: Spawn): Promise<string[]> {
  return parseHostAddresses(await ipAddrShow(spawn), excluded);
}

/** A feed of the host's addresses: `poke()` re-reads them (link events); a timer does too. */
export class HostAddressFeed<T = string[]> {
  private readonly subject = new Subject<T>();
  readonly addresses: Observable<T> = this.subject.asObservable();
  private last = "";
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly onError: (e: Error) => void,
  ) {}

  /** Reads once (the start-up value) and then every `everyMs`. */
  async start(everyMs: number): Promise<T> {
    const first = await this.read();
    this.last = JSON.stringify(first instanceof Map ? [...first] : first);
    this.timer = setInterval(() => this.poke(), everyMs);
    this.timer.unref();
    return first;
  }

  poke(): void {
    this.reading ??= this.read()
      .then((addrs) => {
        const key = JSON.stringify(addrs instanceof Map ? [...addrs] : addrs);
        if (key !== this.last) {
          this.last = key;
          this.subject.next(addrs);
        }
      })
      .catch((e: Error) => this.onError(e))
      .finally(() => {
        this.reading = undefined;
      });
  }

  stop(): void {
    clearInterval(this.timer);
    this.subject.complete();
  }
}
