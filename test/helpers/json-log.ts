// A pino logger whose JSON lines are kept for assertions (the daemon's tests).

import { Writable } from "node:stream";
import pino from "pino";

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly err?: string;
}

/** A debug-level logger and the lines it wrote, parsed. */
export function capturedLog(): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino(
    { level: "debug" },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  return { log, lines };
}
