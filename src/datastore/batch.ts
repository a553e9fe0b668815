// A batch of resource updates as a datastore hands it over. A datastore may
// hand its first (in-sync) batch over in parts: every part but the last is
// marked `partial`, and only the last completes the batch (the in-sync point).
// A consumer feeds partial parts to the graph as they come (CalcGraph.ingest),
// so the parsed objects are never all held at once, and computes a snapshot
// only at a complete batch. At the large preset, holding the whole parsed
// directory through the graph's first flush cost ~120 MB of peak RSS.

import type { ResourceUpdate } from "../../model/resource.js";

export type UpdateBatch = ResourceUpdate[] & {
  readonly partial?: true;
  readonly configListed?: true;
  readonly aheadDone?: true;
};

/** Marks updates as a part of a batch that more parts will complete. */
export function partialBatch(updates: ResourceUpdate[]): UpdateBatch {
  return Object.assign(updates, { partial: true as const });
}

export function isPartial(batch: readonly ResourceUpdate[]): boolean {
  return (batch as UpdateBatch).partial === true;
}

/**
 * Marks the part after which no FelixConfiguration of the first batch is still to come (the
 * Kubernetes datastore lists them before any other kind): the agent can choose its dataplane
 * there and let the graph ingest the rest as it comes, instead of holding the whole batch.
 */
export function configListedPart(updates: ResourceUpdate[]): UpdateBatch {
  return Object.assign(updates, { partial: true as const, configListed: true as const });
}

export function isConfigListed(batch: readonly ResourceUpdate[]): boolean {
  return (batch as UpdateBatch).configListed === true;
}

/**
 * Marks the part after which no update of the kinds read ahead follows in the first batch (the file
 * datastore's `ahead`: the files left provably hold none, kinds-ahead.ts).
 */
export function aheadDonePart(updates: ResourceUpdate[]): UpdateBatch {
  return Object.assign(updates, { partial: true as const, aheadDone: true as const });
}

export function isAheadDone(batch: readonly ResourceUpdate[]): boolean {
  return (batch as UpdateBatch).aheadDone === true;
}
