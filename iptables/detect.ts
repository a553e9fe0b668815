// Chooses the iptables backend as Felix does (environment/feature_detect):
// kube-proxy's hint chains decide when present, else the backend holding more
// rules wins, and legacy wins a tie.

import { binary, type IptablesMode } from "./backend.js";
import { CommandNotFoundError, run } from "./exec.js";

/** `<family>tables-<mode>-save [-t table]` output, or undefined when the tool is missing or fails. */
export type SaveOf = (family: 4 | 6, mode: IptablesMode, table?: string) => Promise<string | undefined>;

const KUBE_HINTS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;

const saveOf: SaveOf = async (family, mode, table) => {
  try {
    const r = await run(binary(family, mode, "save"), table ? ["-t", table] : []);
    return r.code === 0 ? r.stdout : undefined;
  } catch (e) {
    if (e instanceof CommandNotFoundError) return undefined;
    throw e;
  }
};

/**
 * The start's saves, each run at most once: backend detection's (`save`), whose full saves then
 * answer whether a backend works and, in nftables mode, are the iptables leftovers' first reads
 * (src/kernel.ts). `take` hands a full save over once.
 */
export class StartSaves {
  private readonly runs = new Map<string, Promise<string | undefined>>();
  constructor(private readonly probe: SaveOf = saveOf) {}

  readonly save: SaveOf = (family, mode, table) => {
    const key = `${family}-${mode}-${table ?? ""}`;
    let p = this.runs.get(key);
    if (!p) {
      p = this.probe(family, mode, table);
      p.catch(() => {}); // a run nobody awaits (detection decided first) must not go unhandled
      this.runs.set(key, p);
    }
    return p;
  };

  /** A full save of the family's backend run so far (undefined text: it failed), then forgotten; undefined: none ran. */
  take(family: 4 | 6, mode: IptablesMode): Promise<string | undefined> | undefined {
    const key = `${family}-${mode}-`;
    const p = this.runs.get(key);
    this.runs.delete(key);
    return p;
  }

  /** Forgets every save (their texts are garbage once the start is done). */
  clear(): void {
    this.runs.clear();
  }
}

const countRules = (save: string | undefined) =>
  save ? save.split("\n").filter((l) => l.startsWith("-A ")).length : 0;

export async function detectBackend(probe: SaveOf = saveOf): Promise<IptablesMode> {
  // Each save runs at most once: the tie-break asks again for saves the count already read.
  const saves = new Map<string, Promise<string | undefined>>();
  const save: SaveOf = (family, mode, table) => {
    const key = `${family}-${mode}-${table ?? ""}`;
    const p = saves.get(key) ?? probe(family, mode, table);
    saves.set(key, p);
    return p;
  };
  // The four mangle saves run at once (they do not depend on each other); the first hint in order decides.
  const order = [
    [4, "nft"],
    [6, "nft"],
    [4, "legacy"],
    [6, "legacy"],
  ] as const;
  const mangles = order.map(([family, mode]) => save(family, mode, "mangle"));
  for (const p of mangles) p.catch(() => {}); // one that is not awaited (a hint came first) must not go unhandled
  for (const [i, [, mode]] of order.entries()) if (KUBE_HINTS.test((await mangles[i]) ?? "")) return mode;
  // The four full saves also run at once; awaited below.
  for (const [family, mode] of [...order.slice(2), ...order.slice(0, 2)]) save(family, mode).catch(() => {});
  const legacy = countRules(await save(4, "legacy")) + countRules(await save(6, "legacy"));
  const nft = countRules(await save(4, "nft")) + countRules(await save(6, "nft"));
  if (nft > legacy) return "nft";
  if ((await save(4, "legacy")) === undefined && (await save(4, "nft")) !== undefined) return "nft";
  return "legacy";
}

/** FELIX_IPTABLESBACKEND: `auto` (default), `legacy` or `nft` (case-insensitive, as Felix accepts). */
export async function chooseBackend(setting: string | undefined, save: SaveOf = saveOf): Promise<IptablesMode> {
  const s = (setting ?? "auto").toLowerCase();
  if (s === "legacy" || s === "nft") return s;
  if (s !== "auto") throw new Error(`FELIX_IPTABLESBACKEND must be auto, legacy or nft, not ${setting}`);
  return detectBackend(save);
}
