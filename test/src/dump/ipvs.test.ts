// test-runner: machine-free: its processes are felix-dump over manifests (no kernel, no root).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { produce } from "immer";
import { IpvsStateBuilder } from "../../../calc-graph/services/ipvs-builder.js";
import { emptyState } from "../../../calc-graph/state-builder.js";
import { ipvsJson, ipvsText } from "../../../src/dump/ipvs.js";
import { ep, sp, terminating } from "../../calc-graph/services/service-fixtures.js";

const SCRIPT = fileURLToPath(new URL("../../../src/cli/felix-dump.js", import.meta.url));

const HEADER = [
  "IP Virtual Server version 1.2.1 (size=4096)",
  "Prot LocalAddress:Port Scheduler Flags",
  "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
];

describe("felix-dump ipvs", () => {
  test("prints the desired table exactly in ipvsadm -Ln layout", () => {
    const services = [
      sp({
        namespace: "default",
        service: "kubernetes",
        portName: "https",
        clusterIP: "10.96.0.1",
        port: 443,
        affinityTimeoutSeconds: 10800,
        endpoints: [ep("172.18.0.2", { port: 6443 })],
      }),
      sp({
        namespace: "kube-system",
        service: "kube-dns",
        portName: "dns",
        protocol: "udp",
        clusterIP: "10.96.0.10",
        port: 53,
        endpoints: [ep("10.244.0.3", { port: 53 }), terminating("10.244.0.2", { port: 53 })],
      }),
      sp({
        service: "web",
        clusterIP: "10.96.100.5",
        nodePort: 31080,
        externalPolicyLocal: true,
        endpoints: [ep("10.244.1.5", { local: true }), ep("10.244.2.5")],
      }),
      sp({ service: "web6", family: 6, clusterIP: "fd00::5", endpoints: [ep("fd10:244::5")] }),
    ];
    const s = produce(emptyState("node1"), (d) =>
      new IpvsStateBuilder({ scheduler: "rr" }).put(d, {
        servicePorts: services,
        nodeAddresses: ["192.168.0.1", "fd01::1"],
        podCidrs: [],
      }),
    );
    assert.equal(
      ipvsText(s),
      [
        ...HEADER,
        "TCP  10.96.0.1:443 rr persistent 10800",
        "  -> 172.18.0.2:6443              Masq    1      0          0         ",
        "TCP  10.96.100.5:80 rr",
        "  -> 10.244.1.5:8080              Masq    1      0          0         ",
        "  -> 10.244.2.5:8080              Masq    1      0          0         ",
        "TCP  192.168.0.1:31080 rr",
        "  -> 10.244.1.5:8080              Masq    1      0          0         ",
        "UDP  10.96.0.10:53 rr",
        "  -> 10.244.0.2:53                Masq    0      0          0         ",
        "  -> 10.244.0.3:53                Masq    1      0          0         ",
        "TCP  [fd00::5]:80 rr",
        "  -> [fd10:244::5]:8080           Masq    1      0          0         ",
        "",
      ].join("\n"),
    );
    const json = ipvsJson(s) as { boundAddresses: string[]; device: string };
    assert.deepEqual(json.boundAddresses, ["10.96.0.1", "10.96.0.10", "10.96.100.5", "fd00::5"]);
    assert.equal(json.device, "cali-ipvs0");
  });

  test("without IPVS state (proxy mode not ipvs): the headers only; JSON null", () => {
    assert.equal(ipvsText(emptyState("n1")), `${HEADER.join("\n")}\n`);
    assert.equal(ipvsJson(emptyState("n1")), null);
  });

  test("the subcommand runs", () => {
    const dir = mkdtempSync(join(tmpdir(), "felix-dump-ipvs-"));
    try {
      const r = spawnSync(process.execPath, [SCRIPT, "ipvs", "--resources", dir, "--node-name", "node1"], {
        encoding: "utf8",
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.split("\n").slice(1, 4).join("\n"), HEADER.join("\n"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
