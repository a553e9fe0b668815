// The nftables dataplane spreads the services over NAT_SHARDS nat tables per
// family (nftables/README.md, "The services spread over nat tables"): at
// commit the kernel re-walks every chain reachable from a table's base chains
// (nft_table_validate), so a service change walks one table's service chains,
// about 1/NAT_SHARDS of them, instead of all of them.
//
// A service's shard is a hash of its `namespace/name`: stable (it never moves
// when other services come and go), and every chain, map element and affinity
// set of the service is in that table. A tenant choosing names can crowd one
// shard, but a shard's walk is never more than the one table's walk of an
// unsharded layout. The shard only picks among our fixed table names: a name
// never reaches a table name.
//
// In the rule model the shards stay one nat table (one namespace of chain
// names, which the tracer walks): a chain carries its shard (`Chain.natShard`),
// the per-shard dispatch chains and maps have their own names (natShardName),
// and the nat hooks get one key per shard and stage (natStageHook):
//   shard k, its services (service IPs, external and LB IPs): priority dstnat + k
//   shard k, its node ports: priority dstnat + NAT_SHARDS + k
// so node ports are looked at only after every shard's service IPs, as
// kube-proxy's last dispatch rule does. The nat hook stops at the first base
// chain that sets up a binding (nf_nat_inet_fn); test/nftables/nat-shards-kernel.test.ts.

/** Nat tables per family in the nftables dataplane. */
export const NAT_SHARDS = 8;

/** A chain every nat table holds a copy of (a jump cannot leave its table): the masquerade mark. */
export const EVERY_NAT_SHARD = "every";

export type NatShard = number | typeof EVERY_NAT_SHARD;

const UTF8 = new TextEncoder();

/**
 * The shard of service `namespace/name`: FNV-1a (32 bits) of its UTF-8
 * bytes, mod NAT_SHARDS. Any string hashes (unicode, any length); the
 * result is only ever an index into our table names.
 */
export function natShardOf(serviceKey: string): number {
  let h = 0x811c9dc5;
  for (const b of UTF8.encode(serviceKey)) h = Math.imul(h ^ b, 0x01000193);
  return (h >>> 0) % NAT_SHARDS;
}

/** Shard k's copy of a per-shard object (dispatch chain, map): shard 0 keeps the unsharded name. */
export function natShardName(base: string, shard: number): string {
  return shard === 0 ? base : `${base}-${shard}`;
}

/** The built-in nat chains the services dispatch from. */
export type NatDispatchHook = "PREROUTING" | "OUTPUT";

/** One base chain of a sharded nat hook. */
export interface NatStage {
  readonly builtin: NatDispatchHook;
  readonly shard: number;
  readonly nodePorts: boolean;
}

/**
 * The nat hook key of a stage: shard 0's services stage is the built-in
 * itself (Calico's own nat rules stay first there), `<B>-<k>` shard k's,
 * `<B>-NODEPORTS` / `<B>-NODEPORTS-<k>` the node-port stages.
 */
export function natStageHook(s: NatStage): string {
  return natShardName(s.nodePorts ? `${s.builtin}-NODEPORTS` : s.builtin, s.shard);
}

const STAGE = /^(PREROUTING|OUTPUT)(-NODEPORTS)?(?:-([1-9][0-9]*))?$/;

/** The stage a nat hook key names; undefined for any other key (POSTROUTING, INPUT, …). */
export function parseNatStage(key: string): NatStage | undefined {
  const m = STAGE.exec(key);
  if (!m) return undefined;
  const shard = m[3] === undefined ? 0 : Number(m[3]);
  if (shard >= NAT_SHARDS) return undefined;
  return { builtin: m[1] as NatDispatchHook, shard, nodePorts: m[2] !== undefined };
}

/** Where a stage's base chain hooks: dstnat + its place in the order. */
export function natStagePriority(s: NatStage): number {
  return -100 + s.shard + (s.nodePorts ? NAT_SHARDS : 0);
}

/** The nat hook keys of `hooks` that `builtin` runs, in the kernel's order (the built-in itself first). */
export function natStagesOf(hooks: Readonly<Record<string, unknown>>, builtin: string): string[] {
  const out: { key: string; priority: number }[] = [];
  for (const key of Object.keys(hooks)) {
    const s = parseNatStage(key);
    if (s?.builtin === builtin) out.push({ key, priority: natStagePriority(s) });
  }
  return out.sort((a, b) => a.priority - b.priority).map((s) => s.key);
}
