// What our table holds in the kernel, as the syncer compares it with the
// desired one: per chain its hook and its rules' hash comments (in order), per
// set its type and elements. Read from `nft -j list table <family> calico`
// (only the fields named here are used, so the fake's JSON can leave out the
// rules' expressions), and kept up to date after each successful write.

import type { BaseChainSpec } from "./chains.js";

export interface ViewChain {
  readonly base?: BaseChainSpec & { readonly policy: string };
  /** Each rule's hash (`cali:<hash>` comment), undefined for a rule without one. */
  readonly hashes: readonly (string | undefined)[];
}

export interface ViewSet {
  readonly type: string;
  readonly interval: boolean;
  /** A map's elements are `key : verdict` (objects.ts); an affinity set's are the kernel's. */
  readonly elements: ReadonlySet<string>;
  /** A set with `flags timeout` (an affinity set): its timeout in seconds. */
  readonly timeout?: number;
}

export interface NftView {
  readonly chains: Map<string, ViewChain>;
  readonly sets: Map<string, ViewSet>;
}

/** The hash of a rule comment `cali:<hash>` (Felix may add `; <text>` after it). */
export function commentHash(comment: string | undefined): string | undefined {
  const m = /^cali:([^;\s]+)/.exec(comment ?? "");
  return m?.[1];
}

type Json = Record<string, unknown>;

/** An element of `nft -j` output as nft writes it in a script. */
export function elementText(e: unknown): string {
  if (typeof e === "string" || typeof e === "number") return String(e);
  const o = e as Json;
  if (o.prefix) {
    const p = o.prefix as { addr: string; len: number };
    return `${p.addr}/${p.len}`;
  }
  if (o.range) {
    const [a, b] = o.range as unknown[];
    return `${elementText(a)}-${elementText(b)}`;
  }
  if (o.concat) return (o.concat as unknown[]).map(elementText).join(" . ");
  if (o.elem) return elementText((o.elem as Json).val);
  throw new Error(`unknown nft set element ${JSON.stringify(e)}`);
}

/** A map element `[key, verdict]` of `nft -j` as `key : verdict` (objects.ts's text). */
function mapElementText(e: unknown): string {
  if (!Array.isArray(e) || e.length !== 2) throw new Error(`unknown nft map element ${JSON.stringify(e)}`);
  const v = e[1] as Json;
  const [kind] = Object.keys(v ?? {});
  const target = (v?.[kind] as Json | null)?.target;
  return `${elementText(e[0])} : ${target === undefined ? kind : `${kind} ${String(target)}`}`;
}

function typeText(t: unknown): string {
  return Array.isArray(t) ? t.join(" . ") : String(t);
}

/** Parses `nft -j list table <family> <table>` output into our view. */
export function parseNftJson(text: string): NftView {
  const doc = JSON.parse(text) as { nftables?: Json[] };
  const chains = new Map<string, { base?: ViewChain["base"]; hashes: (string | undefined)[] }>();
  const sets = new Map<string, ViewSet>();
  for (const item of doc.nftables ?? []) {
    if (item.chain) {
      const c = item.chain as Json;
      const base = c.hook
        ? {
            type: c.type as BaseChainSpec["type"],
            hook: c.hook as BaseChainSpec["hook"],
            priority: Number(c.prio),
            policy: String(c.policy ?? "accept"),
          }
        : undefined;
      chains.set(String(c.name), { base, hashes: chains.get(String(c.name))?.hashes ?? [] });
    } else if (item.rule) {
      const r = item.rule as Json;
      const name = String(r.chain);
      const c = chains.get(name) ?? { hashes: [] };
      chains.set(name, c);
      c.hashes.push(commentHash(r.comment as string | undefined));
    } else if (item.map) {
      const m = item.map as Json;
      sets.set(String(m.name), {
        type: `${typeText(m.type)} : ${typeText(m.map)}`,
        interval: false,
        elements: new Set(((m.elem as unknown[]) ?? []).map(mapElementText)),
      });
    } else if (item.set) {
      const s = item.set as Json;
      const type = typeText(s.type);
      const flags = (Array.isArray(s.flags) ? s.flags : s.flags ? [s.flags] : []) as string[];
      const elements = new Set(((s.elem as unknown[]) ?? []).map(elementText));
      const timeout = flags.includes("timeout") && typeof s.timeout === "number" ? { timeout: s.timeout } : {};
      sets.set(String(s.name), { type, interval: flags.includes("interval"), elements, ...timeout });
    }
  }
  return { chains, sets };
}
