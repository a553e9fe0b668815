import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { desiredIpvs, ipvsDesiredTable } from "../../../calc-graph/services/ipvs-desired.js";
import type { ServicePort } from "../../../calc-graph/services/model.js";
import { formatIpvsadmList } from "../../../ipvs/ipvsadm-text.js";
import { ep, sp, terminating } from "./service-fixtures.js";

const NODE = ["192.168.1.10", "fd01::10"];

/** The desired table in `ipvsadm -Ln` layout, without the three header lines. */
function listing(sps: ServicePort[], o: Parameters<typeof desiredIpvs>[2] = {}, node = NODE): string {
  return formatIpvsadmList(ipvsDesiredTable(desiredIpvs(sps, node, o)))
    .split("\n")
    .slice(3)
    .map((l) => l.trimEnd())
    .join("\n");
}

const lines = (...ls: string[]) => `${ls.join("\n")}\n`;

describe("desiredIpvs", () => {
  test("ClusterIP: one virtual service, every ready endpoint at weight 1, masq, rr", () => {
    assert.equal(
      listing([sp({ endpoints: [ep("10.244.1.5"), ep("10.244.0.7", { port: 9090 })] })]),
      lines(
        "TCP  10.96.0.10:80 rr",
        "  -> 10.244.0.7:9090              Masq    1      0          0",
        "  -> 10.244.1.5:8080              Masq    1      0          0",
      ),
    );
  });

  test("NodePort on each node address of the family, ExternalIPs, LB IPs; only service IPs are bound", () => {
    const d = desiredIpvs(
      [
        sp({
          nodePort: 30080,
          externalIPs: ["203.0.113.7"],
          loadBalancerIPs: ["198.51.100.20"],
          endpoints: [ep("10.244.1.5")],
        }),
      ],
      [...NODE, "192.168.2.10"],
    );
    assert.equal(
      formatIpvsadmList(ipvsDesiredTable(d))
        .split("\n")
        .slice(3)
        .filter((l) => !l.startsWith("  ->"))
        .join("\n"),
      [
        "TCP  10.96.0.10:80 rr",
        "TCP  192.168.1.10:30080 rr",
        "TCP  192.168.2.10:30080 rr",
        "TCP  198.51.100.20:80 rr",
        "TCP  203.0.113.7:80 rr",
        "",
      ].join("\n"),
    );
    assert.deepEqual(d.boundAddresses, ["10.96.0.10", "198.51.100.20", "203.0.113.7"]);
    assert.deepEqual(d.nodeAddresses, ["192.168.1.10", "192.168.2.10", "fd01::10"]);
    assert.deepEqual(d.nodePortRange, [30000, 32767]);
    assert.equal(d.device, "cali-ipvs0");
  });

  test("IPv6 service ports use IPv6 node addresses only; UDP and SCTP", () => {
    assert.equal(
      listing([
        sp({
          family: 6,
          clusterIP: "fd00::a",
          nodePort: 30053,
          protocol: "udp",
          port: 53,
          endpoints: [ep("fd10::5", { port: 53 })],
        }),
        sp({ service: "sig", protocol: "sctp", port: 9999, endpoints: [ep("10.244.1.9", { port: 9999 })] }),
      ]),
      lines(
        "SCTP  10.96.0.10:9999 rr",
        "  -> 10.244.1.9:9999              Masq    1      0          0",
        "UDP  [fd00::a]:53 rr",
        "  -> [fd10::5]:53                 Masq    1      0          0",
        "UDP  [fd01::10]:30053 rr",
        "  -> [fd10::5]:53                 Masq    1      0          0",
      ),
    );
  });

  test("sessionAffinity ClientIP: persistence with its timeout; scheduler from the options", () => {
    assert.equal(
      listing([sp({ affinityTimeoutSeconds: 10800, endpoints: [ep("10.244.1.5")] })], { scheduler: "sh" }),
      lines("TCP  10.96.0.10:80 sh persistent 10800", "  -> 10.244.1.5:8080              Masq    1      0          0"),
    );
  });

  test("externalTrafficPolicy Local: external services get local endpoints only (none: no real server)", () => {
    const eps = [ep("10.244.1.5", { local: true }), ep("10.244.2.5")];
    assert.equal(
      listing([sp({ nodePort: 30080, externalPolicyLocal: true, endpoints: eps })], {}, ["192.168.1.10"]),
      lines(
        "TCP  10.96.0.10:80 rr",
        "  -> 10.244.1.5:8080              Masq    1      0          0",
        "  -> 10.244.2.5:8080              Masq    1      0          0",
        "TCP  192.168.1.10:30080 rr",
        "  -> 10.244.1.5:8080              Masq    1      0          0",
      ),
    );
    assert.equal(
      listing([sp({ nodePort: 30080, externalPolicyLocal: true, endpoints: [ep("10.244.2.5")] })], {}, [
        "192.168.1.10",
      ]),
      lines(
        "TCP  10.96.0.10:80 rr",
        "  -> 10.244.2.5:8080              Masq    1      0          0",
        "TCP  192.168.1.10:30080 rr",
      ),
    );
  });

  test("internalTrafficPolicy Local: the ClusterIP gets local endpoints only", () => {
    const eps = [ep("10.244.1.5", { local: true }), ep("10.244.2.5")];
    assert.equal(
      listing([sp({ internalPolicyLocal: true, externalIPs: ["203.0.113.7"], endpoints: eps })]),
      lines(
        "TCP  10.96.0.10:80 rr",
        "  -> 10.244.1.5:8080              Masq    1      0          0",
        "TCP  203.0.113.7:80 rr",
        "  -> 10.244.1.5:8080              Masq    1      0          0",
        "  -> 10.244.2.5:8080              Masq    1      0          0",
      ),
    );
  });

  test("terminating endpoints: drained at weight 0 while ready ones remain; used (weight 1) when only they serve", () => {
    assert.equal(
      listing([
        sp({
          endpoints: [ep("10.244.1.5"), terminating("10.244.1.6"), terminating("10.244.1.7", { serving: false })],
        }),
      ]),
      lines(
        "TCP  10.96.0.10:80 rr",
        "  -> 10.244.1.5:8080              Masq    1      0          0",
        "  -> 10.244.1.6:8080              Masq    0      0          0",
        "  -> 10.244.1.7:8080              Masq    0      0          0",
      ),
    );
    assert.equal(
      listing([sp({ endpoints: [terminating("10.244.1.6"), terminating("10.244.1.7", { serving: false })] })]),
      lines(
        "TCP  10.96.0.10:80 rr",
        "  -> 10.244.1.6:8080              Masq    1      0          0",
        "  -> 10.244.1.7:8080              Masq    0      0          0",
      ),
    );
    // not ready, not terminating (starting up): not a real server at all
    assert.equal(
      listing([sp({ endpoints: [ep("10.244.1.8", { ready: false, serving: false })] })]),
      lines("TCP  10.96.0.10:80 rr"),
    );
  });

  test("two services claiming one IP:port: the first by key wins, deterministically; headless ClusterIP skipped", () => {
    const a = sp({ service: "a", externalIPs: ["203.0.113.7"], clusterIP: "10.96.0.1", endpoints: [ep("10.244.1.1")] });
    const b = sp({ service: "b", externalIPs: ["203.0.113.7"], clusterIP: "10.96.0.2", endpoints: [ep("10.244.1.2")] });
    const h = sp({ service: "h", clusterIP: "None", endpoints: [ep("10.244.1.3")] });
    const one = desiredIpvs([b, h, a], NODE);
    assert.deepEqual(one, desiredIpvs([a, b, h], NODE));
    assert.deepEqual(
      one.services["tcp:203.0.113.7:80"].realServers.map((r) => r.address),
      ["10.244.1.1"],
    );
    assert.deepEqual(Object.keys(one.services), ["tcp:10.96.0.1:80", "tcp:10.96.0.2:80", "tcp:203.0.113.7:80"]);
  });

  test("a node address used as an external IP is served but never bound on the dummy device", () => {
    const d = desiredIpvs([sp({ externalIPs: ["192.168.1.10"] })], NODE);
    assert.ok(d.services["tcp:192.168.1.10:80"]);
    assert.deepEqual(d.boundAddresses, ["10.96.0.10"]);
  });

  test("the per-ServicePort memo follows the scheduler and the node addresses", () => {
    const one = sp({ nodePort: 30080, endpoints: [ep("10.244.1.5")] });
    assert.equal(desiredIpvs([one], ["192.168.1.10"]).services["tcp:10.96.0.10:80"].service.scheduler, "rr");
    assert.equal(
      desiredIpvs([one], ["192.168.1.10"], { scheduler: "lc" }).services["tcp:10.96.0.10:80"].service.scheduler,
      "lc",
    );
    assert.deepEqual(Object.keys(desiredIpvs([one], ["192.168.1.11"]).services), [
      "tcp:10.96.0.10:80",
      "tcp:192.168.1.11:30080",
    ]);
  });
});
