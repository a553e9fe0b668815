// Refcounted IP set members: two contributors of one member (endpoints
// sharing an IP, services sharing an address) must not remove it for each other.

/** Adds `delta` to a member's count, dropping it at zero; true when the member came or went. */
export function countMember(counts: Map<string, number>, member: string, delta: 1 | -1): boolean {
  const n = (counts.get(member) ?? 0) + delta;
  if (n <= 0) counts.delete(member);
  else counts.set(member, n);
  return n === 0 || (n === 1 && delta === 1);
}
