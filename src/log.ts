// Logging through pino: JSON lines by default, a short text form for people
// (`--log-format text`, or automatically on a terminal).

import { Writable } from "node:stream";
import { type LevelWithSilent, type Logger, pino } from "pino";

export type LogFormat = "json" | "text";

const LEVEL_NAMES: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};

function textStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n")) {
        if (!line) continue;
        const { level, time, msg, pid: _p, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(" ");
        const ts = new Date(Number(time)).toISOString();
        out.write(`${ts} ${LEVEL_NAMES[Number(level)] ?? level} ${msg}${extra ? ` ${extra}` : ""}\n`);
      }
      done();
    },
  });
}

/** Logs go to stderr: stdout is for command output. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/** Throws a clear Error for an unknown level. */
export function createLogger(level: string = "info", format?: LogFormat): Logger {
  if (!LOG_LEVELS.includes(level.toLowerCase())) {
    throw new Error(`unknown log level ${JSON.stringify(level)} (use one of ${LOG_LEVELS.join(", ")})`);
  }
  const fmt = format ?? (process.stderr.isTTY ? "text" : "json");
  const opts = { level: level.toLowerCase() as LevelWithSilent, base: undefined };
  return fmt === "text" ? pino(opts, textStream(process.stderr)) : pino(opts, pino.destination({ fd: 2, sync: true }));
}
