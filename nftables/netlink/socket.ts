// A NETLINK_NETFILTER connection: one batch (BATCH_BEGIN … BATCH_END, all or
// nothing in the kernel) per transaction, and dumps for the read-back. The
// kernel processes a batch inside sendmsg and queues its replies; only the
// last message asks for an ACK, so the reply to it (or an error on the batch
// header) marks the end of the replies, which carry an error per refused
// message. The datagrams go through a NetlinkTransport: a socket of this
// process's namespace, or a relay child inside another one (tests).

import { RawNetlinkSocket } from "netlink";
import {
  encodeMessage,
  encodeMessages,
  NETLINK_NETFILTER,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  type NfMessage,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseError,
  type RawReply,
  splitMessages,
} from "./codec.js";
import { NetlinkUnsupported } from "./elements.js";

export interface NetlinkTransport {
  /** The largest datagram one send takes (the socket's send buffer): a bigger batch goes through nft -f. */
  readonly maxDatagram: number;
  send(datagram: Buffer): Promise<void>;
  /** Every datagram received (`truncated`: it did not fit the receive buffer, its replies are lost). */
  onDatagram(cb: (d: Buffer, truncated?: boolean) => void): void;
  close(): void;
}

/**
 * recvmsg's buffer. The kernel sizes a dump's next datagram by the largest
 * recvmsg seen (up to ~32 KB) and resumes each datagram by skipping what it
 * dumped before (O(n²) over a table's rules): few big datagrams, not many
 * small ones. An error echoes the refused message, so it is larger than any we send.
 */
const RECV_BUFFER = 64 * 1024;

/** Our largest batch: SO_SNDBUF is asked for 4 MB (the kernel caps it at twice net.core.wmem_max). */
const MAX_BATCH_BYTES = 2 * 1024 * 1024;

export class SocketTransport implements NetlinkTransport {
  private readonly sock: RawNetlinkSocket;
  readonly maxDatagram: number;

  constructor() {
    this.sock = new RawNetlinkSocket(NETLINK_NETFILTER, {
      recvBufferSize: 4 << 20,
      sendBufferSize: 4 << 20,
      messagePeeking: false,
      msgBufferSize: RECV_BUFFER,
    });
    this.sock.unref();
    // netlink_sendmsg refuses a message longer than the send buffer less a little.
    this.maxDatagram = Math.min(MAX_BATCH_BYTES, this.sock.getSendBufferSize() - 1024);
  }
  send(datagram: Buffer): Promise<void> {
    return new Promise((res, rej) => this.sock.send(datagram, {}, (e) => (e ? rej(e) : res())));
  }
  onDatagram(cb: (d: Buffer, truncated?: boolean) => void): void {
    this.sock.on("message", (m) => cb(m));
    this.sock.on("truncatedMessage", (m) => cb(m, true));
  }
  close(): void {
    this.sock.close();
  }
}

/** A refused message of a batch: its errno and its index among the batch's messages. */
export interface BatchFailure {
  readonly errno: number;
  /** Index into the messages passed to batch(); -1 for the batch as a whole. */
  readonly index: number;
}

/** What a backend needs of a connection: batches, dumps, closing. NfnlConnection, or JointBatches (joint.ts) around one. */
export interface NfnlLink {
  batch(messages: readonly NfMessage[]): Promise<{ failures: BatchFailure[]; bytes: number }>;
  dump(m: NfMessage): Promise<RawReply[]>;
  close(): void;
}

export class NfnlConnection implements NfnlLink {
  private seq = Math.floor(Date.now() / 1000) & 0x7fffffff;
  private waiter?: (r: RawReply | Error) => void;
  private queue: Promise<unknown> = Promise.resolve();

  /** `timeoutMs`: the longest wait for the next reply of an exchange. */
  constructor(
    private readonly transport: NetlinkTransport,
    private readonly timeoutMs = 30_000,
  ) {
    transport.onDatagram((d, truncated) => {
      if (truncated) {
        this.waiter?.(new Error("a netlink reply did not fit the receive buffer"));
        return;
      }
      let msgs: RawReply[];
      try {
        msgs = splitMessages(d);
      } catch {
        return; // a malformed datagram is nobody's reply
      }
      for (const m of msgs) this.waiter?.(m);
    });
  }

  /** Runs exchanges one at a time: replies are matched by sequence number, not by request. */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => {});
    return p;
  }

  private exchange(datagram: Buffer, take: (r: RawReply) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      // An inactivity timeout: a long dump is fine, a silent kernel is not. Replies only
      // note the time (a dump has one per rule: re-arming a timer for each costs more).
      let last = performance.now();
      let timer: NodeJS.Timeout;
      const fail = (e: Error) => {
        clearTimeout(timer);
        this.waiter = undefined;
        reject(e);
      };
      const check = () => {
        const idle = performance.now() - last;
        if (idle >= this.timeoutMs) fail(new Error(`no netlink reply within ${this.timeoutMs} ms`));
        else timer = setTimeout(check, this.timeoutMs - idle);
      };
      timer = setTimeout(check, this.timeoutMs);
      this.waiter = (r) => {
        if (r instanceof Error) return fail(r);
        last = performance.now();
        if (!take(r)) return;
        clearTimeout(timer);
        this.waiter = undefined;
        resolve();
      };
      this.transport.send(datagram).catch(fail);
    });
  }

  /** Sends the messages as one batch; resolves with the refusals (none: committed). */
  batch(messages: readonly NfMessage[]): Promise<{ failures: BatchFailure[]; bytes: number }> {
    return this.serial(async () => {
      const first = this.seq;
      this.seq = (this.seq + messages.length + 2) & 0x7fffffff;
      const frame = (type: number) => ({
        type,
        flags: NLM_F_REQUEST,
        family: 0,
        resId: NFNL_SUBSYS_NFTABLES,
        attrs: [],
      });
      // One buffer for the batch: BATCH_BEGIN, the messages (the last asks for the ACK), BATCH_END.
      const datagram = encodeMessages(
        [frame(NFNL_MSG_BATCH_BEGIN), ...messages, frame(NFNL_MSG_BATCH_END)],
        first,
        messages.length, // the last of the messages (BATCH_BEGIN is index 0)
      );
      if (datagram.length > this.transport.maxDatagram) {
        throw new NetlinkUnsupported(`a batch of ${datagram.length} bytes (more than one send takes)`);
      }
      const failures: BatchFailure[] = [];
      const lastSeq = first + messages.length;
      await this.exchange(datagram, (r) => {
        if (r.type !== NLMSG_ERROR || r.seq < first || r.seq > lastSeq + 1) return false;
        const { errno } = parseError(r.body);
        if (errno !== 0) failures.push({ errno, index: r.seq === first ? -1 : r.seq - first - 1 });
        return r.seq === lastSeq || (r.seq === first && errno !== 0);
      });
      return { failures, bytes: datagram.length };
    });
  }

  /** A dump request (`type` with NLM_F_DUMP): every reply message until NLMSG_DONE; throws on an error reply. */
  dump(m: NfMessage): Promise<RawReply[]> {
    return this.serial(async () => {
      const seq = this.seq;
      this.seq = (this.seq + 1) & 0x7fffffff;
      const out: RawReply[] = [];
      let errno = 0;
      await this.exchange(encodeMessage({ ...m, flags: NLM_F_REQUEST | NLM_F_DUMP }, seq), (r) => {
        if (r.seq !== seq) return false;
        if (r.type === NLMSG_DONE) return true;
        if (r.type === NLMSG_ERROR) {
          errno = parseError(r.body).errno;
          return true;
        }
        out.push(r);
        return false;
      });
      if (errno !== 0) throw Object.assign(new Error(`netlink dump refused: errno ${errno}`), { errno });
      return out;
    });
  }

  close(): void {
    this.transport.close();
  }
}
