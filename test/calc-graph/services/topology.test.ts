// Topology-aware routing: kube-proxy's CategorizeEndpoints cases with hints
// (pkg/proxy/topology_test.go, current semantics: hints are honoured whenever
// every ready endpoint has one), the trafficDistribution-derived hints, and
// the graph: this node's zone label, a zone change, both proxy modes.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import { categorizeEndpoints } from "../../../calc-graph/services/categorize.js";
import type { ServiceEndpoint, ServicePort, TrafficDistribution } from "../../../calc-graph/services/model.js";
import { serviceChainNames } from "../../../calc-graph/services/names.js";
import { servicePortOf } from "../../../calc-graph/services/port-shards.js";
import {
  applyTopology,
  type EndpointTopology,
  type Hints,
  putHints,
  topologyMode,
} from "../../../calc-graph/services/topology.js";
import type { KubeObject } from "../../../model/k8s.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { chainOf } from "../../../model/tables.js";
import { ep, sp } from "./service-fixtures.js";

const NODE = "node1";
const z = (ip: string, zones: string[] | undefined, o: Partial<ServiceEndpoint> = {}) =>
  ep(ip, { port: 80, ...(zones ? { zoneHints: zones } : {}), ...o });

/** categorizeEndpoints after topology, as `ip:port` sets. */
function categorize(zone: string | undefined, eps: ServiceEndpoint[], o: Partial<ServicePort> = {}) {
  const c = categorizeEndpoints(sp({ ...o, endpoints: applyTopology(eps, NODE, zone) }));
  const s = (xs: readonly ServiceEndpoint[]) => xs.map((e) => `${e.ip}:${e.port}`).sort();
  return { cluster: s(c.cluster), external: s(c.external), local: s(c.local), all: s(c.all) };
}

describe("topology: kube-proxy's CategorizeEndpoints cases", () => {
  const four = (): ServiceEndpoint[] => [
    z("10.1.2.3", ["zone-a"]),
    z("10.1.2.4", ["zone-b"]),
    z("10.1.2.5", ["zone-c"]),
    z("10.1.2.6", ["zone-a"]),
  ];

  test("normal endpoint filtering: only this zone's endpoints", () => {
    assert.deepEqual(categorize("zone-a", four()).cluster, ["10.1.2.3:80", "10.1.2.6:80"]);
  });

  test("no zone label, empty zone label, or a node in a zone no endpoint is hinted for: no filtering", () => {
    for (const zone of [undefined, "", "zone-d"]) {
      assert.equal(categorize(zone, four()).cluster.length, 4, `zone ${zone}`);
    }
  });

  test("an unready endpoint does not count; only unready endpoints in this zone: no filtering", () => {
    const eps = four();
    eps[3] = { ...eps[3], ready: false };
    assert.deepEqual(categorize("zone-a", eps).cluster, ["10.1.2.3:80"]);
    eps[0] = { ...eps[0], ready: false };
    assert.deepEqual(categorize("zone-a", eps).cluster, ["10.1.2.4:80", "10.1.2.5:80"]);
  });

  test("a ready endpoint without a hint: no filtering", () => {
    const eps = four();
    eps[2] = z("10.1.2.5", undefined);
    assert.equal(categorize("zone-a", eps).cluster.length, 4);
  });

  test("multiple hints per endpoint: any endpoint hinted for this zone", () => {
    const eps = [
      z("10.1.2.3", ["zone-a", "zone-b", "zone-c"]),
      z("10.1.2.4", ["zone-b", "zone-c"]),
      z("10.1.2.5", ["zone-b", "zone-d"]),
      z("10.1.2.6", ["zone-c"]),
    ];
    assert.deepEqual(categorize("zone-c", eps).cluster, ["10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"]);
  });

  test("externalTrafficPolicy Local: topology ignored for the local endpoints, applied to cluster traffic", () => {
    const eps = [
      z("10.1.2.3", ["zone-a"], { local: true }),
      z("10.1.2.4", ["zone-b"], { local: true }),
      z("10.1.2.5", ["zone-c"]),
      z("10.1.2.6", ["zone-a"]),
    ];
    const c = categorize("zone-a", eps, { externalPolicyLocal: true, nodePort: 30080 });
    assert.deepEqual(c.cluster, ["10.1.2.3:80", "10.1.2.6:80"]);
    assert.deepEqual(c.external, ["10.1.2.3:80", "10.1.2.4:80"]);
    assert.deepEqual(c.all, ["10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"]);
  });

  test("internalTrafficPolicy Local: the cluster IP uses local endpoints regardless of topology; node ports the zone's", () => {
    const eps = [
      z("10.0.0.0", ["zone-a"], { local: true }),
      z("10.0.0.1", ["zone-b"], { local: true }),
      z("10.0.0.2", ["zone-a"]),
      z("10.0.0.3", ["zone-b"]),
    ];
    const c = categorize("zone-a", eps, { internalPolicyLocal: true, nodePort: 30080 });
    assert.deepEqual(c.cluster, ["10.0.0.0:80", "10.0.0.1:80"]);
    assert.deepEqual(c.external, ["10.0.0.0:80", "10.0.0.2:80"]);
  });

  test("no ready endpoint anywhere: the serving-terminating fall-back ignores topology", () => {
    const eps = [
      z("10.0.0.0", ["zone-b"], { ready: false, serving: true, terminating: true }),
      z("10.0.0.1", ["zone-a"], { ready: false, serving: false, terminating: true }),
    ];
    assert.deepEqual(categorize("zone-a", eps).cluster, ["10.0.0.0:80"]);
  });

  test("PreferSameNode: node hints for this node win over zone hints; a missing node hint falls back to zones", () => {
    const eps = [
      z("10.0.0.1", ["zone-a"], { nodeHints: ["node1"] }),
      z("10.0.0.2", ["zone-a"], { nodeHints: ["node2"] }),
      z("10.0.0.3", ["zone-b"], { nodeHints: ["node3"] }),
    ];
    assert.equal(topologyMode(eps, NODE, "zone-a"), "PreferSameNode");
    assert.deepEqual(categorize("zone-a", eps).cluster, ["10.0.0.1:80"]);
    const noHint = [eps[0], { ...eps[1], nodeHints: undefined }, eps[2]];
    assert.equal(topologyMode(noHint, NODE, "zone-a"), "PreferSameZone");
    assert.deepEqual(categorize("zone-a", noHint).cluster, ["10.0.0.1:80", "10.0.0.2:80"]);
    // No endpoint on this node: the zone's.
    const elsewhere = eps.slice(1);
    assert.deepEqual(categorize("zone-a", elsewhere).cluster, ["10.0.0.2:80"]);
  });
});

/** The hints putHints sets on an empty endpoint. */
function hintsOf(e: EndpointTopology, distribution: TrafficDistribution | undefined): Hints {
  const out: Hints = {};
  putHints(out, e, distribution);
  return out;
}

describe("hints from trafficDistribution (the EndpointSlice controller's)", () => {
  test("PreferSameZone: the endpoint's zone; PreferSameNode: its node and zone; the slice's own hints win", () => {
    assert.deepEqual(hintsOf({ zone: "a", nodeName: "n" }, "PreferSameZone"), { zoneHints: ["a"] });
    assert.deepEqual(hintsOf({ zone: "a", nodeName: "n" }, "PreferSameNode"), { zoneHints: ["a"], nodeHints: ["n"] });
    assert.deepEqual(hintsOf({ nodeName: "n" }, "PreferSameZone"), {});
    assert.deepEqual(hintsOf({ zone: "a" }, undefined), {});
    assert.deepEqual(hintsOf({ zone: "a", zoneHints: ["b"] }, "PreferSameZone"), { zoneHints: ["b"] });
  });
});

function update(kind: ResourceUpdate["kind"], name: string, value: object | null, namespace = "demo"): ResourceUpdate {
  return { kind, namespace: kind === "Node" ? "" : namespace, name, value: value as KubeObject | null };
}
const nodeIn = (name: string, zone: string | undefined, ip: string) =>
  update("Node", name, {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, ...(zone !== undefined ? { labels: { "topology.kubernetes.io/zone": zone } } : {}) },
    spec: { podCIDRs: [`10.65.${ip.split(".")[3]}.0/24`] },
    status: { addresses: [{ type: "InternalIP", address: ip }] },
  });
const service = (trafficDistribution?: string) =>
  update("Service", "web", {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "demo" },
    spec: {
      clusterIP: "10.96.0.10",
      ports: [{ name: "http", port: 80 }],
      ...(trafficDistribution ? { trafficDistribution } : {}),
    },
  });
const slice = (hints: boolean) =>
  update("EndpointSlice", "web-1", {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "web-1", namespace: "demo", labels: { "kubernetes.io/service-name": "web" } },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: [
      ["10.65.1.10", "node1", "zone-a"],
      ["10.65.2.10", "node2", "zone-a"],
      ["10.65.3.10", "node3", "zone-b"],
    ].map(([ip, node, zone]) => ({
      addresses: [ip],
      nodeName: node,
      zone,
      ...(hints ? { hints: { forZones: [{ name: zone }] } } : {}),
    })),
  });

describe("topology in the graph", () => {
  const clusterTargets = (g: CalcGraph) => {
    const spt = servicePortOf(g.current.services, "demo/web:http/tcp/v4")!;
    const svc = chainOf(g.current.iptables.ipv4.nat, serviceChainNames(spt).svc);
    return (svc?.rules ?? []).map((r) => /-> (\S+?)"/.exec(r.text)?.[1]).filter((t) => t !== undefined);
  };

  test("iptables: slice hints and this node's zone label pick the SEP chains; a zone change re-renders", () => {
    const g = new CalcGraph({ nodeName: NODE, proxyMode: "iptables" });
    g.apply([nodeIn("node1", "zone-a", "172.18.0.1"), service(), slice(true)]);
    assert.deepEqual(clusterTargets(g), ["10.65.1.10:8080", "10.65.2.10:8080"]);
    g.apply([nodeIn("node1", "zone-b", "172.18.0.1")]);
    assert.deepEqual(clusterTargets(g), ["10.65.3.10:8080"]);
    g.apply([nodeIn("node1", undefined, "172.18.0.1")]);
    assert.equal(clusterTargets(g).length, 3, "no zone label: every endpoint");
  });

  test("trafficDistribution PreferClose without slice hints: same as the controller's hints", () => {
    const g = new CalcGraph({ nodeName: NODE, proxyMode: "iptables" });
    g.apply([nodeIn("node1", "zone-b", "172.18.0.1"), service("PreferClose"), slice(false)]);
    assert.deepEqual(clusterTargets(g), ["10.65.3.10:8080"]);
    g.apply([service()]);
    assert.equal(clusterTargets(g).length, 3, "no trafficDistribution, no hints: every endpoint");
    g.apply([service("PreferSameNode")]);
    assert.deepEqual(clusterTargets(g), ["10.65.1.10:8080"]);
  });

  test("ipvs: the virtual server's real servers follow the same rules", () => {
    const g = new CalcGraph({ nodeName: NODE, proxyMode: "ipvs" });
    g.apply([nodeIn("node1", "zone-a", "172.18.0.1"), service(), slice(true)]);
    const reals = () =>
      Object.values(g.current.ipvs!.services)
        .filter((v) => v.service.address === "10.96.0.10")
        .flatMap((v) => v.realServers.map((r) => r.address));
    assert.deepEqual(reals(), ["10.65.1.10", "10.65.2.10"]);
    g.apply([nodeIn("node1", "zone-b", "172.18.0.1")]);
    assert.deepEqual(reals(), ["10.65.3.10"]);
  });
});
