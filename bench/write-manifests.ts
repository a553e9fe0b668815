#!/usr/bin/env node
// Writes a preset's synthetic cluster as a manifest directory:
// `node dist/bench/write-manifests.js <preset> <dir> [seed]` (for trying
// `felix --once` or `felix-dump` by hand on the bench's cluster).

import { ManifestDir } from "./manifest-dir.js";
import { SyntheticCluster } from "./scale.js";
import { isPresetName, PRESETS } from "./scale-spec.js";

const [preset, dir, seed] = process.argv.slice(2);
if (!preset || !dir || !isPresetName(preset)) {
  process.stderr.write("usage: write-manifests <small|medium|large|xl> <dir> [seed]\n");
  process.exit(2);
}
const t0 = performance.now();
const cluster = new SyntheticCluster(PRESETS[preset], Number(seed ?? 1));
const m = new ManifestDir(dir, cluster.updates);
process.stdout.write(
  `${dir}: ${m.fileCount} files, ${(m.bytes / 1e6).toFixed(1)} MB, ${cluster.updates.length} objects in ${(performance.now() - t0).toFixed(0)} ms\n`,
);
