// What a start of `felix` loads before it knows its mode (src/kernel-nft.ts, src/rule-renderers.ts):
// none of the nftables dataplane's modules, the IPVS reconciler or the daemon's (the dynamic imports
// load them where they are used). Each module is CPU at every start; e2e tests start felix hundreds of times.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const DIST = fileURLToPath(new URL("../../../", import.meta.url));
const FELIX = join(DIST, "src/cli/felix.js");

/** The files under dist/ that `node <script> <args>` loads (a module.register load hook lists them). */
async function loadedModules(script: string, args: string[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "felix-modules-"));
  try {
    const out = join(dir, "loaded");
    const hooks = `import { appendFileSync } from "node:fs";
export async function load(url, context, next) { appendFileSync(${JSON.stringify(out)}, url + "\\n"); return next(url, context); }`;
    const register = `import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
    await promisify(execFile)(process.execPath, [
      "--import",
      `data:text/javascript,${encodeURIComponent(register)}`,
      script,
      ...args,
    ]);
    return readFileSync(out, "utf8")
      .split("\n")
      .filter((u) => u.startsWith("file:") && fileURLToPath(u).startsWith(DIST))
      .map((u) => fileURLToPath(u).slice(DIST.length));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("felix's static imports leave out the nftables dataplane, IPVS reconciler and daemon modules", async () => {
  const loaded = await loadedModules(FELIX, ["--help"]);
  assert.ok(loaded.includes("src/kernel.js") && loaded.includes("calc-graph/calc-graph.js"), loaded.join("\n"));
  const notYet = loaded.filter(
    (m) =>
      (m.startsWith("nftables/") && m !== "nftables/names.js" && m !== "nftables/settled.js") ||
      ["src/kernel-nft.js", "ipvs/ipvs-sync.js", "ipvs/ipvsadm-backend.js", "src/cli/felix-daemon.js"].includes(m),
  );
  assert.deepEqual(notYet, []);
});
