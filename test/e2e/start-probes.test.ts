// What one `felix --once` start runs, counted for real: felix programs a
// throwaway namespace with every tool it calls wrapped by a script that logs
// the command line and then runs the real tool. Probes whose answer cannot
// change during a start run once; the tunnel devices are read in one dump.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";

const FELIX = fileURLToPath(new URL("../../src/cli/felix.js", import.meta.url));
const EXAMPLE = fileURLToPath(new URL("../../../examples/quickstart", import.meta.url));
const TOOLS = ["ip", "nft", "ipset", "modprobe", "conntrack"].concat(
  ["iptables", "ip6tables"].flatMap((t) => ["legacy", "nft"].flatMap((m) => [`${t}-${m}-save`, `${t}-${m}-restore`])),
);

/** A directory of logging wrappers for the tools installed here, and the log they write. */
function wrappers(): { dir: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), "felix-probes-"));
  const log = join(dir, "calls.log");
  for (const tool of TOOLS) {
    const real = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
    if (!real) continue;
    writeFileSync(join(dir, tool), `#!/bin/sh\necho "${tool} $*" >> '${log}'\nexec '${real}' "$@"\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  writeFileSync(log, "");
  return { dir, log };
}

/** The tools one `felix --once` of the quickstart ran in a fresh namespace (FELIX_NFTABLESMODE as given). */
function callsOfOnce(nftablesMode: string): string[] {
  const ns = createNetns("fxprobe");
  const w = wrappers();
  try {
    const r = spawnSync(
      "ip",
      ["netns", "exec", ns, process.execPath, FELIX, "--resources", EXAMPLE, "--node-name", "node1", "--once"],
      {
        encoding: "utf8",
        env: { ...process.env, PATH: `${w.dir}:${process.env.PATH}`, FELIX_NFTABLESMODE: nftablesMode },
        timeout: 120_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(w.log, "utf8").trim().split("\n");
  } finally {
    deleteNetns(ns);
    rmSync(w.dir, { recursive: true, force: true });
  }
}

const skip = netnsSkipReason() ?? (spawnSync("nft", ["--version"]).status !== 0 ? "needs nft" : undefined);
test("one felix --once start: one `nft list flowtables`, one version probe per tool, one device dump for the tunnels", {
  ...skipIf(skip),
}, () => {
  {
    const calls = callsOfOnce("");
    const count = (re: RegExp) => calls.filter((c) => re.test(c)).length;
    // nftablesMode Auto reads the table list, and iptables mode's clean-up of our nft tables asks if nft works.
    assert.equal(count(/^nft list flowtables$/), 1, calls.join("\n"));
    assert.equal(count(/^iptables-legacy-restore --version$/), 1, "preflight and feature detection share one");
    assert.equal(count(/^ipset version$/), 1);
    assert.equal(count(/^ip -j -d addr show$/), 1, "one dump for vxlan.calico, vxlan-v6.calico and tunl0");
    assert.equal(count(/^ip .*addr show dev /), 0, calls.join("\n"));
    assert.equal(count(/^ip -j link show$/), 0, "the host MTU comes from the same dump");
    assert.ok(count(/^iptables-legacy-restore --noflush/) >= 1, "felix programmed the namespace through the wrappers");
    // Backend detection's save of ip6tables answers whether it works.
    assert.equal(count(/^ip6tables-legacy-save -t filter$/), 0, calls.join("\n"));
  }
});

test("an nftables-mode start reads each iptables backend once, for the leftovers, and chooses no backend", {
  ...skipIf(skip),
}, () => {
  const calls = callsOfOnce("Enabled");
  const count = (re: RegExp) => calls.filter((c) => re.test(c)).length;
  assert.ok(count(/^nft -f/) >= 1, "felix programmed the namespace through the wrappers");
  for (const t of ["iptables", "ip6tables"]) {
    for (const m of ["legacy", "nft"]) {
      assert.equal(count(new RegExp(`^${t}-${m}-save ?$`)), 1, `${t}-${m}-save: ${calls.join("\n")}`);
      assert.equal(count(new RegExp(`^${t}-${m}-save -t filter$`)), 0, "no availability probe of its own");
      assert.equal(count(new RegExp(`^${t}-${m}-save -t mangle$`)), 0, "FELIX_NFTABLESMODE=Enabled: no backend chosen");
    }
  }
});
