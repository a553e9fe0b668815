// The node flags the felix bin starts with, read from its shebang
// (`#!/usr/bin/env -S node <flags>`): the one place they are written. The
// Dockerfile runs the bin itself, and the bench reads them here, so the figures
// it prints are those of the agent as users run it. V8 sizes its young
// generation when the heap is made: a flag like --max-semi-space-size works
// only on node's command line, never set later (v8.setFlagsFromString).

import { readFileSync } from "node:fs";

const SHEBANG = /^#!\/usr\/bin\/env -S node((?: --[a-z0-9-]+(?:=[\w.-]+)?)*)[ \t]*$/;

/** The flags after `node` on a script's shebang line; none when it has none or another interpreter. */
export function shebangNodeFlags(script: string): string[] {
  const text = readFileSync(script, "utf8");
  const first = text.slice(0, Math.max(0, text.indexOf("\n")));
  const m = SHEBANG.exec(first);
  return m ? m[1].split(" ").filter((f) => f !== "") : [];
}
