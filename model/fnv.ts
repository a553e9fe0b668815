// FNV-1a (32 bits) over a string's UTF-16 code units: the cheap, stable spread
// behind our in-memory shards and buckets (chain shards, IP set shards, member
// buckets). Not keyed: a tenant who picks the strings can crowd one shard, which
// costs that shard's copy, never correctness. Names that reach the kernel hash
// UTF-8 bytes instead (nat-shards.ts, rules/endpoint-mark.ts).

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
