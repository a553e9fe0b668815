// The last line of defence against injection into iptables-restore input:
// names and comments come (validated) from users, and one newline inside a
// rule would let the next "line" be any restore command (`-F INPUT`). Restore
// input is refused unless every chain we declare is one safe token and the
// text holds exactly one command per line (no stray newline, no NUL that
// would cut a line short). Checked where the text is assembled, once per
// apply: a scan for newlines, not a regex per rule.

/** iptables' chain name limit (XT_EXTENSION_MAXNAMELEN 29 with the NUL). */
const MAX_CHAIN_NAME = 28;
// `/`: the all-interfaces host endpoint's chains (`cali-fh-/all`; Felix's `cali-fh-*` is no nft name).
const CHAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:/-]*$/;

export class UnsafeRestoreTextError extends Error {
  constructor(message: string) {
    super(`refusing restore input: ${message}`);
    this.name = "UnsafeRestoreTextError";
  }
}

/** Throws unless `name` is a chain name we may declare: one token of safe characters, at most 28. */
export function assertSafeChainName(name: string): void {
  if (name.length > MAX_CHAIN_NAME || !CHAIN_NAME.test(name)) {
    throw new UnsafeRestoreTextError(`chain name ${JSON.stringify(name)} is not one safe token`);
  }
}

/** Throws unless `text` (or its parts, concatenated) has exactly `lines` newline-terminated lines and no NUL. */
export function assertLineCount(text: string | readonly string[], lines: number, table: string): void {
  const parts = typeof text === "string" ? [text] : text;
  let n = 0;
  let nul = false;
  for (const p of parts) {
    // A line's own end, a third of a restore's parts (table-plan.ts): counted without a scan.
    if (p === "\n") {
      n++;
      continue;
    }
    for (let at = p.indexOf("\n"); at !== -1; at = p.indexOf("\n", at + 1)) n++;
    nul ||= p.includes("\0");
  }
  let last = parts.length - 1;
  while (last > 0 && parts[last] === "") last--;
  if (n !== lines || !parts[last]?.endsWith("\n")) {
    throw new UnsafeRestoreTextError(
      `table ${table}: ${n} lines where ${lines} commands were written (a name or comment holds a newline)`,
    );
  }
  if (nul) throw new UnsafeRestoreTextError(`table ${table}: a NUL character`);
}
