// Attack: a tenant uses the coexistence labels (service-proxy-name, headless)
// to hide another tenant's Service. The labels only ever withdraw the
// labelled object itself: a Service or EndpointSlice of the same name in the
// tenant's own namespace, carrying them, leaves the victim's Service and its
// endpoints programmed; so does a tenant slice naming the victim's service.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { servicePortList } from "../../calc-graph/services/port-shards.js";
import type { KubeObject } from "../../model/k8s.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { iptablesText } from "../../src/dump/views.js";
import { node } from "../calc-graph/fixtures.js";

const HIDE = { "service.kubernetes.io/service-proxy-name": "other-proxy", "service.kubernetes.io/headless": "" };

const svc = (ns: string, name: string, ip: string, labels: Record<string, string> = {}): ResourceUpdate => ({
  kind: "Service",
  namespace: ns,
  name,
  value: {
    kind: "Service",
    metadata: { name, namespace: ns, labels },
    spec: { clusterIP: ip, ports: [{ name: "http", port: 80 }] },
  } as KubeObject,
});

const slice = (ns: string, name: string, service: string, ip: string, labels: Record<string, string> = {}) =>
  ({
    kind: "EndpointSlice",
    namespace: ns,
    name,
    value: {
      kind: "EndpointSlice",
      metadata: { name, namespace: ns, labels: { "kubernetes.io/service-name": service, ...labels } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: [{ addresses: [ip] }],
    } as KubeObject,
  }) as ResourceUpdate;

const dnat = (s: DesiredState) => [...iptablesText(s, 4).matchAll(/--to-destination (\S+)/g)].map((m) => m[1]).sort();
const ports = (s: DesiredState) =>
  servicePortList(s.services)
    .map((p) => `${p.namespace}/${p.service}`)
    .sort();

describe("hostile input: coexistence labels", () => {
  test("a tenant's labelled Service and slices of the same names hide only themselves", () => {
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" });
    const before = g.apply([
      node("node1", "10.65.1.0/24", "172.18.0.1"),
      svc("victim", "web", "10.96.0.10"),
      slice("victim", "web-abc", "web", "10.65.1.10"),
    ]);
    assert.deepEqual(ports(before), ["victim/web"]);
    const after = g.apply([
      svc("tenant", "web", "10.96.0.11", HIDE),
      slice("tenant", "web-abc", "web", "10.65.1.66", HIDE),
      // A slice in the tenant's namespace naming the victim's service belongs to tenant/web, not victim/web.
      slice("tenant", "victim-web", "web", "10.65.1.67"),
    ]);
    assert.deepEqual(ports(after), ["victim/web"], "only the victim's service is proxied");
    assert.deepEqual(dnat(after), ["10.65.1.10:8080"], "with its own endpoint only");
    // The tenant's service without the labels gets only the tenant's unlabelled slice.
    const own = g.apply([svc("tenant", "web", "10.96.0.11")]);
    assert.deepEqual(ports(own), ["tenant/web", "victim/web"]);
    assert.deepEqual(dnat(own), ["10.65.1.10:8080", "10.65.1.67:8080"]);
    const victim = servicePortList(own.services).find((p) => p.namespace === "victim")!;
    assert.deepEqual(
      victim.endpoints.map((e) => e.ip),
      ["10.65.1.10"],
    );
  });
});
