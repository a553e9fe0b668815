// Property: frontends whose addresses several claimants want (another
// Service's cluster IP, a node's address, the pod CIDRs) end, whatever the
// order of the updates, where a fresh graph of the final objects starts: the
// claim indexes (frontend-claims.ts, the node addresses) keep no hysteresis.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { ClusterIpClaims } from "../../../calc-graph/services/frontend-claims.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { node, update } from "../fixtures.js";
import { assertOneByOneEndsAsFresh } from "../history.js";
import { svcUpdate } from "./fixtures.js";

// Cluster IPs, a node's address, an address in node1's pod CIDR, an address in the pool, a free one.
const ADDRS = ["10.96.0.1", "10.96.0.2", "172.18.0.1", "10.65.1.7", "10.70.0.5", "192.0.2.1"];

const service = fc
  .record({
    name: fc.constantFrom("a", "b", "c"),
    deleted: fc.boolean(),
    clusterIP: fc.constantFrom("10.96.0.1", "10.96.0.2"),
    external: fc.subarray(ADDRS),
    lb: fc.subarray(ADDRS, { maxLength: 2 }),
  })
  .map(
    (s): ResourceUpdate =>
      svcUpdate(
        s.name,
        s.deleted
          ? null
          : {
              type: "LoadBalancer",
              clusterIP: s.clusterIP,
              externalIPs: s.external,
              ports: [{ name: "http", port: 80, protocol: "TCP", nodePort: 30080 }],
            },
        { status: { loadBalancer: { ingress: s.lb.map((ip) => ({ ip })) } } },
      ),
  );

const nodeUpdate = fc
  .record({
    name: fc.constantFrom("node1", "node2"),
    ip: fc.constantFrom("172.18.0.1", "172.19.0.1"),
    cidr: fc.constantFrom("10.65.1.0/24", "10.65.2.0/24"),
  })
  .map((n) => node(n.name, n.cidr, n.ip));

const poolUpdate = fc.boolean().map(
  (on): ResourceUpdate => ({
    ...update("IPPool", "", "p", { kind: "IPPool", metadata: { name: "p" }, spec: { cidr: "10.70.0.0/16" } }),
    ...(on ? {} : { value: null }),
  }),
);

const view = (s: DesiredState) =>
  JSON.parse(
    JSON.stringify({ t: s.iptables, sets: s.ipsets, svc: s.services, problems: s.problems }, (_k, v) =>
      v instanceof Set ? [...v].sort() : v,
    ),
  );

test("frontend claims: incremental updates end where a fresh graph of the final objects starts", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(service, service, nodeUpdate, poolUpdate), { minLength: 1, maxLength: 25 }), (ups) =>
      assertOneByOneEndsAsFresh(ups, view, { nodeName: "node1", proxyMode: "iptables" }),
    ),
    { numRuns: 150 },
  );
});

test("frontend claims hold only the addresses the Services name now (a Service cycling its external IPs)", () => {
  const claims = new ClusterIpClaims();
  let before = { cluster: ["10.96.0.1"], external: [] as string[] };
  claims.update("demo/a", { cluster: [], external: [] }, before);
  for (let i = 0; i < 1000; i++) {
    const after = { cluster: ["10.96.0.1"], external: [`192.0.2.${i % 250}`, `198.51.100.${i % 250}`] };
    claims.update("demo/a", before, after);
    before = after;
  }
  assert.equal(claims.size, 3, "one cluster IP and the two external IPs in use");
  claims.update("demo/a", before, { cluster: [], external: [] });
  assert.equal(claims.size, 0);
});
