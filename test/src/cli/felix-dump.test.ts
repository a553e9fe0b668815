// test-runner: machine-free: its processes are felix-dump over manifests (no kernel, no root).

import assert from "node:assert/strict";
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

// dist/test/src/cli/felix-dump.test.js → dist/src/cli/felix-dump.js
const SCRIPT = fileURLToPath(new URL("../../../src/cli/felix-dump.js", import.meta.url));
const GOLDEN = fileURLToPath(new URL("../../../../test/golden", import.meta.url));

const MANIFESTS = `
apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
spec: {podCIDR: 10.65.0.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
spec:
  nodeName: node1
  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]
status: {phase: Running, podIP: 10.65.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: remote, namespace: prod, labels: {app: web}}
spec: {nodeName: node2}
status: {phase: Running, podIP: 10.65.1.5}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
    - from: [{podSelector: {}}]
      ports: [{port: 8080}]
`;

let dir: string;

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("FELIX_")) e[k] = v;
  return { ...e, ...extra };
}

function run(args: string[], extraEnv: Record<string, string> = {}): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: "utf8", env: env(extraEnv), timeout: 30_000 });
  assert.equal(r.error, undefined, `spawn failed: ${r.error}`);
  return r;
}

/** Runs a subcommand against the temp manifests for node1. */
function dump(cmd: string, ...more: string[]) {
  return run([cmd, ...more, "--resources", dir, "--node-name", "node1"]);
}

function assertOk(r: SpawnSyncReturns<string>) {
  assert.equal(r.status, 0, `exit ${r.status}, stderr:\n${r.stderr}`);
}

function assertUsageError(r: SpawnSyncReturns<string>, message: RegExp) {
  assert.equal(r.status, 2, `exit ${r.status}, stderr:\n${r.stderr}`);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "felix-dump-"));
  await writeFile(join(dir, "cluster.yaml"), MANIFESTS);
  // A broken file: reported on stderr, must not corrupt stdout.
  await writeFile(join(dir, "broken.yaml"), "kind: Pod\nmetadata: {}\n");
  await writeFile(join(dir, "README.md"), "not a manifest\n");
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("felix-dump iptables", () => {
  it("prints iptables-restore input, raw table first", () => {
    const r = dump("iptables");
    assertOk(r);
    assert.ok(r.stdout.startsWith("*raw\n"), r.stdout.slice(0, 100));
    assert.match(r.stdout, /^COMMIT$/m);
    for (const table of ["*mangle", "*nat", "*filter"]) assert.ok(r.stdout.includes(`\n${table}\n`), table);
    assert.equal(r.stdout.match(/^COMMIT$/gm)?.length, 4);
    assert.ok(r.stdout.endsWith("COMMIT\n"));
  });

  it("mentions the local workload's interface", () => {
    const ep = JSON.parse(dump("endpoints", "-o", "json").stdout) as { iface: string }[];
    assert.ok(dump("iptables").stdout.includes(ep[0].iface));
  });

  it("--ipv6 prints the ip6tables input", () => {
    const r = dump("iptables", "--ipv6");
    assertOk(r);
    assert.ok(r.stdout.startsWith("*raw\n"));
    assert.match(r.stdout, /^COMMIT$/m);
  });

  it("-o json is JSON", () => {
    const r = dump("iptables", "-o", "json");
    assertOk(r);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(typeof j, "object");
    assert.ok("filter" in j);
  });
});

describe("felix-dump config", () => {
  it("prints the settings in force (env over FelixConfiguration) and names ignored fields", () => {
    const r = run(["config", "--resources", dir, "--node-name", "node1"], {
      FELIX_IPTABLESFILTERDENYACTION: "REJECT",
      FELIX_WIREGUARDENABLED: "true",
    });
    assertOk(r);
    assert.match(r.stdout, /^filterDenyAction = REJECT$/m);
    assert.match(r.stdout, /^endpointToHostAction = ACCEPT$/m);
    assert.match(r.stdout, /^markMask = 0xffff0000$/m);
    assert.match(r.stdout, /^# {3}wireguardEnabled=true$/m);
    const j = JSON.parse(run(["config", "-o", "json", "--resources", dir, "--node-name", "node1"]).stdout);
    assert.deepEqual([j.settings.filterDenyAction, j.ignored], ["DROP", []]);
  });
});

describe("felix-dump endpoints", () => {
  it("prints a table of this node's endpoints", () => {
    const r = dump("endpoints");
    assertOk(r);
    const [header, ...rows] = r.stdout.trimEnd().split("\n");
    for (const col of ["WORKLOAD", "NODE", "NETWORKS", "INTERFACE"]) assert.ok(header.includes(col), col);
    assert.equal(rows.length, 1, r.stdout);
    assert.match(rows[0], /^prod\/web\s+node1\s+10\.65\.0\.5\/32\s+cali[0-9a-f]{11}$/);
  });

  it("-o json parses and lists only local endpoints", () => {
    const r = dump("endpoints", "-o", "json");
    assertOk(r);
    const eps = JSON.parse(r.stdout) as { key: string; node: string; ipv4Nets: string[] }[];
    assert.deepEqual(
      eps.map((e) => [e.key, e.node, e.ipv4Nets]),
      [["prod/web", "node1", ["10.65.0.5/32"]]],
    );
  });

  it("manifest problems go to stderr, leaving stdout clean", () => {
    const r = dump("endpoints", "-o", "json");
    assert.match(r.stderr, /broken\.yaml/);
    assert.match(r.stderr, /Pod has no metadata\.name/);
    assert.doesNotThrow(() => JSON.parse(r.stdout));
  });
});

describe("felix-dump policies", () => {
  it("lists the policies selecting a local pod", () => {
    const r = dump("policies", "prod/web");
    assertOk(r);
    assert.match(r.stdout, /^Workload prod\/web \(interface cali[0-9a-f]{11}, node node1\)$/m);
    assert.match(
      r.stdout,
      /^Ingress \(.*\):\n {2}tier default:\n {4}1\. prod\/knp\.default\.allow-web {2}\[KubernetesNetworkPolicy, chain cali-pi-/m,
    );
    assert.match(r.stdout, /^ {4}end of tier: deny: what no policy in it allowed or passed is dropped$/m);
    assert.match(r.stdout, /allowed by profile kns\.prod \(no policy selects this pod for egress\)/);
    assert.match(r.stdout, /^Profiles: kns\.prod, ksa\.prod\.default$/m);
  });

  it("-o json parses", () => {
    const r = dump("policies", "prod/web", "-o", "json");
    assertOk(r);
    const e = JSON.parse(r.stdout) as {
      workload: string;
      ingress: { policies: { name: string; key: string }[] };
      egress: { policies: unknown[] };
    };
    assert.equal(e.workload, "prod/web");
    assert.deepEqual(
      e.ingress.policies.map((p) => [p.name, p.key]),
      [["prod/knp.default.allow-web", "default/prod/knp.default.allow-web"]],
    );
    assert.deepEqual(e.egress.policies, []);
  });

  it("lists Calico tiers in order, each with its policies and its end, and what staged policies would change", () => {
    const r = run([
      "policies",
      "prod/web",
      "--resources",
      join(GOLDEN, "calico-tiers-pass-deny"),
      "--node-name",
      "node1",
    ]);
    assertOk(r);
    const tiers = [...r.stdout.matchAll(/^ {2}tier (\S+):$/gm)].map((m) => m[1]);
    assert.deepEqual(tiers.slice(0, 3), ["platform", "security", "default"], "ingress tiers in order");
    assert.match(
      r.stdout,
      /tier security:\n {4}2\. prod\/security\.web-no-udp {2}\[NetworkPolicy, chain cali-pi-\S+\]\n {4}end of tier: pass: /,
    );
    assert.match(r.stdout, /1\. platform\.quarantine {2}\[GlobalNetworkPolicy, /);
    assert.doesNotMatch(r.stdout, /Staged/);
    const staged = run([
      "policies",
      "prod/web",
      "--resources",
      join(GOLDEN, "calico-staged-not-enforced"),
      "--node-name",
      "node1",
    ]);
    assertOk(staged);
    const [now, after] = staged.stdout.split("Staged policies (not enforced) would change this to:\n");
    assert.match(now, /1\. prod\/allow-web {2}\[NetworkPolicy/);
    assert.doesNotMatch(now, /deny-all|isolate/, "staged policies are not in force");
    assert.ok(after, "the staged section is there");
    assert.match(after, /1\. prod\/knp\.default\.isolate {2}\[KubernetesNetworkPolicy/);
    assert.match(after, /2\. deny-all {2}\[GlobalNetworkPolicy/);
    assert.doesNotMatch(after, /allow-web/, "the staged Delete removes it");
  });

  it("a pod on another node is a usage error", () => {
    const r = dump("policies", "prod/remote");
    assertUsageError(r, /felix-dump: prod\/remote is not a workload endpoint on node node1/);
    assert.equal(r.stdout, "");
  });

  it("an unknown pod, or a bare name outside default, is a usage error", () => {
    assertUsageError(dump("policies", "prod/nope"), /prod\/nope is not a workload endpoint/);
    assertUsageError(dump("policies", "web"), /default\/web is not a workload endpoint/);
  });

  it("a missing pod argument is a usage error", () => {
    assertUsageError(dump("policies"), /missing required argument/);
  });
});

describe("felix-dump other views", () => {
  for (const cmd of ["ipsets", "routes", "sysctls"]) {
    it(`${cmd} exits 0 in text and JSON`, () => {
      assertOk(dump(cmd));
      const j = dump(cmd, "-o", "json");
      assertOk(j);
      assert.doesNotThrow(() => JSON.parse(j.stdout));
    });
  }
});

describe("felix-dump usage", () => {
  it("--help exits 0 and lists the commands", () => {
    const r = run(["--help"]);
    assertOk(r);
    assert.match(r.stdout, /Usage: felix-dump/);
    for (const cmd of ["iptables", "ipsets", "endpoints", "policies", "routes", "sysctls"]) {
      assert.match(r.stdout, new RegExp(`^\\s+${cmd}\\b`, "m"), cmd);
    }
  });

  it("<command> --help exits 0", () => {
    const r = run(["endpoints", "--help"]);
    assertOk(r);
    assert.match(r.stdout, /Usage: felix-dump endpoints/);
    assert.match(r.stdout, /--resources <dir>/);
  });

  it("an unknown subcommand exits 2", () => {
    assertUsageError(run(["bogus", "--resources", dir, "--node-name", "node1"]), /unknown command 'bogus'/);
  });

  it("no subcommand exits 2", () => {
    const r = run([]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Usage: felix-dump/);
  });

  it("missing --resources exits 2", () => {
    assertUsageError(run(["endpoints", "--node-name", "node1"]), /required option '--resources <dir>' not specified/);
  });

  it("missing --node-name exits 2", () => {
    assertUsageError(run(["endpoints", "--resources", dir]), /required option '--node-name <node>' not specified/);
  });

  it("a nonexistent --resources dir exits 2", () => {
    const missing = join(dir, "nope");
    const r = run(["endpoints", "--resources", missing, "--node-name", "node1"]);
    assertUsageError(r, /felix-dump: cannot read --resources .*nope: ENOENT/);
    assert.equal(r.stdout, "");
  });

  it("a file as --resources exits 2", () => {
    assertUsageError(
      run(["endpoints", "--resources", join(dir, "cluster.yaml"), "--node-name", "node1"]),
      /cannot read --resources/,
    );
  });

  it("an invalid -o exits 2", () => {
    assertUsageError(dump("endpoints", "-o", "yaml"), /argument 'yaml' is invalid/);
  });

  it("an invalid --log-level exits 2 with a clear message", () => {
    assertUsageError(dump("endpoints", "--log-level", "loud"), /log.level/i);
  });

  it("an invalid FELIX_DEFAULTENDPOINTTOHOSTACTION exits 2 with a clear message", () => {
    const r = run(["endpoints", "--resources", dir, "--node-name", "node1"], {
      FELIX_DEFAULTENDPOINTTOHOSTACTION: "maybe",
    });
    assertUsageError(r, /FELIX_DEFAULTENDPOINTTOHOSTACTION/);
  });
});
