// Property: whatever sequence of Service / EndpointSlice / Node updates
// arrives, one at a time, the incremental graph ends where a fresh graph fed
// only the final objects starts (no hysteresis in the index, the renderer or
// the dispatch chains).

import { test } from "node:test";
import fc from "fast-check";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { node } from "../fixtures.js";
import { assertOneByOneEndsAsFresh } from "../history.js";
import { sliceUpdate, svcUpdate } from "./fixtures.js";

const SERVICES = ["a", "b", "c"];

const service = fc
  .record({
    name: fc.constantFrom(...SERVICES),
    deleted: fc.boolean(),
    type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer"),
    affinity: fc.boolean(),
    etpLocal: fc.boolean(),
    itpLocal: fc.boolean(),
    ranges: fc.boolean(),
    dual: fc.boolean(),
    ports: fc.subarray(["http", "dns"], { minLength: 1 }),
  })
  .map(
    (s, i = SERVICES.indexOf(s.name)): ResourceUpdate =>
      svcUpdate(
        s.name,
        s.deleted
          ? null
          : {
              type: s.type,
              clusterIP: `10.96.0.${i + 1}`,
              ...(s.dual ? { clusterIPs: [`10.96.0.${i + 1}`, `fd00:96::${i + 1}`] } : {}),
              ...(s.affinity ? { sessionAffinity: "ClientIP" } : {}),
              ...(s.etpLocal ? { externalTrafficPolicy: "Local", healthCheckNodePort: 32000 + i } : {}),
              ...(s.itpLocal ? { internalTrafficPolicy: "Local" } : {}),
              ...(s.ranges ? { loadBalancerSourceRanges: ["203.0.113.0/24", "172.18.0.0/24"] } : {}),
              externalIPs: [`192.0.2.${i + 1}`],
              ports: s.ports.map((p, j) => ({
                name: p,
                port: 80 + j,
                protocol: p === "dns" ? "UDP" : "TCP",
                ...(s.type !== "ClusterIP" ? { nodePort: 30000 + i * 10 + j } : {}),
              })),
            },
        { status: { loadBalancer: { ingress: [{ ip: `198.51.100.${i + 1}` }] } } },
      ),
  );

const endpoint = fc.record({
  ip: fc.integer({ min: 2, max: 6 }),
  node: fc.constantFrom("node1", "node2"),
  ready: fc.option(fc.boolean(), { nil: undefined }),
  serving: fc.option(fc.boolean(), { nil: undefined }),
  terminating: fc.option(fc.boolean(), { nil: undefined }),
});

const slice = fc
  .record({
    name: fc.constantFrom("s1", "s2", "s3", "s4"),
    service: fc.constantFrom(...SERVICES),
    deleted: fc.boolean(),
    v6: fc.boolean(),
    port: fc.integer({ min: 8080, max: 8081 }),
    eps: fc.array(endpoint, { maxLength: 4 }),
  })
  .map(
    (s): ResourceUpdate =>
      sliceUpdate(
        s.name,
        s.service,
        s.deleted
          ? null
          : s.eps.map((e) => ({
              ...e,
              ip: s.v6
                ? `fd00:65:${e.node === "node1" ? 1 : 2}::${e.ip}`
                : `10.65.${e.node === "node1" ? 1 : 2}.${e.ip}`,
            })),
        [
          { name: "http", port: s.port },
          { name: "dns", port: 53, protocol: "UDP" },
        ],
        s.v6 ? "IPv6" : "IPv4",
      ),
  );

const nodeUpdate = fc
  .record({ name: fc.constantFrom("node1", "node2"), ip: fc.constantFrom("172.18.0.1", "172.19.0.1") })
  .map((n) => node(n.name, n.name === "node1" ? "10.65.1.0/24" : "10.65.2.0/24", n.ip));

const view = (s: DesiredState) =>
  JSON.parse(
    JSON.stringify({ t: s.iptables, sets: s.ipsets, svc: s.services }, (_k, v) =>
      v instanceof Set ? [...v].sort() : v,
    ),
  );

test("services: incremental updates end where a fresh graph of the final objects starts", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(service, service, slice, slice, slice, nodeUpdate), { minLength: 1, maxLength: 25 }),
      (ups) => assertOneByOneEndsAsFresh(ups, view, { nodeName: "node1", proxyMode: "iptables" }),
    ),
    { numRuns: 150 },
  );
});
