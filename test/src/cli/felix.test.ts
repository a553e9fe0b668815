// `felix`'s exit codes and messages on bad flags and configuration (2) and
// when it cannot run (1). Run with an empty PATH so no iptables or ipset can
// be found: nothing here can reach the kernel, as root or not.
// test-runner: machine-free: felix runs with an empty PATH and stops before the kernel.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

// dist/test/src/cli/felix.test.js → dist/src/cli/felix.js
const SCRIPT = fileURLToPath(new URL("../../../src/cli/felix.js", import.meta.url));
const EMPTY = mkdtempSync(join(tmpdir(), "felix-cli-"));
after(() => rmSync(EMPTY, { recursive: true, force: true }));

function felix(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], {
    encoding: "utf8",
    env: { PATH: EMPTY, HOME: EMPTY, ...env },
    timeout: 30_000,
  });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const FILE = ["--node-name", "node1", "--resources", EMPTY, "--once"];

describe("felix: bad flags and configuration exit 2 with one clear line", () => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    [
      "an unknown --datastore",
      ["--datastore", "etcd"],
      {},
      /argument 'etcd' is invalid\. Allowed choices are file, kubernetes/,
    ],
    ["an unknown flag", ["--bogus"], {}, /unknown option '--bogus'/],
    ["no node name", ["--once"], {}, /^felix: --node-name is required \(or NODENAME\)$/m],
    [
      "the file datastore without --resources",
      ["--node-name", "node1", "--once"],
      {},
      /^felix: --resources <dir> is required with --datastore file$/m,
    ],
    ["an unknown log level", [...FILE, "--log-level", "loud"], {}, /^felix: unknown log level "loud"/m],
    [
      "an unknown log format",
      [...FILE, "--log-format", "xml"],
      {},
      /argument 'xml' is invalid\. Allowed choices are json, text/,
    ],
    [
      "a bad FELIX_IPTABLESBACKEND",
      FILE,
      { FELIX_IPTABLESBACKEND: "iptables" },
      /^felix: FELIX_IPTABLESBACKEND must be auto, legacy or nft, not iptables$/m,
    ],
    [
      "FELIX_PROXYMODE=nftables with the iptables dataplane (kube-proxy's modes are exclusive)",
      FILE,
      { FELIX_PROXYMODE: "nftables", FELIX_NFTABLESMODE: "Disabled", FELIX_IPTABLESBACKEND: "legacy" },
      /^felix: FELIX_PROXYMODE=nftables needs the nftables dataplane, but FELIX_NFTABLESMODE=Disabled chose iptables/m,
    ],
    [
      "a bad refresh interval",
      FILE,
      { FELIX_IPTABLESREFRESHINTERVAL: "soon" },
      /^felix: FELIX_IPTABLESREFRESHINTERVAL must be a number of seconds, not "soon"$/m,
    ],
  ];
  for (const [what, args, env, message] of cases) {
    test(what, () => {
      const r = felix(args, env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    });
  }
});

test("felix: without its tools it exits 1 naming each missing one (and root, when not root)", () => {
  const r = felix(FILE, { FELIX_IPTABLESBACKEND: "legacy" });
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr
    .replace(/^felix: /, "")
    .trimEnd()
    .split("\n");
  const root = "felix needs root (CAP_NET_ADMIN) to program iptables, ipsets and routes: run it with sudo";
  assert.deepEqual(lines, [
    ...(process.getuid?.() === 0 ? [] : [root]),
    "iptables-legacy-save not found: install the iptables package (apt-get install iptables)",
    "iptables-legacy-restore not found: install the iptables package (apt-get install iptables)",
    "ipset not found: install the ipset package (apt-get install ipset)",
  ]);
});

test("felix --help exits 0 and lists the agent's flags and the demo", () => {
  const r = felix(["--help"]);
  assert.equal(r.code, 0);
  for (const flag of ["--datastore", "--resources", "--kubeconfig", "--node-name", "--once", "--log-level", "demo"])
    assert.ok(r.stdout.includes(flag), `--help lacks ${flag}`);
});
