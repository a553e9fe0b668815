// Which policy dataplane the agent programs: iptables (+ ipsets) or our own
// nftables tables. FELIX_NFTABLESMODE / FelixConfiguration `nftablesMode`
// (env > `node.<name>` > `default`, as every field): Enabled, Disabled, or
// Auto (the default, as in Calico 3.32): nftables exactly when kube-proxy
// runs in nftables mode on this node, which Calico tells by kube-proxy's own
// tables (`table ip kube-proxy` / `table ip6 kube-proxy`). The choice is made
// once at start; a later change of the setting restarts the agent (exit 129,
// as Felix does for a configuration change), so one process never mixes them.

import { felixConfigFromEnv, felixConfigFromSpec } from "../calc-graph/config/fields.js";
import { CommandNotFoundError, type ExecResult, run } from "../iptables/exec.js";
import type { ResourceUpdate } from "../model/resource.js";
import type { Observable } from "../model/rx.js";
import { NFT_TABLES } from "../nftables/names.js";
import { isConfigListed, isPartial } from "./datastore/batch.js";
import { type FirstBatch, firstBatch } from "./first-batch.js";
import type { RuleDataplane } from "./rule-renderers.js";

export type NftablesMode = "Enabled" | "Disabled" | "Auto";

/** kube-proxy's nftables mode keeps its rules in tables named `kube-proxy` (pkg/proxy/nftables). */
const KUBE_PROXY_TABLE = /^table (ip|ip6|inet) kube-proxy$/m;

/**
 * `nft list tables` output (a `table <family> <name>` line per table), or undefined where nft is
 * missing or refuses (no nf_tables). Asked as `nft list flowtables`, which prints each table as
 * `table <family> <name> {` with only its flowtables (indented) before its `}`: nft 1.0.6 fills
 * its whole cache for `list tables`, every rule of every table, and the kernel resumes a rule
 * dump by skipping what it sent, so with our tables of `large` loaded (180k rules) that took
 * 71 s of system CPU at a restart; `list flowtables` dumps tables and flowtables only (0.01 s).
 */
export async function listNftTables(
  prefix: readonly string[] = [],
  exec: (cmd: string, args: readonly string[]) => Promise<ExecResult> = run,
): Promise<string | undefined> {
  try {
    const [cmd, ...args] = [...prefix, "nft", "list", "flowtables"];
    const r = await exec(cmd, args);
    return r.code === 0 ? tableLines(r.stdout) : undefined;
  } catch (e) {
    if (e instanceof CommandNotFoundError) return undefined;
    throw e;
  }
}

/** The `table <family> <name>` lines of a `list flowtables` listing (what `list tables` prints). */
export function tableLines(listing: string): string {
  let out = "";
  for (const line of listing.split("\n")) {
    if (line.startsWith("table ") && line.endsWith(" {")) out += `${line.slice(0, -2)}\n`;
  }
  return out;
}

/** Whether kube-proxy's nftables tables are in this network namespace. */
export function kubeProxyNftPresent(tables: string | undefined): boolean {
  return KUBE_PROXY_TABLE.test(tables ?? "");
}

/** Whether a table listing (listNftTables) names a table of ours in either family. */
export function ourNftTablesIn(tables: string | undefined): boolean {
  const ours = new Set(NFT_TABLES);
  return (tables ?? "").split("\n").some((l) => {
    const m = /^table (ip|ip6) (\S+)$/.exec(l.trim());
    return m !== null && ours.has(m[2] as string);
  });
}

/** The settings of the FelixConfigurations that apply to this node, by level, from updates. */
export class NftablesModeSetting {
  private readonly levels = new Map<string, NftablesMode | undefined>();
  private readonly env: NftablesMode | undefined;

  constructor(
    private readonly nodeName: string,
    env: Readonly<Record<string, string | undefined>>,
  ) {
    // Throws (a usage error) on a bad FELIX_NFTABLESMODE.
    this.env = felixConfigFromEnv({ FELIX_NFTABLESMODE: env.FELIX_NFTABLESMODE }).nftablesMode;
  }

  /** Takes the FelixConfiguration updates of a batch; true when the effective setting changed. */
  update(batch: readonly ResourceUpdate[]): boolean {
    const before = this.value;
    for (const u of batch) {
      if (u.kind !== "FelixConfiguration" || (u.name !== "default" && u.name !== `node.${this.nodeName}`)) continue;
      let v: NftablesMode | undefined;
      try {
        const spec = (u.value as { spec?: Record<string, unknown> } | null)?.spec;
        v = spec ? felixConfigFromSpec({ nftablesMode: spec.nftablesMode }).nftablesMode : undefined;
      } catch {
        v = undefined; // the graph reports the bad value; it counts as unset
      }
      this.levels.set(u.name, v);
    }
    return this.value !== before;
  }

  /** FELIX_NFTABLESMODE is set: the FelixConfigurations do not matter. */
  get fromEnv(): boolean {
    return this.env !== undefined;
  }

  /** The effective setting: env, else `node.<name>`, else `default`, else Auto. */
  get value(): NftablesMode {
    return this.env ?? this.levels.get(`node.${this.nodeName}`) ?? this.levels.get("default") ?? "Auto";
  }
}

/** The dataplane a setting means on a host where kube-proxy's nft tables are (or are not) present. */
export function resolveNftablesMode(mode: NftablesMode, kubeProxyNft: boolean): RuleDataplane {
  if (mode === "Enabled") return "nftables";
  if (mode === "Disabled") return "iptables";
  return kubeProxyNft ? "nftables" : "iptables";
}

/**
 * Feeds `setting` the first batch's FelixConfigurations, reading its parts only up to the one
 * after which none is to come: the Kubernetes datastore lists them first (`configListed`), so the
 * graph then takes the other parts as they arrive; the file datastore's are known only at its end.
 * Returns what to hand the graph: the parts read, then the rest of the stream.
 */
export async function readNftablesSetting(
  updates: Observable<ResourceUpdate[]>,
  setting: NftablesModeSetting,
): Promise<Pick<FirstBatch<ResourceUpdate[]>, "rest" | "stop">> {
  const read = await firstBatch(updates, (b) => !isPartial(b) || isConfigListed(b));
  for (const part of read.parts) setting.update(part);
  return { rest: read.rest, stop: read.stop };
}
