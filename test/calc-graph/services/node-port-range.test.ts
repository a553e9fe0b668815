// Attack: a tenant's Service names a node port or health check node port that
// another node daemon owns (sshd 22, kubelet 10250, Felix's 9099, kube-proxy's
// 10256). Outside Felix's kubeNodePortRanges (the API server's
// service-node-port-range) it is neither DNATed nor opened in filter nor
// served, and the service's problem says why; inside the ranges all is as before.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { serviceHealthChecks } from "../../../calc-graph/services/health-checks.js";
import { servicePortList } from "../../../calc-graph/services/port-shards.js";
import { iptablesText } from "../../../src/dump/views.js";
import { node, update } from "../fixtures.js";
import { sliceUpdate, svcUpdate } from "./fixtures.js";

const felixConfig = (spec: Record<string, unknown>) =>
  update("FelixConfiguration", "", "default", { kind: "FelixConfiguration", metadata: { name: "default" }, spec });

const hostile = (name: string, nodePort: number, healthCheckNodePort: number, clusterIP: string) =>
  svcUpdate(name, {
    type: "LoadBalancer",
    clusterIP,
    ports: [{ name: "http", port: 80, nodePort }],
    externalTrafficPolicy: "Local",
    healthCheckNodePort,
  });

const dports = (s: DesiredState) =>
  new Set([...iptablesText(s, 4).matchAll(/--dport (\d+)/g)].map((m) => Number(m[1])));
const problems = (s: DesiredState) =>
  Object.values(s.problems)
    .map((p) => p.message)
    .filter((m) => m.includes("kubeNodePortRanges"));

describe("node ports outside kubeNodePortRanges", () => {
  for (const mode of ["iptables", "ipvs"] as const) {
    test(`${mode}: nodePort 22 / healthCheckNodePort 10250 are refused and reported; in range they are kept`, () => {
      const g = new CalcGraph({ nodeName: "node1", proxyMode: mode });
      g.apply([
        node("node1", "10.65.1.0/24", "172.18.0.1"),
        hostile("ssh", 22, 10250, "10.96.0.10"),
        hostile("metrics", 9099, 10256, "10.96.0.11"),
        hostile("fine", 30080, 32000, "10.96.0.12"),
        sliceUpdate("ssh-1", "ssh", [{ ip: "10.65.1.10", node: "node1" }]),
        sliceUpdate("metrics-1", "metrics", [{ ip: "10.65.1.11", node: "node1" }]),
        sliceUpdate("fine-1", "fine", [{ ip: "10.65.1.12", node: "node1" }]),
      ]);
      const s = g.current;
      const checks = serviceHealthChecks(s.services);
      assert.deepEqual(
        [...checks.values()].map((c) => c.port),
        [32000],
        "only the in-range health check is served",
      );
      for (const sp of servicePortList(s.services)) {
        if (sp.service === "fine") assert.equal(sp.nodePort, 30080);
        else assert.equal(sp.nodePort, undefined, `${sp.service}: no node port`);
      }
      if (mode === "iptables") {
        const ports = dports(s);
        for (const p of [22, 10250, 9099, 10256]) assert.ok(!ports.has(p), `no rule matches port ${p}`);
        assert.ok(ports.has(30080) && ports.has(32000), "the in-range service keeps its rules");
      } else {
        const vports = Object.values(s.ipvs?.services ?? {}).map((v) => v.service.port);
        for (const p of [22, 9099]) assert.ok(!vports.includes(p), `no IPVS virtual service on ${p}`);
        assert.ok(vports.includes(30080));
      }
      assert.deepEqual(problems(s), [
        "service demo/metrics: healthCheckNodePort 10256, nodePort 9099 outside kubeNodePortRanges (30000:32767) (refused)",
        "service demo/ssh: healthCheckNodePort 10250, nodePort 22 outside kubeNodePortRanges (30000:32767) (refused)",
      ]);

      // An operator who widens the ranges (as the API server's) gets the ports back; narrowing refuses them again.
      g.apply([felixConfig({ kubeNodePortRanges: ["30000:32767", "9000:9999"] })]);
      assert.deepEqual(
        [...serviceHealthChecks(g.current.services).values()].map((c) => c.port),
        [32000],
      );
      assert.equal(servicePortList(g.current.services).find((sp) => sp.service === "metrics")?.nodePort, 9099);
      assert.deepEqual(problems(g.current), [
        "service demo/metrics: healthCheckNodePort 10256 outside kubeNodePortRanges (30000:32767, 9000:9999) (refused)",
        "service demo/ssh: healthCheckNodePort 10250, nodePort 22 outside kubeNodePortRanges (30000:32767, 9000:9999) (refused)",
      ]);
      g.apply([felixConfig({})]);
      assert.equal(servicePortList(g.current.services).find((sp) => sp.service === "metrics")?.nodePort, undefined);
      assert.equal(problems(g.current).length, 2);
    });
  }
});
