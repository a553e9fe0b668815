// felix-dump trace and whatif as commands, over test/trace/cases/tiers (two
// nodes, Calico tiers with Pass and Deny, Kubernetes and Calico policies, a
// ClusterIP): text and JSON output compared with golden files in
// test/trace/golden/ (UPDATE_GOLDEN=1 rewrites them; review the diff).
// test-runner: machine-free: its processes are felix-dump over manifests (no kernel, no root).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { GOLDEN_DIR, goldenUpdate } from "../golden-cases.js";
import { FELIX_DUMP_SCRIPT } from "../helpers/trace-matrix.js";

const ROOT = join(GOLDEN_DIR, "..", "trace");
const CASE = join(ROOT, "cases", "tiers");
const GOLDEN = join(ROOT, "golden");
const update = goldenUpdate(process.env);

function felixDump(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [FELIX_DUMP_SCRIPT, ...args, "--resources", CASE, "--log-level", "error"], {
    encoding: "utf8",
    input,
    env: { ...process.env, FELIX_PROXYMODE: "iptables" },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function golden(file: string, got: string): void {
  const path = join(GOLDEN, file);
  if (update) writeFileSync(path, got);
  assert.equal(got, readFileSync(path, "utf8"), `${file} differs (UPDATE_GOLDEN=1 rewrites it; review the diff)`);
}

const packets = readFileSync(join(GOLDEN, "tiers.packets"), "utf8");
const added = join(GOLDEN, "tiers.add-deny-api.yaml");

describe("felix-dump trace and whatif golden output", () => {
  it("trace, text: one result per packet on stdin", () => {
    golden("tiers.trace.txt", felixDump(["trace", "-"], packets));
  });

  it("trace, JSON lines: verdict, path with origins, NAT branches", () => {
    const out = felixDump(["trace", "-o", "json", "-"], packets);
    golden("tiers.trace.jsonl", out);
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, packets.trim().split("\n").length);
    assert.deepEqual(
      lines.map((l) => l.verdict),
      ["allow", "deny", "deny", "allow", "deny", "allow", "deny", "deny", "allow"],
    );
    // The quarantined client is denied by the platform tier's policy, rule 0, on the server's node.
    assert.deepEqual(lines[2].deniedBy.origin, {
      kind: "policy",
      tier: "platform",
      policyKind: "GlobalNetworkPolicy",
      name: "platform.quarantine",
      direction: "ingress",
      ruleIndex: 0,
      action: "deny",
    });
    assert.equal(lines[2].deniedBy.node, "node1");
    // Via the ClusterIP: DNAT to the one endpoint, with its probability.
    assert.deepEqual(lines[5].branches[0].dnat, { ip: "10.244.1.10", port: 80 });
    assert.equal(lines[5].branches[0].probability, 1);
  });

  it("a single packet on the command line gives the same result as on stdin", () => {
    const one = felixDump(["trace", "-o", "json", "10.244.2.11", "10.244.1.10:80/tcp"]);
    assert.equal(one, `${felixDump(["trace", "-o", "json", "-"], packets).split("\n")[2]}\n`);
  });

  it("--node-name restricts the trace to that node", () => {
    const r = JSON.parse(
      felixDump(["trace", "-o", "json", "--node-name", "node2", "10.244.2.11", "10.244.1.10:80/tcp"]),
    );
    assert.deepEqual([...new Set(r.path.map((s: { node: string }) => s.node))], ["node2"]);
    assert.equal(r.verdict, "allow"); // the egress side allows it; node1's ingress is not traced
  });

  it("whatif --add: the pairs a new deny policy cuts, text and JSON", () => {
    golden("tiers.whatif-add.txt", felixDump(["whatif", "--add", added]));
    const j = JSON.parse(felixDump(["whatif", "--add", added, "-o", "json"]));
    golden("tiers.whatif-add.json", `${JSON.stringify(j, null, 2)}\n`);
    assert.deepEqual(
      j.changes.map((c: { client: string; server: string }) => `${c.client}>${c.server}`),
      ["prod/api>prod/web", "prod/api>quarantine/bad"],
    );
  });

  it("whatif --remove: removing the Kubernetes policy opens web to db", () => {
    golden("tiers.whatif-remove.txt", felixDump(["whatif", "--remove", "prod/web-from-api"]));
  });

  it("bad input exits 2 with a message", () => {
    for (const args of [["trace", "10.0.0.1", "10.0.0.2"], ["whatif"], ["whatif", "--remove", "prod/nope"]]) {
      const r = spawnSync(process.execPath, [FELIX_DUMP_SCRIPT, ...args, "--resources", CASE], { encoding: "utf8" });
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.notEqual(r.stderr, "");
    }
    const r = spawnSync(process.execPath, [FELIX_DUMP_SCRIPT, "trace", "-o", "json", "--resources", CASE, "-"], {
      encoding: "utf8",
      input: "10.244.2.10 10.244.1.10:80/tcp\nnot a packet\n",
    });
    assert.equal(r.status, 2);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(lines[0].verdict, "allow");
    assert.match(lines[1].error, /expected/);
  });
});
