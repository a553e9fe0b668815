// `felix-dump mtu` and the networking lines of `felix-dump routes`, through the real CLI.
// test-runner: machine-free: its processes are felix-dump over manifests (no kernel, no root).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { GOLDEN_DIR } from "../../golden-cases.js";

const SCRIPT = fileURLToPath(new URL("../../../src/cli/felix-dump.js", import.meta.url));
const dump = (...args: string[]) =>
  spawnSync(process.execPath, [SCRIPT, ...args, "--log-level", "error"], {
    encoding: "utf8",
    env: { ...process.env, FELIX_MTUFILEPATH: "/tmp/felix-ts-test/mtu" },
  });

test("felix-dump mtu: auto VXLAN MTU from the host MTU, the pod MTU and its file", () => {
  const r = dump(
    "mtu",
    "--resources",
    join(GOLDEN_DIR, "pools-vxlan-always"),
    "--node-name",
    "node1",
    "--host-mtu",
    "1500",
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      "host MTU       1500 (--host-mtu)",
      "vxlan.calico   1450 (host MTU - 50)",
      "pod MTU        1450",
      "MTU file       /tmp/felix-ts-test/mtu",
      "",
    ].join("\n"),
  );
  const j = dump(
    "mtu",
    "--resources",
    join(GOLDEN_DIR, "pools-block-affinity-felix-config"),
    "--node-name",
    "node1",
    "--host-mtu",
    "9000",
    "-o",
    "json",
  );
  assert.equal(j.status, 0, j.stderr);
  const v = JSON.parse(j.stdout);
  assert.deepEqual([v.podMtu, v.tunnels[0].configured], [1350, true], "node.node1's vxlanMTU wins");
});

test("felix-dump mtu with no pool: the host MTU, no file", () => {
  const r = dump(
    "mtu",
    "--resources",
    join(GOLDEN_DIR, "pools-no-pool-unchanged"),
    "--node-name",
    "node1",
    "--host-mtu",
    "1500",
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /pod MTU +1500 \(no encapsulation: the host MTU\)/);
  assert.match(r.stdout, /MTU file +not written \(no IP pools\)/);
  assert.equal(dump("mtu", "--resources", GOLDEN_DIR, "--node-name", "n", "--host-mtu", "x").status, 2);
});

test("felix-dump routes lists the neighbour and FDB entries after the routes", () => {
  const r = dump("routes", "--resources", join(GOLDEN_DIR, "pools-vxlan-cross-subnet"), "--node-name", "node1");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^10\.244\.3\.0\/24 via 10\.244\.3\.0 dev vxlan\.calico proto 80 onlink$/m);
  assert.match(r.stdout, /^# neighbours .*\n10\.244\.3\.0 dev vxlan\.calico lladdr [0-9a-f:]+ PERMANENT$/m);
  assert.match(r.stdout, /^# fdb .*\n[0-9a-f:]+ dev vxlan\.calico dst 172\.31\.251\.3 self permanent$/m);
});
