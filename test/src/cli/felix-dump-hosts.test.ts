// felix-dump endpoints lists this node's host endpoints after its workloads.
// test-runner: machine-free: its processes are felix-dump over manifests (no kernel, no root).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../../src/cli/felix-dump.js", import.meta.url));

const MANIFESTS = `
apiVersion: v1
kind: Node
metadata: {name: node1}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node1-eth0}
spec: {node: node1, interfaceName: eth0, expectedIPs: [192.168.0.1], profiles: [projectcalico-default-allow]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node2-eth0}
spec: {node: node2, interfaceName: eth0}
`;

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "felix-dump-hosts-"));
  await writeFile(join(dir, "cluster.yaml"), MANIFESTS);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function dump(...args: string[]) {
  const r = spawnSync(process.execPath, [SCRIPT, "endpoints", ...args, "--resources", dir, "--node-name", "node1"], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

describe("felix-dump endpoints with host endpoints", () => {
  it("prints this node's host endpoints in a second table", () => {
    const lines = dump().trimEnd().split("\n");
    const at = lines.findIndex((l) => l.startsWith("HOSTENDPOINT"));
    assert.ok(at > 0, lines.join("\n"));
    assert.deepEqual(
      lines.slice(at + 1).map((l) => l.split(/\s+/)),
      [["node1-eth0", "node1", "eth0", "192.168.0.1", "projectcalico-default-allow", "-"]],
    );
  });

  it("-o json appends them with kind HostEndpoint", () => {
    const eps = JSON.parse(dump("-o", "json")) as { kind?: string; name?: string; iface: string }[];
    assert.deepEqual(
      eps.filter((e) => e.kind === "HostEndpoint").map((e) => [e.name, e.iface]),
      [["node1-eth0", "eth0"]],
    );
  });
});
