// Both families' changes in one kernel commit. Every nf_tables commit walks
// every chain of every table in the namespace, whatever the batch touches
// (~4 ms at the `large` preset: 58k chains, mostly the nat tables' per-service
// and per-endpoint chains), so the ip and ip6 transactions of one change,
// sent apart, paid it twice. The batches asked for in one turn of the event
// loop (applyNftPolicy starts both families' syncers together, and a change
// reaches write() without I/O in between) go to the kernel as one batch.
//
// The families stay independent transactions as before: when the joint batch
// is refused (the kernel then committed none of it) or is too big for one
// send, each part goes again on its own, so one family's refused change
// leaves the other's in, and each refusal is reported against its own
// commands.

import { messageSize, type NfMessage, type RawReply } from "./codec.js";
import { NetlinkUnsupported } from "./elements.js";
import type { NfnlLink } from "./socket.js";

type BatchResult = Awaited<ReturnType<NfnlLink["batch"]>>;

interface Part {
  readonly messages: readonly NfMessage[];
  readonly resolve: (r: BatchResult) => void;
  readonly reject: (e: unknown) => void;
}

/** BATCH_BEGIN and BATCH_END around a batch's messages: two messages without attributes. */
const FRAMING_BYTES = 2 * messageSize({ type: 0, flags: 0, family: 0, attrs: [] });

export class JointBatches implements NfnlLink {
  private pending: Part[] = [];
  private closed = false;
  /** Batches sent to the kernel (joint, lone or a refused joint's parts again). */
  sent = 0;

  constructor(private readonly link: NfnlLink) {}

  batch(messages: readonly NfMessage[]): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ messages, resolve, reject });
      // After this turn's microtasks: the other family's write of the same change joins.
      if (this.pending.length === 1) setImmediate(() => void this.flush());
    });
  }

  dump(m: NfMessage): Promise<RawReply[]> {
    return this.link.dump(m);
  }

  /** Closes the connection once (each family's backend closes it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.link.close();
  }

  private async flush(): Promise<void> {
    const parts = this.pending;
    this.pending = [];
    if (parts.length > 1) {
      let joint: BatchResult | undefined;
      try {
        this.sent++;
        joint = await this.link.batch(parts.flatMap((p) => p.messages));
      } catch (e) {
        if (!(e instanceof NetlinkUnsupported)) {
          for (const p of parts) p.reject(e);
          return;
        }
      }
      if (joint && joint.failures.length === 0) {
        // Each part's own messages; the framing counts with the first, so the parts sum to the batch.
        parts.forEach((p, i) => {
          const bytes = p.messages.reduce((n, m) => n + messageSize(m), i === 0 ? FRAMING_BYTES : 0);
          p.resolve({ failures: [], bytes });
        });
        return;
      }
    }
    for (const p of parts) {
      this.sent++;
      await this.link.batch(p.messages).then(p.resolve, p.reject);
    }
  }
}
