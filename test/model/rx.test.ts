// rxjs's index loads ~220 modules at every start of felix and felix-dump: the
// product imports rxjs only through model/rx.ts, which takes each piece from
// its own module.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { GOLDEN_DIR } from "../golden-cases.js";

const ROOT = join(GOLDEN_DIR, "..", "..");
const PRODUCT_DIRS = [
  "model",
  "src",
  "calc-graph",
  "iptables",
  "nftables",
  "routes",
  "ifaces",
  "ipvs",
  "trace",
  "status",
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

test("product code imports rxjs only through model/rx.ts", () => {
  const files = PRODUCT_DIRS.flatMap((d) => sources(join(ROOT, d)));
  assert.ok(files.length > 100, "the product sources were found");
  const offenders = files.filter(
    (f) => !f.endsWith(join("model", "rx.ts")) && /from "rxjs(\/[^"]*)?"/.test(readFileSync(f, "utf8")),
  );
  assert.deepEqual(offenders, []);
});
