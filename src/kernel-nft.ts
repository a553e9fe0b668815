// The nftables dataplane's part of the kernel wiring (src/kernel.ts), imported only when the agent
// runs in nftables mode: an iptables-mode start then loads none of the nft renderer, planner and
// netlink codec (some 30 modules, ~50 ms of CPU at every start).

import type { Logger } from "pino";
import { ExecNftBackend, type NftBackend, type NftFamily, type NftWriteResult } from "../nftables/backend.js";
import { COLD_LOADS, ColdSlots } from "../nftables/cold-load.js";
import { NetlinkNftBackend } from "../nftables/netlink/backend.js";
import { JointBatches } from "../nftables/netlink/joint.js";
import { NfnlConnection, SocketTransport } from "../nftables/netlink/socket.js";
import { NftTableSyncer } from "../nftables/table-syncer.js";
import type { Metrics } from "../status/metrics.js";
import type { NftPolicy } from "./dataplane-nft.js";
import { counted } from "./kernel.js";

/** Our table's syncer per family; what they open (netlink sockets) goes into `closers`. */
export function nftPolicy(ipv6: boolean, metrics: Metrics, log: Logger, closers: (() => void)[]): NftPolicy {
  // Whole-table loads (the cold start) of both families share the slots: nft processes at once.
  const coldSlots = new ColdSlots(COLD_LOADS);
  // One netlink connection for both families: a change's two transactions are one commit.
  const link = netlinkLink(closers, log);
  const nftSyncer = (family: 4 | 6) =>
    new NftTableSyncer(new CountingNftBackend(nftBackend(family === 4 ? "ip" : "ip6", link), metrics), {
      onRetry: (attempt, e) => {
        const err = e as Error & { line?: string };
        log.warn(
          { family, attempt, err: err.message, line: err.line },
          "nft transaction failed; resyncing and retrying",
        );
      },
      onFallback: (reason) => log.info({ family, reason }, "nftables change written with nft -f"),
      coldSlots,
    });
  return { ipv4: nftSyncer(4), ...(ipv6 ? { ipv6: nftSyncer(6) } : {}) };
}

/** The families' shared netlink connection (joint.ts); undefined if no NETLINK_NETFILTER socket opens. */
function netlinkLink(closers: (() => void)[], log: Logger): JointBatches | undefined {
  try {
    const link = new JointBatches(new NfnlConnection(new SocketTransport()));
    closers.push(() => link.close());
    return link;
  } catch (e) {
    log.warn({ err: (e as Error).message }, "no NETLINK_NETFILTER socket: nftables changes go through nft -f");
    return undefined;
  }
}

/**
 * Our table's backend: changes over netlink (no nft cache fetch per change),
 * whole-table loads and listings through nft; nft alone without a netlink connection.
 */
function nftBackend(family: NftFamily, link: JointBatches | undefined): NftBackend {
  const exec = new ExecNftBackend(family);
  return link ? new NetlinkNftBackend(exec, link) : exec;
}

/** Counts nft transactions and refusals into the restore metrics. */
export class CountingNftBackend implements NftBackend {
  constructor(
    private readonly inner: NftBackend,
    private readonly metrics: Metrics,
  ) {
    if (inner.write) this.write = this.countWrite.bind(this);
    if (inner.readView) this.readView = inner.readView.bind(inner);
    if (inner.transactParts) this.transactParts = this.countParts.bind(this);
    if (inner.transactSpooled) this.transactSpooled = this.countSpooled.bind(this);
  }
  get family() {
    return this.inner.family;
  }
  list(table?: string) {
    return this.inner.list(table);
  }
  transact(script: string) {
    return this.count(() => this.inner.transact(script));
  }
  readonly write?: NftBackend["write"];
  readonly readView?: NftBackend["readView"];
  readonly transactParts?: NftBackend["transactParts"];
  private countParts(...[parts, onSent]: Parameters<NonNullable<NftBackend["transactParts"]>>) {
    const inner = this.inner.transactParts as NonNullable<NftBackend["transactParts"]>;
    return this.count(() => inner.call(this.inner, parts, onSent));
  }
  readonly transactSpooled?: NftBackend["transactSpooled"];
  private countSpooled(...[script, onStarted]: Parameters<NonNullable<NftBackend["transactSpooled"]>>) {
    const inner = this.inner.transactSpooled as NonNullable<NftBackend["transactSpooled"]>;
    return this.count(() => inner.call(this.inner, script, onStarted));
  }
  private count(f: () => Promise<void>): Promise<void> {
    return counted(this.metrics, f);
  }
  private async countWrite(...[commands, ctx]: Parameters<NonNullable<NftBackend["write"]>>): Promise<NftWriteResult> {
    try {
      const r = await (this.inner.write as NonNullable<NftBackend["write"]>).call(this.inner, commands, ctx);
      if ("bytes" in r) this.metrics.restoreCalls.inc();
      else this.metrics.nftNetlinkFallbacks.inc();
      return r;
    } catch (e) {
      this.metrics.restoreCalls.inc();
      this.metrics.restoreErrors.inc();
      throw e;
    }
  }
}
