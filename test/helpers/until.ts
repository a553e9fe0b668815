// Polls `cond` every 5 ms until it holds; fails the test after 20 s, naming `what`.

import assert from "node:assert/strict";

export async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
