// What the Kubernetes datastore drops from each object (slim.ts) is never
// read: the objects as a real API server sends them (managedFields, kubectl's
// last-applied annotation, container statuses, conditions, a Node's images)
// give the very same DesiredState whole and slimmed.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { computeDesiredState } from "../../../calc-graph/calc-graph.js";
import { servicePortIds } from "../../../calc-graph/services/port-shards.js";
import type { KubeObject } from "../../../model/k8s.js";
import type { Kind, ResourceUpdate } from "../../../model/resource.js";
import { LAST_APPLIED_ANNOTATION, slim } from "../../../src/datastore/slim.js";

const managedFields = [
  { manager: "kubectl-client-side-apply", operation: "Update", fieldsType: "FieldsV1", fieldsV1: { "f:metadata": {} } },
];
const meta = (name: string, namespace?: string, extra: Record<string, unknown> = {}) => ({
  name,
  ...(namespace ? { namespace } : {}),
  uid: `uid-${name}`,
  resourceVersion: "42",
  creationTimestamp: "2026-12-06T10:00:00Z",
  managedFields,
  annotations: { [LAST_APPLIED_ANNOTATION]: '{"apiVersion":"v1"}', "example.com/keep": "yes" },
  ...extra,
});

function pod(name: string, node: string, ip: string, annotations: Record<string, string> = {}): KubeObject {
  const m = meta(name, "shop", { labels: { app: name } });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { ...m, annotations: { ...m.annotations, ...annotations } },
    spec: {
      nodeName: node,
      serviceAccountName: "default",
      containers: [{ name: "c", image: "nginx", ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }] }],
    },
    status: {
      phase: "Running",
      podIP: ip,
      podIPs: [{ ip }],
      hostIP: "172.18.0.2",
      conditions: [{ type: "Ready", status: "True" }],
      containerStatuses: [{ name: "c", ready: true, restartCount: 0, image: "nginx", imageID: "sha256:abc" }],
      qosClass: "BestEffort",
    },
  } as KubeObject;
}

const objects: [Kind, KubeObject][] = [
  ["Namespace", { apiVersion: "v1", kind: "Namespace", metadata: meta("shop", undefined, { labels: { team: "a" } }) }],
  ["Pod", pod("web", "node1", "10.65.1.2", { "cni.projectcalico.org/podIP": "10.65.1.2/32" })],
  ["Pod", pod("db", "node2", "10.65.2.3")],
  [
    "Node",
    {
      apiVersion: "v1",
      kind: "Node",
      metadata: meta("node2"),
      spec: { podCIDR: "10.65.2.0/24" },
      status: {
        addresses: [{ type: "InternalIP", address: "172.18.0.3" }],
        conditions: [{ type: "Ready", status: "True" }],
        images: [{ names: ["registry.example/app@sha256:1"], sizeBytes: 1 }],
        nodeInfo: { kubeletVersion: "v1.34.0" },
      },
    } as KubeObject,
  ],
  [
    "NetworkPolicy",
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("db-from-web", "shop"),
      spec: {
        podSelector: { matchLabels: { app: "db" } },
        ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }], ports: [{ port: "http" }] }],
      },
    } as KubeObject,
  ],
  [
    "Service",
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta("web", "shop"),
      spec: { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }] },
      status: { loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } },
    } as KubeObject,
  ],
  [
    "EndpointSlice",
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: meta("web-1", "shop", { labels: { "kubernetes.io/service-name": "web" } }),
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: [{ addresses: ["10.65.1.2"], conditions: { ready: true }, nodeName: "node1" }],
    } as KubeObject,
  ],
];

const updates = (f: (k: Kind, o: KubeObject) => KubeObject): ResourceUpdate[] =>
  objects.map(([kind, o]) => ({
    kind,
    namespace: o.metadata?.namespace ?? "",
    name: o.metadata?.name ?? "",
    value: f(kind, structuredClone(o)),
  }));

describe("slim: what the Kubernetes datastore drops", () => {
  test("a slimmed object converts exactly as the whole one (policy, services, routes, every part)", () => {
    const cfg = { nodeName: "node1", proxyMode: "iptables" as const };
    const whole = computeDesiredState(
      cfg,
      updates((_, o) => o),
    );
    const slimmed = computeDesiredState(cfg, updates(slim));
    assert.deepStrictEqual(slimmed, whole);
    // The comparison covers something: the local pod, the policy, the service and the remote node's route.
    assert.ok(whole.endpoints["shop/web"]);
    assert.ok(servicePortIds(whole.services).length > 0);
    assert.ok(whole.routes["10.65.2.0/24"]);
  });

  test("managedFields, the last-applied annotation and bulky status are gone; the rest is kept", () => {
    type Obj = { metadata: Record<string, unknown>; status?: unknown; spec?: unknown };
    const [ns, web, , node, , svc] = updates(slim).map((u) => u.value as unknown as Obj);
    for (const o of [ns, web, node, svc]) {
      assert.equal(o.metadata.managedFields, undefined);
      assert.deepEqual(o.metadata.annotations, {
        "example.com/keep": "yes",
        ...(o === web ? { "cni.projectcalico.org/podIP": "10.65.1.2/32" } : {}),
      });
      assert.equal(o.metadata.resourceVersion, "42");
    }
    assert.deepEqual(web.status, { phase: "Running", podIP: "10.65.1.2", podIPs: [{ ip: "10.65.1.2" }] });
    assert.deepEqual(node.status, { addresses: [{ type: "InternalIP", address: "172.18.0.3" }] });
    assert.deepEqual(svc.status, { loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } });
    assert.deepEqual(web.spec, (objects[1][1] as unknown as Obj).spec, "spec untouched");
  });

  test("odd shapes pass through without throwing (validation reports them later)", () => {
    for (const o of [{}, { metadata: null }, { metadata: { annotations: null } }, { status: "x" }, { status: [1] }]) {
      assert.doesNotThrow(() => slim("Pod", structuredClone(o) as KubeObject));
    }
  });
});
