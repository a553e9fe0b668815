// Parses iptables-save output into tables, chains and rules, picking out our
// rule hashes (`-m comment --comment "cali:<hash>"`). Only what the syncer
// needs is parsed: the rest of a rule is kept as text.
//
// Substrings are views of the save output (V8 slices), tens of megabytes at
// scale. A rule of a `cali-` chain keeps it alive only until the syncer's
// next apply puts the snapshot's rules in its place (each such chain is then
// rewritten, removed, or found equal and shared); chain names and the rules
// of other chains (built-in, foreign) get copies of their own, as they may
// stay in the view until the next read.

import { ownString } from "../model/own-string.js";
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
      const [view, policy] = line.slice(1).split(" ");
      const name = ownString(view); // a key of the view's chains for as long as the chain lives
      table.chains.set(name, { name, policy, rules: [] });
    } else if (line.startsWith("-A ")) {
      const sp = line.indexOf(" ", 3);
      const chainName = line.slice(3, sp < 0 ? undefined : sp);
      const ruleText = sp < 0 ? "" : line.slice(sp + 1);
      let chain = table.chains.get(chainName);
      if (!chain) {
        chain = { name: ownString(chainName), policy: "-", rules: [] };
        table.chains.set(chain.name, chain);
      }
      const ours = chainName.startsWith("cali-");
      const text = ours ? ruleText : ownString(ruleText);
      const m = HASH_RE.exec(text);
      chain.rules.push(m ? { text, hash: ours ? m[1] : ownString(m[1]) } : { text });
    }
  }
  return tables;
}
