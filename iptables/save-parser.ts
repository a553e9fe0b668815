// Parses iptables-save output into tables, chains and rules, picking out our
// rule hashes (`-m comment --comment "cali:<hash>"`). Only what the syncer
// needs is parsed: the rest of a rule is kept as text.

import { HASH_LENGTH } from "./hash.js";

export interface SavedRule {
  /** Rule text after `-A <chain> `, exactly as saved. */
  readonly text: string;
  /** Our hash, when the rule carries a `cali:` hash comment. */
  readonly hash?: string;
}

export interface SavedChain {
  readonly name: string;
  /** `ACCEPT`/`DROP` for built-in chains, `-` for user chains. */
  readonly policy: string;
  readonly rules: SavedRule[];
}

export interface SavedTable {
  readonly name: string;
  readonly chains: Map<string, SavedChain>;
}

const HASH_RE = new RegExp(`--comment "?cali:([A-Za-z0-9_-]{${HASH_LENGTH}})"?`);

export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let table: SavedTable | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      table = { name: line.slice(1), chains: new Map() };
      tables.set(table.name, table);
    } else if (line === "COMMIT") {
      table = undefined;
    } else if (!table) {
    } else if (line.startsWith(":")) {
      const [name, policy] = line.slice(1).split(" ");
      table.chains.set(name, { name, policy, rules: [] });
    } else if (line.startsWith("-A ")) {
      const sp = line.indexOf(" ", 3);
      const chainName = line.slice(3, sp < 0 ? undefined : sp);
      const ruleText = sp < 0 ? "" : line.slice(sp + 1);
      let chain = table.chains.get(chainName);
      if (!chain) {
        chain = { name: chainName, policy: "-", rules: [] };
        table.chains.set(chainName, chain);
      }
      const m = HASH_RE.exec(ruleText);
      chain.rules.push(m ? { text: ruleText, hash: m[1] } : { text: ruleText });
    }
  }
  return tables;
}
