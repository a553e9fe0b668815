// One address, several claimants: pods sharing an address on this node
// (IP reuse, a stale status), on other nodes, in blocks that change hands,
// and pods whose interface names collide. Whatever the history, the
// incremental graph ends where a fresh graph of the final objects starts
// (node-routes.ts: local routes are claims; workload-routes.ts: remote ones).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import { vethNameForWorkload } from "../../../calc-graph/conversion/pod.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { namespace, pod } from "../fixtures.js";
import { affinity, bothOrders, node, pool, three } from "./routing-fixtures.js";

describe("one address, several local claimants (IP reuse)", () => {
  const ifaceOf = (g: CalcGraph, name: string) => Object.values(g.current.endpoints).find((e) => e.pod === name)!.iface;
  const fresh = (local: string, updates: ResourceUpdate[]) => {
    const f = new CalcGraph({ nodeName: local });
    f.apply(updates);
    return f.current.routes;
  };
  const base = [pool({ vxlanMode: "Always" }), namespace("x"), ...three];

  test("a and b share an address on this node, b moves away: a keeps its route (the property's seed 2025266642)", () => {
    const a = pod("x", "a", { node: "node2", ip: "10.244.1.6" });
    const bMoved = pod("x", "b", { node: "node1", ip: "10.244.1.5" });
    const g = new CalcGraph({ nodeName: "node2" });
    g.apply(base);
    g.apply([a]);
    g.apply([pod("x", "b", { node: "node2", ip: "10.244.1.6" })]);
    g.apply([bMoved]);
    assert.equal(g.current.routes["10.244.1.6/32"]?.dev, ifaceOf(g, "a"), "a's route is back");
    assert.deepEqual(g.current.routes, fresh("node2", [...base, a, bMoved]));
  });

  test("the greatest interface name wins, in any order; when it goes the other takes over, then a remote pod", () => {
    const a = pod("x", "a", { node: "node2", ip: "10.244.1.6" });
    const b = pod("x", "b", { node: "node2", ip: "10.244.1.6" });
    const remote = pod("x", "r", { node: "node3", ip: "10.244.1.6" });
    const g = bothOrders("node2", [...base, a, b, remote]);
    const [loser, winner] = [ifaceOf(g, "a"), ifaceOf(g, "b")].sort();
    assert.equal(g.current.routes["10.244.1.6/32"].dev, winner);
    const winnerPod = winner === ifaceOf(g, "a") ? a : b;
    const loserPod = winnerPod === a ? b : a;
    // The winner changes its address (not deleted): the other's route takes over.
    const winnerElsewhere = pod("x", winnerPod === a ? "a" : "b", { node: "node2", ip: "10.244.2.40" });
    g.apply([winnerElsewhere]);
    assert.equal(g.current.routes["10.244.1.6/32"].dev, loser);
    assert.deepEqual(g.current.routes, fresh("node2", [...base, loserPod, winnerElsewhere, remote]));
    // The last local claimant goes: the remote pod's /32 (node1's block, borrowed by node3) comes back.
    g.apply([{ ...loserPod, value: null }]);
    assert.equal(g.current.routes["10.244.1.6/32"].node, "node3");
    assert.deepEqual(g.current.routes, fresh("node2", [...base, winnerElsewhere, remote]));
  });
});

describe("incremental routing equals a fresh graph", () => {
  test("property: any sequence of pod, node and affinity changes leaves the routes a fresh graph computes", () => {
    const nodes = ["node1", "node2", "node3"];
    const podArb = fc.record({
      kind: fc.constant("pod" as const),
      name: fc.constantFrom("a", "b", "c", "d"),
      node: fc.constantFrom(...nodes),
      ip: fc.constantFrom("10.244.1.5", "10.244.1.6", "10.244.2.5", "10.244.3.5", "10.244.9.9", "172.31.250.2"),
      del: fc.boolean(),
    });
    const affArb = fc.record({
      kind: fc.constant("affinity" as const),
      node: fc.constantFrom(...nodes),
      cidr: fc.constantFrom("10.244.1.0/24", "10.244.2.0/24", "10.244.9.0/24", "0.0.0.0/1"),
      del: fc.boolean(),
    });
    const nodeArb = fc.record({
      kind: fc.constant("node" as const),
      n: fc.constantFrom(1, 2, 3),
      blockless: fc.boolean(),
      del: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(...nodes),
        fc.array(fc.oneof(podArb, affArb, nodeArb), { maxLength: 30 }),
        (local, ops) => {
          const g = new CalcGraph({ nodeName: local });
          const current = new Map<string, ResourceUpdate>();
          const put = (key: string, u: ResourceUpdate, del: boolean) => {
            if (del) {
              if (current.delete(key)) g.apply([{ ...u, value: null }]);
            } else {
              current.set(key, u);
              g.apply([u]);
            }
          };
          g.apply([pool({ vxlanMode: "Always" }), namespace("x")]);
          for (const n of [1, 2, 3]) put(`node${n}`, node(`node${n}`, n), false);
          for (const op of ops) {
            if (op.kind === "pod") put(`pod ${op.name}`, pod("x", op.name, { node: op.node, ip: op.ip }), op.del);
            else if (op.kind === "affinity") put(`aff ${op.node} ${op.cidr}`, affinity(op.node, op.cidr), op.del);
            else put(`node${op.n}`, node(`node${op.n}`, op.n, {}, op.blockless ? "" : undefined), op.del);
          }
          const fresh = new CalcGraph({ nodeName: local });
          fresh.apply([pool({ vxlanMode: "Always" }), namespace("x"), ...current.values()]);
          assert.deepEqual(g.current.routes, fresh.current.routes);
          assert.deepEqual(g.current.network, fresh.current.network);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("interface collisions and shared addresses", () => {
  test("a collision withdraws the sysctls the first pod set on the interface (the property's seed -512448627)", () => {
    const first = pod("red", "p2272271", { node: "node1", ip: "10.244.1.5" });
    const second = pod("red", "p4484179", { node: "node1", ip: "10.244.2.5" });
    const base = [pool({ vxlanMode: "Always" }), namespace("red"), ...three];
    const iface = vethNameForWorkload("red", "p2272271");
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply([...base, first]);
    assert.equal(g.current.sysctls[`net/ipv4/conf/${iface}/proxy_arp`], "1");
    g.apply([second]);
    assert.deepEqual(
      Object.keys(g.current.sysctls).filter((k) => k.includes(iface)),
      [],
      "neither pod is programmed",
    );
    const fresh = new CalcGraph({ nodeName: "node1" });
    fresh.apply([...base, first, second]);
    assert.deepEqual(g.current.sysctls, fresh.current.sysctls);
    // The second goes: the first is programmed again, sysctls included.
    g.apply([{ ...second, value: null }]);
    assert.equal(g.current.sysctls[`net/ipv4/conf/${iface}/proxy_arp`], "1");
  });

  test("property: pods with colliding interfaces and shared addresses, moved and deleted in any order", () => {
    // Two pods whose interface names collide (hostile/iface-collision.test.ts), and two that do not;
    // few addresses, so they share.
    const names = ["p2272271", "p4484179", "p1", "p2"];
    assert.equal(vethNameForWorkload("red", names[0]), vethNameForWorkload("red", names[1]));
    const podArb = fc.record({
      name: fc.constantFrom(...names),
      node: fc.constantFrom("node1", "node2"),
      ips: fc.subarray(["10.244.1.5", "10.244.1.6", "10.244.2.5"], { minLength: 1 }),
      del: fc.boolean(),
    });
    const base = [pool({ vxlanMode: "Always" }), namespace("red"), ...three];
    fc.assert(
      fc.property(fc.constantFrom("node1", "node2"), fc.array(podArb, { maxLength: 20 }), (local, ops) => {
        const g = new CalcGraph({ nodeName: local });
        g.apply(base);
        const current = new Map<string, ResourceUpdate>();
        for (const op of ops) {
          const u = pod("red", op.name, { node: op.node, ips: op.ips });
          if (!op.del) current.set(op.name, u);
          else if (!current.delete(op.name)) continue;
          g.apply([op.del ? { ...u, value: null } : u]);
        }
        const fresh = new CalcGraph({ nodeName: local });
        fresh.apply([...base, ...current.values()]);
        for (const k of ["routes", "endpoints", "problems", "sysctls", "iptables"] as const) {
          assert.deepEqual(g.current[k], fresh.current[k], k);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe("a pod's addresses change family", () => {
  test("from IPv6 to IPv4: the interface's IPv6 sysctls go (seed -383221424 of a wider property)", () => {
    const base = [pool({ vxlanMode: "Always" }), namespace("x"), ...three];
    const v4 = pod("x", "e", { node: "node2", ip: "10.244.9.9" });
    const g = new CalcGraph({ nodeName: "node2" });
    g.apply([...base, pod("x", "e", { node: "node2", ip: "fd00::5" })]);
    const iface = Object.values(g.current.endpoints)[0].iface;
    assert.equal(g.current.sysctls[`net/ipv6/conf/${iface}/proxy_ndp`], "1");
    g.apply([v4]);
    assert.equal(g.current.sysctls[`net/ipv6/conf/${iface}/proxy_ndp`], undefined);
    assert.equal(g.current.sysctls[`net/ipv4/conf/${iface}/proxy_arp`], "1");
    const fresh = new CalcGraph({ nodeName: "node2" });
    fresh.apply([...base, v4]);
    assert.deepEqual(g.current.sysctls, fresh.current.sysctls);
  });
});
