// The nft backend that writes a change over netlink: the planner's commands
// become one nfnetlink batch (messages.ts) sent on our own socket, so nft's
// cache fetch of the whole table before every change (0.2-0.7 s at the
// `large` preset) is not paid. What the encoder cannot express is reported as
// unsupported before anything is sent, and the syncer then runs the same
// transaction through `nft -f` (the inner backend), which also keeps the whole
// table loads (cold start, the last retry's replace) and the listing.

import { constants } from "node:os";
import { type NftBackend, NftError, type NftFamily, type NftWriteContext, type NftWriteResult } from "../backend.js";
import { commandText, type NftCommand } from "../commands.js";
import type { RuleCounter } from "../counters.js";
import { type NftView, parseNftJson } from "../view.js";
import { NetlinkUnsupported } from "./elements.js";
import { encodeCommands } from "./messages.js";
import { readNftView } from "./read.js";
import { readRuleCounters } from "./read-counters.js";
import { type NetlinkTransport, NfnlConnection, type NfnlLink, SocketTransport } from "./socket.js";

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([k, v]) => [v, k]));

export class NetlinkNftBackend implements NftBackend {
  readonly family: NftFamily;
  private readonly conn: NfnlLink;

  /**
   * `via`: a socket in this namespace by default (RelayTransport for another one), or a
   * connection of its own that both families share (JointBatches: the agent).
   */
  constructor(
    private readonly inner: NftBackend,
    via: NetlinkTransport | NfnlLink = new SocketTransport(),
  ) {
    this.family = inner.family;
    this.conn = "batch" in via ? via : new NfnlConnection(via);
    if (inner.transactParts) this.transactParts = inner.transactParts.bind(inner);
    if (inner.transactSpooled) this.transactSpooled = inner.transactSpooled.bind(inner);
  }

  transact(script: string): Promise<void> {
    return this.inner.transact(script);
  }

  /** Whole-table loads stream through nft (the inner backend), as transact() goes. */
  readonly transactParts?: NftBackend["transactParts"];
  readonly transactSpooled?: NftBackend["transactSpooled"];

  list(table?: string): Promise<string | undefined> {
    return this.inner.list(table);
  }

  async readView(table?: string): Promise<NftView | null> {
    try {
      return await readNftView(this.conn, this.family, table);
    } catch (e) {
      if (!(e instanceof NetlinkUnsupported)) throw e;
      const json = await this.inner.list(table);
      return json === undefined ? null : parseNftJson(json);
    }
  }

  /** Our rules' counters (`felix-dump hits --live`); null without our table. */
  readCounters(): Promise<RuleCounter[] | null> {
    return readRuleCounters(this.conn, this.family);
  }

  async write(commands: readonly NftCommand[], ctx: NftWriteContext): Promise<NftWriteResult> {
    if (commands.length === 0) return { bytes: 0 };
    let messages: ReturnType<typeof encodeCommands>;
    try {
      messages = encodeCommands(this.family, commands, ctx);
    } catch (e) {
      if (e instanceof NetlinkUnsupported || e instanceof RangeError) return { unsupported: e.message };
      throw e;
    }
    let r: Awaited<ReturnType<NfnlConnection["batch"]>>;
    try {
      r = await this.conn.batch(messages.map((m) => m.msg));
    } catch (e) {
      if (e instanceof NetlinkUnsupported) return { unsupported: e.message };
      throw new NftError(`netlink batch failed: ${(e as Error).message}`);
    }
    if (r.failures.length === 0) return { bytes: r.bytes };
    // The first refusal names its command; later ones often follow from it.
    const f = r.failures[0];
    const index = f.index >= 0 ? messages[f.index]?.command : undefined;
    const line = index === undefined ? undefined : commandText(this.family, commands[index]);
    const err = ERRNO_NAMES.get(f.errno) ?? `errno ${f.errno}`;
    throw new NftError(`netlink: ${err}${line ? ` on \`${line.slice(0, 300)}\`` : " on the batch"}`, index, line);
  }

  close(): void {
    this.conn.close();
  }
}
