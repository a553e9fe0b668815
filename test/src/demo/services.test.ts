import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { convertEndpointSlice } from "../../../calc-graph/services/convert.js";
import {
  classifyService,
  type DemoPod,
  endpointSlicesFor,
  explainServiceCell,
  type ServiceColumn,
  serviceColumns,
} from "../../../src/demo/services.js";

const pod = (ns: string, name: string, ip: string, node: string, labels: Record<string, string>, ports = [8080]) =>
  ({
    namespace: ns,
    name,
    ip,
    node,
    labels: { pod: name, ...labels },
    ports: ports.map((port) => ({ name: "http", port, protocol: "TCP" as const })),
  }) satisfies DemoPod;

const PODS: DemoPod[] = [
  pod("app", "api-1", "10.65.1.10", "node1", { app: "api" }),
  pod("app", "api-2", "10.65.2.10", "node2", { app: "api" }),
  pod("app", "api-old", "10.65.2.11", "node2", { app: "api" }, [9090]),
  pod("app", "worker", "10.65.1.11", "node1", { app: "worker" }),
  pod("other", "api", "10.65.1.12", "node1", { app: "api" }),
];

function service(spec: Record<string, unknown>, name = "api", namespace = "app") {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace },
    spec: { clusterIP: "10.96.0.10", ...spec },
  };
}

const API = service({ selector: { app: "api" }, ports: [{ name: "http", port: 80, targetPort: "http" }] });

describe("demo services: EndpointSlices", () => {
  it("one slice per resolved port set: the selected pods of the service's namespace with nodeName and targetRef", () => {
    const slices = endpointSlicesFor(API, PODS) as {
      metadata: { name: string; namespace: string; labels: Record<string, string> };
      ports: unknown[];
      endpoints: { addresses: string[]; nodeName: string; targetRef: unknown }[];
    }[];
    assert.equal(slices.length, 2, "api-old's http resolves to 9090: its own slice");
    const [a, b] = slices;
    assert.equal(a!.metadata.labels["kubernetes.io/service-name"], "api");
    assert.equal(a!.metadata.namespace, "app");
    assert.deepEqual(a!.ports, [{ name: "http", port: 8080, protocol: "TCP" }]);
    assert.deepEqual(
      a!.endpoints.map((e) => [e.addresses[0], e.nodeName]),
      [
        ["10.65.1.10", "node1"],
        ["10.65.2.10", "node2"],
      ],
    );
    assert.deepEqual(a!.endpoints[1]!.targetRef, { kind: "Pod", namespace: "app", name: "api-2" });
    assert.deepEqual(b!.ports, [{ name: "http", port: 9090, protocol: "TCP" }]);
    assert.notEqual(a!.metadata.name, b!.metadata.name);
    // What the agents make of them: the engine's own slice conversion.
    const converted = convertEndpointSlice(a as never)!;
    assert.equal(converted.service, "api");
    assert.deepEqual(
      converted.endpoints.map((e) => [e.ip, e.pod, e.ready]),
      [
        ["10.65.1.10", "app/api-1", true],
        ["10.65.2.10", "app/api-2", true],
      ],
    );
  });

  it("numeric targetPort (or none: the port itself) needs no containerPort; an unresolved name leaves the port out", () => {
    const numeric = endpointSlicesFor(
      service({
        selector: { pod: "worker" },
        ports: [
          { port: 81, targetPort: 8081 },
          { port: 82, protocol: "UDP" },
        ],
      }),
      PODS,
    ) as { ports: unknown[]; endpoints: unknown[] }[];
    assert.deepEqual(numeric[0]!.ports, [
      { name: "", port: 8081, protocol: "TCP" },
      { name: "", port: 82, protocol: "UDP" },
    ]);
    const unresolved = endpointSlicesFor(
      service({ selector: { pod: "worker" }, ports: [{ name: "x", port: 80, targetPort: "nope" }] }),
      PODS,
    ) as { ports: unknown[]; endpoints: unknown[] }[];
    assert.deepEqual(unresolved[0]!.ports, []);
    assert.equal(unresolved[0]!.endpoints.length, 1);
  });

  it("no pod selected: one empty slice (the controller's placeholder); no selector or ExternalName: none", () => {
    const empty = endpointSlicesFor(service({ selector: { app: "nothing" }, ports: [{ port: 80 }] }), PODS) as {
      endpoints: unknown[];
    }[];
    assert.equal(empty.length, 1);
    assert.deepEqual(empty[0]!.endpoints, []);
    assert.deepEqual(endpointSlicesFor(service({ ports: [{ port: 80 }] }), PODS), []);
    assert.deepEqual(endpointSlicesFor(service({ selector: {}, ports: [{ port: 80 }] }), PODS), []);
    assert.deepEqual(
      endpointSlicesFor(service({ type: "ExternalName", externalName: "x.example", selector: { app: "api" } }), PODS),
      [],
    );
  });
});

describe("demo services: columns", () => {
  const probe = [
    { protocol: "tcp" as const, port: 8080 },
    { protocol: "udp" as const, port: 53 },
  ];

  it("a service port is a column in the block of its backends' port, dialled on the ClusterIP's port", () => {
    const svc = service({ selector: { app: "api" }, ports: [{ name: "http", port: 80, targetPort: "http" }] });
    const { columns, notes } = serviceColumns([svc], PODS.slice(0, 2), probe);
    assert.deepEqual(notes, []);
    assert.deepEqual(columns, [
      {
        label: "svc:app/api",
        service: "app/api",
        clusterIP: "10.96.0.10",
        port: { port: 80, protocol: "tcp" },
        block: { port: 8080, protocol: "tcp" },
        backends: ["app/api-1", "app/api-2"],
        selector: "app=api",
      },
    ]);
  });

  it("several ports: labelled with the port; unprobed target ports, no selector, mixed targets: a note", () => {
    const multi = service({
      selector: { app: "api" },
      ports: [
        { name: "http", port: 80, targetPort: "http" },
        { name: "dns", port: 53, protocol: "UDP" },
        { name: "admin", port: 9000, targetPort: 9000 },
      ],
    });
    const bare = service({ ports: [{ port: 80 }] }, "manual");
    const { columns, notes } = serviceColumns([multi, bare], PODS, probe);
    assert.deepEqual(
      columns.map((c) => [c.label, `${c.block.protocol}/${c.block.port}`]),
      [
        ["svc:app/api:80", "tcp/8080"],
        ["svc:app/api:53", "udp/53"],
      ],
    );
    assert.deepEqual(columns[0]!.backends, ["app/api-1", "app/api-2", "app/api-old"]);
    assert.equal(notes.length, 3, notes.join("\n"));
    assert.match(notes[0]!, /app\/api port 80: its backends serve 8080, 9090; shown under tcp\/8080/);
    assert.match(notes[1]!, /app\/api port 9000\/tcp: .*tcp\/9000, which the scenario does not probe/);
    assert.match(notes[2]!, /app\/manual: no selector/);
  });

  it("headless and invalid services get no column (the graph reports invalid ones)", () => {
    const headless = service({ clusterIP: "None", selector: { app: "api" }, ports: [{ port: 8080 }] });
    const invalid = service({ type: "Bogus", selector: { app: "api" }, ports: [{ port: 8080 }] }, "bad");
    assert.deepEqual(serviceColumns([headless, invalid], PODS, probe), { columns: [], notes: [] });
    const unallocated = service({ clusterIP: undefined, selector: { app: "api" }, ports: [{ port: 8080 }] });
    assert.deepEqual(serviceColumns([unallocated], PODS, probe).notes, [
      "app/api: no spec.clusterIP, and no API server here allocates one: set one, e.g. 10.96.0.10",
    ]);
  });
});

describe("demo services: cells", () => {
  const ok = (b: string) => ({ ok: true, reply: `${b}\n` });
  const fail = { ok: false };
  const B = ["app/api-1", "app/api-2"];

  it(". every connection answered, X none, ~ some while a backend never answered", () => {
    assert.equal(classifyService([ok(B[0]!), ok(B[1]!), ok(B[0]!)], B).cell, ".");
    assert.equal(classifyService([ok(B[0]!), ok(B[0]!)], B).cell, ".");
    assert.equal(classifyService([fail, fail], B).cell, "X");
    const mixed = classifyService([ok(B[0]!), fail, ok(B[0]!), fail], B);
    assert.deepEqual(mixed, { cell: "~", attempts: 4, answered: 2, answeredBy: ["app/api-1"] });
    assert.equal(classifyService([fail], []).cell, "X");
  });

  it("a failure while every backend answered is a lost packet, not policy: .", () => {
    assert.equal(classifyService([ok(B[0]!), fail, ok(B[1]!)], B).cell, ".");
  });

  it("explains a denied or partial cell per backend with the per-pod reason", () => {
    const col: ServiceColumn = {
      label: "svc:app/api",
      service: "app/api",
      clusterIP: "10.96.0.10",
      port: { port: 80, protocol: "tcp" },
      block: { port: 8080, protocol: "tcp" },
      backends: B,
      selector: "app=api",
    };
    const seen: string[] = [];
    const deny = (c: string, s: string, p: { port: number; protocol: string }) => {
      seen.push(`${c} ${s} ${p.protocol}/${p.port}`);
      return s === "app/api-2" ? `denied by app/knp.default.x (ingress of ${s})` : undefined;
    };
    const o = classifyService([ok(B[0]!), fail], B);
    assert.equal(
      explainServiceCell(col, "ops/debug", o, deny),
      "svc:app/api ← ops/debug 10.96.0.10:80/tcp: 1 of 2 connections answered; backends on tcp/8080: " +
        "app/api-1 answered; app/api-2: denied by app/knp.default.x (ingress of app/api-2)",
    );
    assert.deepEqual(seen, ["ops/debug app/api-2 tcp/8080"], "the DNAT target's port, not the service port");
    assert.match(
      explainServiceCell(col, "x/y", classifyService([fail], B), () => undefined),
      /app\/api-1: no reply, although the policies allow it; app\/api-2: no reply/,
    );
    assert.match(
      explainServiceCell({ ...col, backends: [] }, "x/y", classifyService([fail], []), deny),
      /no endpoints \(no pod matches app=api\), the connection is rejected/,
    );
  });
});
