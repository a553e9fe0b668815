// The live heap, for tests that prove an object is let go: a full collection
// without starting node with --expose-gc, after any regular expression's
// last match (which keeps its subject string alive) is replaced.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** A full collection. */
export function fullGc(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

/** Bytes of live heap after a full collection. */
export function liveHeap(): number {
  /x/.test("x");
  fullGc();
  return process.memoryUsage().heapUsed;
}
