// felix-dump services / trace as a command: output, JSON, exit codes.
// test-runner: machine-free: its processes are felix-dump over manifests (no kernel, no root).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { GOLDEN_DIR } from "../../golden-cases.js";

const SCRIPT = fileURLToPath(new URL("../../../src/cli/felix-dump.js", import.meta.url));
const DIR = join(GOLDEN_DIR, "svc-session-affinity");

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [SCRIPT, ...args, "--resources", DIR, "--node-name", "node1", "--log-level", "error"], {
    encoding: "utf8",
    env: { ...process.env, FELIX_PROXYMODE: "iptables", ...env },
  });

describe("felix-dump services and trace", () => {
  it("services prints each service port's frontends and endpoints", () => {
    const r = run(["services"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^demo\/sticky tcp IPv4 +\(sessionAffinity ClientIP 600s\)$/m);
    assert.match(r.stdout, /10\.65\.2\.2:8080 +node2 +ready,serving +→ cluster/);
    const j = JSON.parse(run(["services", "-o", "json"]).stdout);
    assert.equal(j[0].id, "demo/sticky:/tcp/v4");
  });

  it("with FELIX_PROXYMODE off, says so and shows what iptables mode would do", () => {
    const r = run(["services"], { FELIX_PROXYMODE: "off" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^# FELIX_PROXYMODE is off/);
  });

  it("trace lists every branch; a bad destination exits 2", () => {
    const r = run(["trace", "10.65.2.9", "10.96.0.60:80/tcp"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((r.stdout.match(/DNAT to/g) ?? []).length, 4, r.stdout);
    assert.match(r.stdout, /p=0\.5000 +DNAT to 10\.65\.1\.2:8080/);
    const bad = run(["trace", "10.65.2.9", "10.96.0.60"]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /<ip>:<port>\/<tcp\|udp\|sctp>/);
  });

  it("trace follows kube-proxy's nftables layout (FELIX_PROXYMODE=nftables): verdict maps, numgen vmap, affinity sets", () => {
    const r = run(["trace", "10.65.2.9", "10.96.0.60:80/tcp"], { FELIX_PROXYMODE: "nftables" });
    assert.equal(r.status, 0, r.stderr);
    // The same branches as the iptables layout: two returning clients, two new ones at 0.5 each.
    assert.equal((r.stdout.match(/DNAT to/g) ?? []).length, 4, r.stdout);
    assert.match(r.stdout, /p=0\.5000 +DNAT to 10\.65\.1\.2:8080/);
    assert.match(r.stdout, /nat services#1 +vmap @service-ips/);
    assert.match(
      r.stdout,
      /if the client has an affinity entry in affinity-[A-Z2-7]{8}-demo\/sticky\/tcp\/__10\.65\.1\.2\/8080/,
    );
  });

  it("iptables refuses FELIX_PROXYMODE=nftables (that mode has no iptables form); services still shows the model", () => {
    const r = run(["iptables"], { FELIX_PROXYMODE: "nftables" });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /FELIX_PROXYMODE=nftables runs only in the nftables dataplane/);
    const sv = run(["services"], { FELIX_PROXYMODE: "nftables" });
    assert.equal(sv.status, 0, sv.stderr);
    assert.match(sv.stdout, /demo\/sticky/);
  });

  it("nftables prints kube-proxy's maps and affinity sets with FELIX_PROXYMODE=nftables", () => {
    const r = run(["nftables"], { FELIX_PROXYMODE: "nftables", FELIX_NFTABLESMODE: "Enabled" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /map service-ips \{\n\t\ttype ipv4_addr \. inet_proto \. inet_service : verdict\n/);
    assert.match(r.stdout, /set affinity-[A-Z2-7]{8}-demo\/sticky\/tcp\/__10\.65\.1\.2\/8080 \{/);
  });
});
