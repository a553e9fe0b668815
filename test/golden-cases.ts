// Where the golden cases live (in the source tree, also when run from dist/).

import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the first ancestor of this file holding package.json (dist/ has none). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const GOLDEN_DIR = join(repoRoot(), "test", "golden");

/** The case directories' names, sorted. */
export function caseNames(): string[] {
  if (!existsSync(GOLDEN_DIR)) return [];
  return readdirSync(GOLDEN_DIR)
    .filter((n) => statSync(join(GOLDEN_DIR, n)).isDirectory())
    .sort();
}

/**
 * Whether this run rewrites the expected files (UPDATE_GOLDEN=1) instead of
 * comparing with them. Refused when CI is set: a CI run that regenerated the
 * files would compare the output with itself and could never fail.
 */
export function goldenUpdate(env: NodeJS.ProcessEnv): boolean {
  if (env.UPDATE_GOLDEN !== "1") return false;
  if (env.CI)
    throw new Error(`UPDATE_GOLDEN=1 is refused when CI is set (CI=${env.CI}): golden files are compared in CI`);
  return true;
}
