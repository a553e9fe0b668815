// Several nft writes at once (families, tables): each is waited for, so a refused one
// leaves none of the others running unwatched; then the first refusal is thrown, or
// their results come back in order.

export async function allSettledOrThrow<T>(writes: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(writes);
  const refused = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (refused) throw refused.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}
