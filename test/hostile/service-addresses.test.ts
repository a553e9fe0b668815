// Services as an attack on the node (CVE-2020-8554's class): an endpoint at a
// loopback, link-local or metadata address is never a DNAT target nor an IPVS
// real server; an external or LB IP equal to a node's address or the gateway
// is refused, and the refusal follows the nodes as they come and go.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { CalcGraph, type GraphConfig } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { forbiddenServiceAddress } from "../../calc-graph/services/forbidden-addresses.js";
import { iptablesText } from "../../src/dump/views.js";
import { ipv4DefaultGateways, ipv6DefaultGateways } from "../../src/gateways.js";
import { deleted, node } from "../calc-graph/fixtures.js";
import { sliceUpdate, svcUpdate } from "../calc-graph/services/fixtures.js";

const graph = (cfg: Partial<GraphConfig> = {}) => new CalcGraph({ nodeName: "node1", proxyMode: "iptables", ...cfg });

const nodes = [node("node1", "10.65.1.0/24", "172.18.0.1"), node("node2", "10.65.2.0/24", "172.18.0.2")];

/** The addresses cali-SERVICES steers (`-d <ip>/32`), v4. */
const frontends = (s: DesiredState) =>
  [...iptablesText(s, 4).matchAll(/^-A cali-SERVICES -d (\S+)\/32 /gm)].map((m) => m[1]).sort();
const dnatTargets = (s: DesiredState) =>
  [...iptablesText(s, 4).matchAll(/-j DNAT --to-destination (\S+)/g)].map((m) => m[1]).sort();

describe("hostile input: service addresses", () => {
  test("forbidden address classes", () => {
    for (const ip of ["127.0.0.1", "127.1.2.3", "::1", "169.254.1.1", "169.254.169.254", "fe80::1", "fd00:ec2::254"])
      assert.ok(forbiddenServiceAddress(ip), ip);
    for (const ip of ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"])
      assert.ok(forbiddenServiceAddress(ip), ip);
    for (const ip of ["10.65.2.7", "192.0.2.10", "fd00:65::7", "2001:db8::1", "100.64.0.1"])
      assert.equal(forbiddenServiceAddress(ip), undefined, ip);
  });

  test("canonical IPv4: the fast path classifies as ipaddr.js does", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.constantFrom(0, 127, 169, 224, 239, 240, 255), fc.boolean(), (ip, lead, force) => {
        const t = force ? `${lead}.${lead === 169 ? 254 : 255}${ip.slice(ip.indexOf(".", ip.indexOf(".") + 1))}` : ip;
        const classes = ["unspecified", "loopback", "linkLocal", "multicast", "broadcast"];
        const want = t === "169.254.169.254" || classes.includes(ipaddr.parse(t).range());
        assert.equal(forbiddenServiceAddress(t) !== undefined, want, t);
      }),
      { numRuns: 5000 },
    );
  });

  test("endpoints at loopback, link-local and metadata addresses are never DNAT targets; each is reported", () => {
    const g = graph();
    const s = g.apply([
      ...nodes,
      svcUpdate("api", { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80 }] }),
      sliceUpdate("api-1", "api", [
        { ip: "10.65.2.7", node: "node2" },
        { ip: "127.0.0.1" },
        { ip: "169.254.169.254" },
        { ip: "169.254.7.7" },
      ]),
    ]);
    assert.deepEqual(dnatTargets(s), ["10.65.2.7:8080"]);
    const p = s.problems["EndpointSlice/demo/api-1"]?.message ?? "";
    for (const ip of ["127.0.0.1", "169.254.169.254", "169.254.7.7"])
      assert.match(p, new RegExp(`${ip} is .*service demo/api`));
  });

  test("a cluster IP at a metadata address is refused (no frontend steals the metadata service)", () => {
    const s = graph().apply([
      ...nodes,
      svcUpdate("meta", { clusterIP: "169.254.169.254", ports: [{ name: "http", port: 80 }] }),
      sliceUpdate("meta-1", "meta", [{ ip: "10.65.2.7" }]),
    ]);
    assert.deepEqual(frontends(s), []);
    assert.match(
      s.problems["Service/demo/meta"]?.message ?? "",
      /cloud metadata address, never a frontend of service demo\/meta/,
    );
  });

  test("an external IP equal to a node's address is refused, also when the node comes later; it returns when the node goes", () => {
    const g = graph();
    const svc = svcUpdate("x", {
      clusterIP: "10.96.0.20",
      externalIPs: ["192.0.2.10", "172.18.0.3"],
      ports: [{ name: "http", port: 80 }],
    });
    let s = g.apply([...nodes, svc, sliceUpdate("x-1", "x", [{ ip: "10.65.2.7" }])]);
    assert.deepEqual(frontends(s), ["10.96.0.20", "172.18.0.3", "192.0.2.10"]);
    assert.equal(s.problems["Service/demo/x/addresses"], undefined);
    const node3 = node("node3", "10.65.3.0/24", "172.18.0.3");
    s = g.apply([node3]);
    assert.deepEqual(frontends(s), ["10.96.0.20", "192.0.2.10"]);
    assert.match(
      s.problems["Service/demo/x/addresses"]?.message ?? "",
      /service demo\/x: .*IP 172\.18\.0\.3 is a node or gateway address \(refused\)/,
    );
    s = g.apply([deleted(node3)]);
    assert.deepEqual(frontends(s), ["10.96.0.20", "172.18.0.3", "192.0.2.10"]);
    assert.equal(s.problems["Service/demo/x/addresses"], undefined);
  });

  test("a load-balancer IP equal to this node's address or the gateway is refused", () => {
    const s = graph({ gatewayIPs: ["172.18.0.254"] }).apply([
      ...nodes,
      svcUpdate(
        "lb",
        { type: "LoadBalancer", clusterIP: "10.96.0.30", ports: [{ name: "http", port: 80, nodePort: 30080 }] },
        {
          status: { loadBalancer: { ingress: [{ ip: "172.18.0.1" }, { ip: "172.18.0.254" }, { ip: "198.51.100.7" }] } },
        },
      ),
      sliceUpdate("lb-1", "lb", [{ ip: "10.65.2.7" }]),
    ]);
    assert.deepEqual(frontends(s), ["10.96.0.30", "198.51.100.7"]);
    assert.match(
      s.problems["Service/demo/lb/addresses"]?.message ?? "",
      /IPs 172\.18\.0\.1, 172\.18\.0\.254 are node or gateway addresses/,
    );
  });

  test("ipvs: a loopback endpoint is no real server, a node-address external IP no virtual service", () => {
    const s = graph({ proxyMode: "ipvs" }).apply([
      ...nodes,
      svcUpdate("x", {
        clusterIP: "10.96.0.20",
        externalIPs: ["172.18.0.2", "192.0.2.10"],
        ports: [{ name: "http", port: 80 }],
      }),
      sliceUpdate("x-1", "x", [{ ip: "10.65.2.7" }, { ip: "127.0.0.1" }]),
    ]);
    const vs = Object.values(s.ipvs!.services);
    assert.deepEqual(vs.map((v) => v.service.address).sort(), ["10.96.0.20", "192.0.2.10"]);
    for (const v of vs)
      assert.deepEqual(
        v.realServers.map((r) => r.address),
        ["10.65.2.7"],
      );
  });

  test("attack: an external IP equal to another Service's cluster IP never captures it (either arrival order); it returns when that service goes", () => {
    const api = svcUpdate("kubernetes", { clusterIP: "10.96.0.1", ports: [{ name: "https", port: 443 }] });
    const evil = svcUpdate("aaa", {
      clusterIP: "10.96.0.66",
      externalIPs: ["10.96.0.1"],
      ports: [{ name: "https", port: 443 }],
    });
    const slices = [
      sliceUpdate("k-1", "kubernetes", [{ ip: "192.0.2.1" }], [{ name: "https", port: 6443 }]),
      sliceUpdate("a-1", "aaa", [{ ip: "10.65.2.66" }], [{ name: "https", port: 443 }]),
    ];
    const toApi = (s: DesiredState) => iptablesText(s, 4).match(/^-A cali-SERVICES -d 10\.96\.0\.1\/32 .*$/gm) ?? [];
    for (const order of [
      [api, evil],
      [evil, api],
    ]) {
      const g = graph();
      g.apply([...nodes, ...slices, order[0]]);
      const s = g.apply([order[1]]);
      assert.equal(toApi(s).length, 1, "one rule for 10.96.0.1: the cluster IP's");
      assert.match(toApi(s)[0] ?? "", /demo\/kubernetes:https cluster IP/);
      assert.match(
        s.problems["Service/demo/aaa/addresses"]?.message ?? "",
        /service demo\/aaa: external\/load-balancer IP 10\.96\.0\.1: a Service's cluster IP or a pod address \(refused\)/,
      );
      const gone = g.apply([svcUpdate("kubernetes", null)]);
      assert.match(toApi(gone)[0] ?? "", /demo\/aaa:https external IP/);
      assert.equal(gone.problems["Service/demo/aaa/addresses"], undefined);
    }
  });

  test("attack: an external or load-balancer IP inside the pod CIDRs (another tenant's pod) is refused, iptables and ipvs", () => {
    for (const proxyMode of ["iptables", "ipvs"] as const) {
      const s = graph({ proxyMode }).apply([
        ...nodes,
        svcUpdate(
          "grab",
          {
            type: "LoadBalancer",
            clusterIP: "10.96.0.30",
            externalIPs: ["10.65.2.10", "192.0.2.10"],
            ports: [{ name: "pg", port: 5432, nodePort: 30432 }],
          },
          { status: { loadBalancer: { ingress: [{ ip: "10.65.1.10" }] } } },
        ),
        sliceUpdate("grab-1", "grab", [{ ip: "10.65.2.66" }], [{ name: "pg", port: 5432 }]),
      ]);
      const addrs =
        proxyMode === "ipvs"
          ? [...new Set(Object.values(s.ipvs!.services).map((v) => v.service.address))].sort()
          : frontends(s);
      assert.ok(!addrs.includes("10.65.2.10") && !addrs.includes("10.65.1.10"), `${proxyMode}: ${addrs}`);
      assert.ok(addrs.includes("192.0.2.10"), `${proxyMode}: ${addrs}`);
      assert.match(
        s.problems["Service/demo/grab/addresses"]?.message ?? "",
        /IP 10\.65\.1\.10, 10\.65\.2\.10: a Service's/,
      );
    }
  });

  test("default gateways from procfs text", () => {
    const v4 = [
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
      "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0",
      "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
    ].join("\n");
    assert.deepEqual(ipv4DefaultGateways(v4), ["192.0.2.1"]);
    const v6 = [
      "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0",
      "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0",
    ].join("\n");
    assert.deepEqual(ipv6DefaultGateways(v6), ["fd00::1"]);
    assert.deepEqual(ipv4DefaultGateways(""), []);
  });
});
