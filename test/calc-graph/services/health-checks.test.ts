// Which services get a health check node port on this node, and the local
// endpoint count it reports (kube-proxy's LocalReadyEndpoints).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import { serviceHealthChecks } from "../../../calc-graph/services/health-checks.js";
import { node } from "../fixtures.js";
import { sliceUpdate, svcUpdate } from "./fixtures.js";

const lb = (name: string, extra: Record<string, unknown> = {}) =>
  svcUpdate(name, {
    type: "LoadBalancer",
    clusterIP: "10.96.0.1",
    clusterIPs: ["10.96.0.1", "fd00:96::1"],
    ports: [
      { name: "http", port: 80, nodePort: 30080 },
      { name: "https", port: 443, nodePort: 30443 },
    ],
    externalTrafficPolicy: "Local",
    healthCheckNodePort: 32000,
    ...extra,
  });

describe("serviceHealthChecks", () => {
  test("LoadBalancer + externalTrafficPolicy Local: one check, counting this node's ready endpoint addresses once", () => {
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" });
    const ports = [
      { name: "http", port: 8080 },
      { name: "https", port: 8443 },
    ];
    g.apply([
      node("node1", "10.65.1.0/24", "172.18.0.1"),
      lb("web"),
      lb("cluster-policy", { externalTrafficPolicy: "Cluster" }),
      svcUpdate("plain", { clusterIP: "10.96.0.2", ports: [{ name: "http", port: 80 }] }),
      sliceUpdate(
        "web-1",
        "web",
        [
          { ip: "10.65.1.10", node: "node1" },
          { ip: "10.65.1.11", node: "node1" },
          { ip: "10.65.1.12", node: "node1", ready: false, serving: true, terminating: true },
          { ip: "10.65.2.10", node: "node2" },
        ],
        ports,
      ),
    ]);
    const checks = serviceHealthChecks(g.current.services);
    assert.deepEqual([...checks.values()], [{ namespace: "demo", name: "web", port: 32000, localEndpoints: 2 }]);
    // Only terminating local endpoints left: 0, the load balancer drains this node.
    g.apply([
      sliceUpdate(
        "web-1",
        "web",
        [{ ip: "10.65.1.12", node: "node1", ready: false, serving: true, terminating: true }],
        ports,
      ),
    ]);
    assert.equal(serviceHealthChecks(g.current.services).get("demo/web")?.localEndpoints, 0);
    g.apply([lb("web", { externalTrafficPolicy: "Cluster" })]);
    assert.equal(serviceHealthChecks(g.current.services).size, 0);
  });
});
