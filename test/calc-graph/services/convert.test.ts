import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import { convertEndpointSlice, convertService } from "../../../calc-graph/services/convert.js";
import { servicePortList } from "../../../calc-graph/services/port-shards.js";
import type { KubeObject } from "../../../model/k8s.js";
import { liveHeap } from "../../helpers/live-heap.js";
import { sliceUpdate, svcUpdate } from "./fixtures.js";

const svc = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  convertService(svcUpdate("s", spec, extra).value!);

describe("convertService", () => {
  test("one template per port and family; protocol defaults to TCP; unnamed port key", () => {
    const c = svc({
      clusterIP: "10.96.0.1",
      clusterIPs: ["10.96.0.1", "fd00::1"],
      ports: [{ port: 80 }, { name: "dns", port: 53, protocol: "UDP" }],
    });
    assert.deepEqual(
      c.ports.map((p) => `${p.key} v${p.family} ${p.clusterIP}:${p.port}`),
      [
        "demo/s:/tcp v4 10.96.0.1:80",
        "demo/s:/tcp v6 fd00::1:80",
        "demo/s:dns/udp v4 10.96.0.1:53",
        "demo/s:dns/udp v6 fd00::1:53",
      ],
    );
    assert.deepEqual(c.problems, []);
  });

  test("headless and ExternalName services yield nothing, without a problem", () => {
    assert.deepEqual(svc({ clusterIP: "None", ports: [{ port: 80 }] }).ports, []);
    assert.deepEqual(svc({ type: "ExternalName", externalName: "x.example" }).problems, []);
  });

  test("NodePort, LB IPs, source ranges, health-check port only for the types that have them", () => {
    const spec = {
      clusterIP: "10.96.0.2",
      externalTrafficPolicy: "Local",
      healthCheckNodePort: 32000,
      loadBalancerSourceRanges: ["203.0.113.7/24"],
      ports: [{ port: 80, nodePort: 30080 }],
    };
    const status = {
      status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }, { ip: "192.0.2.2", ipMode: "Proxy" }] } },
    };
    const cip = svc(spec, status).ports[0];
    assert.equal(cip.nodePort, undefined);
    assert.deepEqual(cip.loadBalancerIPs, []);
    assert.equal(cip.externalPolicyLocal, false, "a plain ClusterIP service is not externally accessible");
    const lb = svc({ ...spec, type: "LoadBalancer" }, status).ports[0];
    assert.equal(lb.nodePort, 30080);
    assert.deepEqual(lb.loadBalancerIPs, ["192.0.2.1"], "ipMode Proxy is not bound");
    assert.deepEqual(lb.loadBalancerSourceRanges, ["203.0.113.0/24"]);
    assert.equal(lb.externalPolicyLocal, true);
    assert.equal(lb.healthCheckNodePort, 32000);
    const np = svc({ ...spec, type: "NodePort" }).ports[0];
    assert.equal(np.healthCheckNodePort, undefined);
    assert.equal(np.externalPolicyLocal, true);
  });

  test("ClientIP affinity defaults to 10800 s; external IPs of a ClusterIP service honour eTP Local", () => {
    const c = svc({
      clusterIP: "10.96.0.3",
      sessionAffinity: "ClientIP",
      externalIPs: ["192.0.2.9"],
      externalTrafficPolicy: "Local",
      ports: [{ port: 80 }],
    });
    assert.equal(c.ports[0].affinityTimeoutSeconds, 10800);
    assert.equal(c.ports[0].externalPolicyLocal, true);
    const t = svc({
      clusterIP: "10.96.0.3",
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
      ports: [{ port: 80 }],
    });
    assert.equal(t.ports[0].affinityTimeoutSeconds, 60);
  });

  test("bad input: a bad port is skipped and reported, a bad field throws", () => {
    const c = svc({ clusterIP: "10.96.0.4", ports: [{ port: 80 }, { port: 70000 }, { port: 81, protocol: "ICMP" }] });
    assert.equal(c.ports.length, 1);
    assert.equal(c.problems.length, 2);
    assert.throws(() => svc({ clusterIP: "10.96.0.4", sessionAffinity: "Sticky" }), /sessionAffinity/);
    // Every range bad: refused (an empty list would admit any source); one bad range of several: only it goes.
    assert.throws(
      () => svc({ type: "LoadBalancer", clusterIP: "10.96.0.4", loadBalancerSourceRanges: ["x"] }),
      /no valid range/,
    );
    const some = svc({
      type: "LoadBalancer",
      clusterIP: "10.96.0.4",
      loadBalancerSourceRanges: ["x", "10.0.0.0/8"],
      ports: [{ port: 80 }],
    });
    assert.deepEqual(some.ports[0].loadBalancerSourceRanges, ["10.0.0.0/8"]);
    assert.match(some.problems.join(), /loadBalancerSourceRanges: invalid CIDR "x" \(skipped\)/);
    // The legacy annotation is the cloud provider's, not kube-proxy's.
    const annotated = convertService({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "lb",
        namespace: "demo",
        annotations: { "service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8" },
      },
      spec: { type: "LoadBalancer", clusterIP: "10.96.0.4", ports: [{ port: 80 }] },
    } as never);
    assert.deepEqual(annotated.ports[0].loadBalancerSourceRanges, []);
    assert.throws(() => svc({ clusterIP: "10.96.0.4", externalTrafficPolicy: "Nearby" }), /externalTrafficPolicy/);
    assert.match(svc({ ports: [{ port: 80 }] }).problems[0], /clusterIP is not set/);
  });
});

describe("convertEndpointSlice", () => {
  test("an endpoint's pod is one flat string, shared by every slice naming the pod", () => {
    // 20 slices of the same 1,000 pods: 20,000 ropes of the namespace, a slash and the name kept 2.1 MB; shared, 0.5 MB.
    const slice = (i: number): KubeObject =>
      ({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: `s-${i}`, namespace: "demo", labels: { "kubernetes.io/service-name": "s" } },
        addressType: "IPv4",
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
        endpoints: Array.from({ length: 1000 }, (_, j) => ({
          addresses: [`10.1.${j >> 8}.${j & 255}`],
          targetRef: { kind: "Pod", name: `pod-number-${j}` },
        })),
      }) as KubeObject;
    let pods: (string | undefined)[] | undefined = Array.from(
      { length: 20 },
      (_, i) => convertEndpointSlice(slice(i))!,
    ).flatMap((s) => s.endpoints.map((e) => e.pod));
    assert.equal(pods.length, 20_000);
    assert.equal(pods[1001], "demo/pod-number-1");
    const withPods = liveHeap();
    pods = undefined; // what the names alone hold: the conversion's memos stay in both figures
    const bytes = withPods - liveHeap();
    assert.ok(bytes < 1_000_000, `${bytes} bytes for 20,000 pod names`);
  });

  test("condition defaults as kube-proxy reads them; only the first address", () => {
    const s = convertEndpointSlice(
      sliceUpdate("a", "s", [
        { ip: "10.0.0.1" },
        { ip: "10.0.0.2", ready: false },
        { ip: "10.0.0.3", ready: false, terminating: true },
      ]).value!,
    )!;
    assert.deepEqual(
      s.endpoints.map((e) => [e.ip, e.ready, e.serving, e.terminating]),
      [
        ["10.0.0.1", true, true, false],
        ["10.0.0.2", false, true, false],
        ["10.0.0.3", false, true, true],
      ],
    );
  });

  test("no service label or FQDN → ignored; wrong-family address skipped; unknown addressType throws", () => {
    assert.equal(convertEndpointSlice(sliceUpdate("a", null, [{ ip: "10.0.0.1" }]).value!), null);
    assert.equal(convertEndpointSlice(sliceUpdate("a", "s", [], [], "FQDN").value!), null);
    const v6 = convertEndpointSlice(
      sliceUpdate("a", "s", [{ ip: "10.0.0.1" }, { ip: "fd00::1" }], undefined, "IPv6").value!,
    )!;
    assert.deepEqual(
      v6.endpoints.map((e) => e.ip),
      ["fd00::1"],
    );
    assert.equal(v6.problems.length, 1);
    assert.throws(() => convertEndpointSlice(sliceUpdate("a", "s", [], [], "IPv5").value!), /addressType/);
  });
});

// The endpoint objects are built key by key (not by spreads: 50,000 of each at a large cold
// start); their keys keep one order, which `felix-dump services -o json` prints.
describe("endpoint objects: keys in one order, optional ones only when set", () => {
  const update = sliceUpdate("s-1", "s", [
    { ip: "10.0.0.1", node: "node1", ready: true },
    { ip: "10.0.0.2", node: "node2" },
    { ip: "10.0.0.3" },
  ]);
  const full = update.value as KubeObject & { endpoints: Record<string, unknown>[] };
  Object.assign(full.endpoints[0], {
    zone: "zone-a",
    hints: { forZones: [{ name: "zone-a" }], forNodes: [{ name: "node1" }] },
    targetRef: { kind: "Pod", name: "p1", namespace: "demo" },
  });
  full.endpoints[1].zone = "zone-b";

  test("a slice's endpoints", () => {
    const s = convertEndpointSlice(full)!;
    assert.deepEqual(Object.keys(s.endpoints[0]), [
      "ip",
      "nodeName",
      "zone",
      "zoneHints",
      "nodeHints",
      "ready",
      "serving",
      "terminating",
      "pod",
    ]);
    assert.deepEqual(Object.keys(s.endpoints[1]), ["ip", "nodeName", "zone", "ready", "serving", "terminating"]);
    assert.deepEqual(Object.keys(s.endpoints[2]), ["ip", "ready", "serving", "terminating"]);
    assert.deepEqual(s.endpoints[0].zoneHints, ["zone-a"]);
    assert.equal(s.endpoints[0].pod, "demo/p1");
  });

  test("a service port's endpoints, with the slice's hints or the ones trafficDistribution derives", () => {
    const run = (spec: Record<string, unknown>) => {
      const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" });
      const state = g.apply([
        svcUpdate("s", { clusterIP: "10.96.0.1", ports: [{ name: "http", port: 80 }], ...spec }),
        update,
      ]);
      return servicePortList(state.services)[0].endpoints;
    };
    const eps = run({});
    assert.deepEqual(Object.keys(eps[0]), [
      "ip",
      "port",
      "nodeName",
      "local",
      "ready",
      "serving",
      "terminating",
      "pod",
      "zoneHints",
      "nodeHints",
    ]);
    assert.deepEqual(Object.keys(eps[1]), ["ip", "port", "nodeName", "local", "ready", "serving", "terminating"]);
    assert.deepEqual(Object.keys(eps[2]), ["ip", "port", "local", "ready", "serving", "terminating"]);
    assert.equal(eps[0].local, true);
    const derived = run({ trafficDistribution: "PreferSameNode" });
    assert.deepEqual(Object.keys(derived[1]).slice(-2), ["zoneHints", "nodeHints"]);
    assert.deepEqual([derived[1].zoneHints, derived[1].nodeHints], [["zone-b"], ["node2"]]);
    assert.deepEqual(Object.keys(derived[2]), Object.keys(eps[2]));
  });
});
