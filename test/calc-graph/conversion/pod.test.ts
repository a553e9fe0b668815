import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import {
  parseProtocol,
  podIsFinished,
  podToWorkloadEndpoint,
  vethNameForWorkload,
} from "../../../calc-graph/conversion/pod.js";
import type { ContainerPort, Pod } from "../../../model/k8s.js";

interface PodOpts {
  ns?: string;
  name?: string;
  labels?: Record<string, string>;
  node?: string;
  phase?: string;
  podIP?: string;
  podIPs?: string[];
  hostNetwork?: boolean;
  serviceAccountName?: string;
  serviceAccount?: string;
  ports?: ContainerPort[][];
}

function mkPod(o: PodOpts = {}): Pod {
  return {
    kind: "Pod",
    metadata: { name: o.name ?? "web", namespace: o.ns ?? "prod", labels: o.labels ?? { app: "web" } },
    spec: {
      nodeName: o.node ?? "node1",
      hostNetwork: o.hostNetwork,
      serviceAccountName: o.serviceAccountName,
      serviceAccount: o.serviceAccount,
      containers: (o.ports ?? [[]]).map((ports, i) => ({ name: `c${i}`, ports })),
    },
    status: {
      phase: o.phase ?? "Running",
      podIP: o.podIP,
      podIPs: o.podIPs?.map((ip) => ({ ip })),
    },
  };
}

function convert(o: PodOpts) {
  const ep = podToWorkloadEndpoint(mkPod(o));
  assert.ok(ep, "expected a workload endpoint");
  return ep;
}

describe("vethNameForWorkload", () => {
  it("is cali + the first 11 hex chars of sha1(<ns>.<pod>)", () => {
    const expected = `cali${createHash("sha1").update("prod.web").digest("hex").slice(0, 11)}`;
    assert.equal(vethNameForWorkload("prod", "web"), expected);
  });

  it("matches values computed independently", () => {
    // Literal from `printf default.nginx | sha1sum`: c440f455693b69cd…
    assert.equal(vethNameForWorkload("default", "nginx"), "calic440f455693");
    const hex = createHash("sha1").update("kube-system.coredns-abc", "utf8").digest("hex");
    assert.equal(vethNameForWorkload("kube-system", "coredns-abc"), `cali${hex.substring(0, 11)}`);
  });

  it("is 15 characters (the Linux interface-name limit) with the default prefix", () => {
    for (const [ns, pod] of [
      ["default", "a"],
      ["kube-system", "coredns-5d78c9869d-abcde"],
      ["x".repeat(63), "y".repeat(253)],
    ]) {
      const name = vethNameForWorkload(ns, pod);
      assert.equal(name.length, 15);
      assert.match(name, /^cali[0-9a-f]{11}$/);
    }
  });

  it("depends on namespace and pod, and honours the prefix", () => {
    assert.notEqual(vethNameForWorkload("a", "b.c"), vethNameForWorkload("a.b", "d"));
    assert.notEqual(vethNameForWorkload("prod", "web"), vethNameForWorkload("dev", "web"));
    assert.equal(vethNameForWorkload("prod", "web", "tap"), `tap${vethNameForWorkload("prod", "web").slice(4)}`);
  });
});

describe("parseProtocol", () => {
  it("defaults to tcp and lower-cases", () => {
    assert.equal(parseProtocol(undefined, "x"), "tcp");
    assert.equal(parseProtocol(null, "x"), "tcp");
    assert.equal(parseProtocol("TCP", "x"), "tcp");
    assert.equal(parseProtocol("UDP", "x"), "udp");
    assert.equal(parseProtocol("SCTP", "x"), "sctp");
  });

  it("rejects other protocols with the context in the message", () => {
    assert.throws(() => parseProtocol("ICMP", "port p"), /port p: unsupported protocol "ICMP"/);
  });
});

describe("podToWorkloadEndpoint: identity", () => {
  it("keys, names and places the endpoint", () => {
    const ep = convert({ podIP: "10.65.0.5" });
    assert.equal(ep.key, "prod/web");
    assert.equal(ep.namespace, "prod");
    assert.equal(ep.pod, "web");
    assert.equal(ep.node, "node1");
    assert.equal(ep.iface, vethNameForWorkload("prod", "web"));
  });

  it("uses the interface prefix", () => {
    const ep = podToWorkloadEndpoint(mkPod({ podIP: "10.65.0.5" }), "tap");
    assert.equal(ep?.iface, vethNameForWorkload("prod", "web", "tap"));
  });

  it("defaults the namespace to default", () => {
    const ep = podToWorkloadEndpoint({ metadata: { name: "x" }, status: { podIP: "10.0.0.1" } });
    assert.equal(ep?.key, "default/x");
    assert.equal(ep?.namespace, "default");
    assert.equal(ep?.node, "");
  });

  it("throws without metadata.name", () => {
    assert.throws(
      () => podToWorkloadEndpoint({ metadata: { namespace: "x" }, status: { podIP: "10.0.0.1" } }),
      /no metadata\.name/,
    );
  });
});

describe("podToWorkloadEndpoint: IPs", () => {
  it("takes podIP alone as a /32", () => {
    const ep = convert({ podIP: "10.65.0.5" });
    assert.deepEqual(ep.ipv4Nets, ["10.65.0.5/32"]);
    assert.deepEqual(ep.ipv6Nets, []);
  });

  it("splits dual-stack podIPs by family, IPv6 as /128", () => {
    const ep = convert({ podIP: "10.65.0.5", podIPs: ["10.65.0.5", "fd00:10::5"] });
    assert.deepEqual(ep.ipv4Nets, ["10.65.0.5/32"]);
    assert.deepEqual(ep.ipv6Nets, ["fd00:10::5/128"]);
  });

  it("takes podIPs without podIP", () => {
    const ep = convert({ podIPs: ["fd00:10::5", "10.65.0.5"] });
    assert.deepEqual(ep.ipv4Nets, ["10.65.0.5/32"]);
    assert.deepEqual(ep.ipv6Nets, ["fd00:10::5/128"]);
  });

  it("dedupes podIP against podIPs and sorts", () => {
    const ep = convert({ podIP: "10.65.0.7", podIPs: ["10.65.0.7", "10.65.0.6", "10.65.0.7"] });
    assert.deepEqual(ep.ipv4Nets, ["10.65.0.6/32", "10.65.0.7/32"]);
  });

  it("canonicalises IPv6 text", () => {
    const ep = convert({ podIPs: ["FD00:0010:0000::0005"] });
    assert.deepEqual(ep.ipv6Nets, ["fd00:10::5/128"]);
  });

  it("dedupes IPs that differ only in spelling", () => {
    const ep = convert({ podIP: "FD00::5", podIPs: ["fd00::5", "fd00::0005"] });
    assert.deepEqual(ep.ipv6Nets, ["fd00::5/128"]);
  });

  it("skips podIPs entries without ip", () => {
    const pod = mkPod({ podIP: "10.65.0.5" });
    pod.status!.podIPs = [{}, { ip: "" }];
    assert.deepEqual(podToWorkloadEndpoint(pod)?.ipv4Nets, ["10.65.0.5/32"]);
  });

  it("throws on an invalid IP", () => {
    assert.throws(() => convert({ podIP: "10.65.0" }), /invalid IP address "10\.65\.0"/);
    assert.throws(() => convert({ podIP: "10.65.0.5", podIPs: ["not-an-ip"] }), /invalid IP address/);
    assert.throws(() => convert({ podIP: "10.65.0.5/32" }), /invalid IP address/);
  });
});

describe("podToWorkloadEndpoint: pods that are not endpoints", () => {
  it("host-network pods → null", () => {
    assert.equal(podToWorkloadEndpoint(mkPod({ hostNetwork: true, podIP: "192.168.0.1" })), null);
  });

  it("Succeeded and Failed pods → null, even with an IP", () => {
    assert.equal(podToWorkloadEndpoint(mkPod({ phase: "Succeeded", podIP: "10.65.0.5" })), null);
    assert.equal(podToWorkloadEndpoint(mkPod({ phase: "Failed", podIP: "10.65.0.5" })), null);
  });

  it("pods without an IP → null", () => {
    assert.equal(podToWorkloadEndpoint(mkPod({})), null);
    assert.equal(podToWorkloadEndpoint(mkPod({ podIPs: [] })), null);
    assert.equal(podToWorkloadEndpoint(mkPod({ podIP: "" })), null);
    assert.equal(podToWorkloadEndpoint({ metadata: { name: "x" } }), null);
  });

  it("a Pending pod with an IP is an endpoint", () => {
    const ep = podToWorkloadEndpoint(mkPod({ phase: "Pending", podIP: "10.65.0.5" }));
    assert.ok(ep);
    assert.deepEqual(ep.ipv4Nets, ["10.65.0.5/32"]);
  });
});

describe("podToWorkloadEndpoint: labels and profiles", () => {
  it("adds namespace, orchestrator and service-account labels to the pod's own", () => {
    const ep = convert({ podIP: "10.65.0.5", labels: { app: "web", tier: "fe" }, serviceAccountName: "api" });
    assert.deepEqual(ep.labels, {
      app: "web",
      tier: "fe",
      "projectcalico.org/namespace": "prod",
      "projectcalico.org/orchestrator": "k8s",
      "projectcalico.org/serviceaccount": "api",
    });
  });

  it("the projectcalico.org labels override pod labels of the same key", () => {
    const ep = convert({ podIP: "10.65.0.5", labels: { "projectcalico.org/namespace": "spoofed" } });
    assert.equal(ep.labels["projectcalico.org/namespace"], "prod");
  });

  it("defaults the service account to default", () => {
    const ep = convert({ podIP: "10.65.0.5" });
    assert.equal(ep.labels["projectcalico.org/serviceaccount"], "default");
    assert.deepEqual(ep.profileIds, ["kns.prod", "ksa.prod.default"]);
  });

  it("falls back to the deprecated spec.serviceAccount", () => {
    const ep = convert({ podIP: "10.65.0.5", serviceAccount: "old" });
    assert.deepEqual(ep.profileIds, ["kns.prod", "ksa.prod.old"]);
    const ep2 = convert({ podIP: "10.65.0.5", serviceAccount: "old", serviceAccountName: "new" });
    assert.deepEqual(ep2.profileIds, ["kns.prod", "ksa.prod.new"]);
  });

  it("profiles are kns.<ns> then ksa.<ns>.<sa>", () => {
    const ep = convert({ ns: "team-a", podIP: "10.65.0.5", serviceAccountName: "builder" });
    assert.deepEqual(ep.profileIds, ["kns.team-a", "ksa.team-a.builder"]);
  });

  it("omits the service-account label when the name is too long for a label value", () => {
    const sa = "s".repeat(63);
    const ep = convert({ podIP: "10.65.0.5", serviceAccountName: sa });
    assert.equal("projectcalico.org/serviceaccount" in ep.labels, false);
    assert.deepEqual(ep.profileIds, ["kns.prod", `ksa.prod.${sa}`]);
  });

  it("stringifies non-string label values from loose manifests", () => {
    const pod = mkPod({ podIP: "10.65.0.5" });
    (pod.metadata!.labels as Record<string, unknown>).version = 2;
    assert.equal(podToWorkloadEndpoint(pod)?.labels.version, "2");
  });
});

describe("podToWorkloadEndpoint: named ports", () => {
  it("collects named ports of every container, TCP by default", () => {
    const ep = convert({
      podIP: "10.65.0.5",
      ports: [
        [{ name: "http", containerPort: 8080 }],
        [
          { name: "dns", containerPort: 53, protocol: "UDP" },
          { name: "sig", containerPort: 3868, protocol: "SCTP" },
        ],
      ],
    });
    assert.deepEqual(ep.ports, [
      { name: "http", protocol: "tcp", port: 8080 },
      { name: "dns", protocol: "udp", port: 53 },
      { name: "sig", protocol: "sctp", port: 3868 },
    ]);
  });

  it("ignores unnamed ports", () => {
    const ep = convert({ podIP: "10.65.0.5", ports: [[{ containerPort: 80 }, { name: "", containerPort: 81 }]] });
    assert.deepEqual(ep.ports, []);
  });

  it("accepts a numeric-string containerPort", () => {
    const ep = convert({ podIP: "10.65.0.5", ports: [[{ name: "http", containerPort: "80" as unknown as number }]] });
    assert.deepEqual(ep.ports, [{ name: "http", protocol: "tcp", port: 80 }]);
  });

  it("throws on an invalid containerPort", () => {
    for (const containerPort of [0, 65536, -1, 80.5, undefined, "http" as unknown as number]) {
      assert.throws(
        () => convert({ podIP: "10.65.0.5", ports: [[{ name: "p", containerPort }]] }),
        /container port p: invalid containerPort/,
        `containerPort ${String(containerPort)}`,
      );
    }
  });

  it("throws on an unsupported protocol", () => {
    assert.throws(
      () => convert({ podIP: "10.65.0.5", ports: [[{ name: "p", containerPort: 1, protocol: "ICMP" }]] }),
      /container port p: unsupported protocol/,
    );
  });
});

describe("podToWorkloadEndpoint: Calico CNI's annotations and released addresses", () => {
  const withMeta = (pod: Pod, meta: { annotations?: Record<string, string>; deletionTimestamp?: string }): Pod => ({
    ...pod,
    metadata: { ...pod.metadata, ...meta },
  });

  it("takes the podIPs annotation before the kubelet has written status", () => {
    const pod = withMeta(mkPod({}), {
      annotations: { "cni.projectcalico.org/podIPs": "10.65.0.5/32,fd00::5/128", "cni.projectcalico.org/podIP": "x" },
    });
    const ep = podToWorkloadEndpoint(pod);
    assert.deepEqual([ep?.ipv4Nets, ep?.ipv6Nets], [["10.65.0.5/32"], ["fd00::5/128"]]);
  });

  it("falls back to the podIP annotation, bare or /32", () => {
    for (const v of ["10.65.0.5/32", "10.65.0.5"]) {
      const ep = podToWorkloadEndpoint(withMeta(mkPod({}), { annotations: { "cni.projectcalico.org/podIP": v } }));
      assert.deepEqual(ep?.ipv4Nets, ["10.65.0.5/32"], v);
    }
  });

  it("the kubelet's status wins over the annotations", () => {
    const pod = withMeta(mkPod({ podIP: "10.65.0.9" }), {
      annotations: { "cni.projectcalico.org/podIP": "10.65.0.5/32" },
    });
    assert.deepEqual(podToWorkloadEndpoint(pod)?.ipv4Nets, ["10.65.0.9/32"]);
  });

  it("refuses an annotation that names a network rather than one address", () => {
    for (const v of ["10.65.0.0/24", "0.0.0.0/0", "10.65.0.5/32/1", "10.65.0.5/"]) {
      const pod = withMeta(mkPod({}), { annotations: { "cni.projectcalico.org/podIP": v } });
      assert.throws(() => podToWorkloadEndpoint(pod), /not a single address|invalid IP/, v);
    }
  });

  it("a terminating pod whose address Calico CNI released is no endpoint, whatever its status still says", () => {
    const pod = withMeta(mkPod({ podIP: "10.65.0.5" }), {
      deletionTimestamp: "2026-01-01T00:00:00Z",
      annotations: { "cni.projectcalico.org/podIP": "" },
    });
    assert.equal(podToWorkloadEndpoint(pod), null);
    assert.equal(podIsFinished(pod), true);
  });

  it("a terminating pod keeps its address until CNI releases it (annotation present and non-empty, or absent)", () => {
    const ts = "2026-01-01T00:00:00Z";
    const held = withMeta(mkPod({ podIP: "10.65.0.5" }), {
      deletionTimestamp: ts,
      annotations: { "cni.projectcalico.org/podIP": "10.65.0.5/32" },
    });
    assert.deepEqual(podToWorkloadEndpoint(held)?.ipv4Nets, ["10.65.0.5/32"]);
    const otherCni = withMeta(mkPod({ podIP: "10.65.0.5" }), { deletionTimestamp: ts, annotations: {} });
    assert.deepEqual(podToWorkloadEndpoint(otherCni)?.ipv4Nets, ["10.65.0.5/32"]);
    // Without deletionTimestamp an empty annotation means nothing (CNI not done yet).
    const notDeleting = withMeta(mkPod({ podIP: "10.65.0.5" }), { annotations: { "cni.projectcalico.org/podIP": "" } });
    assert.deepEqual(podToWorkloadEndpoint(notDeleting)?.ipv4Nets, ["10.65.0.5/32"]);
  });

  it("phase Completed is finished, like Succeeded and Failed", () => {
    assert.equal(podToWorkloadEndpoint(mkPod({ phase: "Completed", podIP: "10.65.0.5" })), null);
  });
});

describe("podToWorkloadEndpoint: init containers' named ports", () => {
  it("collects named ports of init containers (native sidecars) after the containers'", () => {
    const pod = mkPod({ podIP: "10.65.0.5", ports: [[{ name: "http", containerPort: 8080 }]] });
    pod.spec!.initContainers = [
      { name: "proxy", restartPolicy: "Always", ports: [{ name: "admin", containerPort: 15000 }] },
      { name: "setup", ports: [{ name: "metrics", containerPort: 9100, protocol: "UDP" }] },
    ];
    assert.deepEqual(podToWorkloadEndpoint(pod)?.ports, [
      { name: "http", protocol: "tcp", port: 8080 },
      { name: "admin", protocol: "tcp", port: 15000 },
      { name: "metrics", protocol: "udp", port: 9100 },
    ]);
  });
});
