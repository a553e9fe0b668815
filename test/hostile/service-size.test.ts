// Hostile input: one Service whose ports × endpoints would render a kernel
// object per pair (FELIX_SERVICEMAXENDPOINTPORTS). Over the bound the service
// is left out whole and reported; other services are programmed as usual; it
// comes back once it fits. Both rule-based proxy modes.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import type { ProxyMode } from "../../calc-graph/services/model.js";
import { iptablesText } from "../../src/dump/views.js";
import { node } from "../calc-graph/fixtures.js";
import { sliceUpdate, svcUpdate } from "../calc-graph/services/fixtures.js";

const PORTS = 40;
const ports = Array.from({ length: PORTS }, (_, i) => ({ name: `p${i}`, port: 1000 + i, targetPort: 2000 + i }));
const slicePorts = ports.map((p) => ({ name: p.name, port: p.targetPort }));
const eps = (n: number) => Array.from({ length: n }, (_, i) => ({ ip: `10.65.1.${10 + i}`, node: "node1" }));

const big = (endpoints: number) => [
  svcUpdate("big", { clusterIP: "10.96.0.10", ports }),
  sliceUpdate("big-1", "big", eps(endpoints), slicePorts),
];
const small = [
  svcUpdate("small", { clusterIP: "10.96.0.11", ports: [{ name: "http", port: 80 }] }),
  sliceUpdate("small-1", "small", [{ ip: "10.65.1.99", node: "node1" }]),
];

const frontends = (s: DesiredState) =>
  new Set([...iptablesText(s, 4).matchAll(/^-A cali-SERVICES -d (\S+)\/32 /gm)].map((m) => m[1]));
const sepChains = (s: DesiredState) => (iptablesText(s, 4).match(/^:cali-SEP-/gm) ?? []).length;

describe("hostile input: a Service over FELIX_SERVICEMAXENDPOINTPORTS", () => {
  for (const proxyMode of ["iptables", "ipvs"] as ProxyMode[]) {
    test(`${proxyMode}: left out whole and reported; the others stay; it comes back once it fits`, () => {
      const g = new CalcGraph({ nodeName: "node1", proxyMode, maxServiceEndpointPorts: 100 });
      // 40 ports × 2 endpoints = 80 pairs: programmed.
      let s = g.apply([node("node1", "10.65.1.0/24", "172.18.0.1"), ...big(2), ...small]);
      const programmed = (ip: string) =>
        proxyMode === "iptables"
          ? frontends(s).has(ip)
          : Object.values(s.ipvs?.services ?? {}).some((v) => v.service.address === ip);
      assert.ok(programmed("10.96.0.10") && programmed("10.96.0.11"));
      if (proxyMode === "iptables") assert.equal(sepChains(s), 2 * PORTS + 1);
      assert.equal(s.problems["Service/demo/big/addresses"], undefined);
      // 40 × 3 = 120 pairs: out, reported.
      s = g.apply([big(3)[1]]);
      assert.ok(!programmed("10.96.0.10"), "the big service has no frontend");
      assert.ok(programmed("10.96.0.11"), "the small one is untouched");
      if (proxyMode === "iptables") assert.equal(sepChains(s), 1);
      assert.match(
        s.problems["Service/demo/big/addresses"]?.message ?? "",
        /120 \(port, endpoint\) pairs, more than FELIX_SERVICEMAXENDPOINTPORTS \(100\): not programmed/,
      );
      // Back to 2 endpoints: programmed again, the problem gone.
      s = g.apply([big(2)[1]]);
      assert.ok(programmed("10.96.0.10"));
      assert.equal(s.problems["Service/demo/big/addresses"], undefined);
    });
  }

  test("the default bound (100000) leaves ordinary services alone", () => {
    const s = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" }).apply([
      node("node1", "10.65.1.0/24", "172.18.0.1"),
      ...big(50),
    ]);
    assert.equal(sepChains(s), PORTS * 50);
  });
});
