// The netlink relay: a child process run inside another network namespace
// (`ip netns exec <ns> node relay.js`; node cannot setns(2) itself) that
// opens a NETLINK_NETFILTER socket there and passes datagrams both ways as
// length-prefixed frames on stdin/stdout. Tests and the bench use it to drive
// the netlink writer against a throwaway namespace; the agent does not need
// it (it runs in the node's namespace). RelayTransport is the parent's end.

import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { NetlinkTransport } from "./socket.js";
import { SocketTransport } from "./socket.js";

/** Splits a byte stream of [u32 length][bytes] frames. */
function frames(onFrame: (b: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
      const len = buf.readUInt32LE(0);
      onFrame(buf.subarray(4, 4 + len));
      buf = buf.subarray(4 + len);
    }
  };
}

function frame(b: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32LE(b.length);
  return Buffer.concat([h, b]);
}

export class RelayTransport implements NetlinkTransport {
  private readonly child: ChildProcess;
  private cb?: (d: Buffer) => void;
  /** What the relay's socket takes (its send buffer as the agent's asks for it, net.core.wmem_max allowing). */
  readonly maxDatagram = 2 * 1024 * 1024;

  constructor(netns: string) {
    const script = fileURLToPath(import.meta.url);
    this.child = spawn("ip", ["netns", "exec", netns, process.execPath, script], {
      env: { ...process.env, FELIX_NETLINK_RELAY: "1" },
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.child.stdout?.on(
      "data",
      frames((d) => this.cb?.(Buffer.from(d))),
    );
    this.child.unref();
    (this.child.stdout as unknown as { unref?: () => void })?.unref?.();
    (this.child.stdin as unknown as { unref?: () => void })?.unref?.();
  }
  send(datagram: Buffer): Promise<void> {
    return new Promise((res, rej) => this.child.stdin?.write(frame(datagram), (e) => (e ? rej(e) : res())));
  }
  onDatagram(cb: (d: Buffer, truncated?: boolean) => void): void {
    this.cb = cb;
  }
  close(): void {
    this.child.stdin?.end();
  }
}

// The child's side: only when started as the relay (the test runner loads every file).
if (process.env.FELIX_NETLINK_RELAY === "1" && process.argv[1] === fileURLToPath(import.meta.url)) {
  const sock = new SocketTransport();
  sock.onDatagram((d) => process.stdout.write(frame(d)));
  process.stdin.on(
    "data",
    frames((d) => {
      sock.send(Buffer.from(d)).catch((e) => process.stderr.write(`relay send: ${e}\n`));
    }),
  );
  process.stdin.on("end", () => {
    sock.close();
    process.exit(0);
  });
}
