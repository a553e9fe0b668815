// felix-dump ipvs on a cluster it was not developed against: a NodePort
// service with ClientIP affinity and a terminating endpoint → the exact
// `ipvsadm -Ln` table proxy mode ipvs would program on node1.
// test-runner: machine-free: its processes are felix-dump over manifests (no kernel, no root).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../../src/cli/felix-dump.js", import.meta.url));
const DIR = fileURLToPath(new URL("../../../../test/cli-fixtures/ipvs-held-out", import.meta.url));

const run = (env: Record<string, string>) =>
  spawnSync(process.execPath, [SCRIPT, "ipvs", "--resources", DIR, "--node-name", "node1", "--log-level", "error"], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });

const TABLE = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.10:80 sh persistent 10800
  -> 10.65.0.2:8080               Masq    1      0          0         
  -> 10.65.1.2:8080               Masq    0      0          0         
  -> 10.65.1.3:8080               Masq    1      0          0         
TCP  172.31.250.1:30080 sh persistent 10800
  -> 10.65.0.2:8080               Masq    1      0          0         
  -> 10.65.1.2:8080               Masq    0      0          0         
  -> 10.65.1.3:8080               Masq    1      0          0         
`;

describe("felix-dump ipvs", () => {
  it("prints the desired table: cluster IP and node port, persistence, the terminating endpoint draining at weight 0", () => {
    const r = run({ FELIX_PROXYMODE: "ipvs", FELIX_IPVSSCHEDULER: "sh" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, TABLE);
  });

  it("in another proxy mode says so, then shows what ipvs mode would program", () => {
    const r = run({ FELIX_PROXYMODE: "iptables", FELIX_IPVSSCHEDULER: "sh" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `# FELIX_PROXYMODE is iptables: shown as the ipvs proxy mode would program it\n${TABLE}`);
  });

  it("a bad scheduler is a usage error", () => {
    const r = run({ FELIX_PROXYMODE: "ipvs", FELIX_IPVSSCHEDULER: "fastest" });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /FELIX_IPVSSCHEDULER/);
  });
});
