// Conntrack cleanup of reused workload addresses: which addresses count as
// moved, that the dataplane deletes their flows before the new route, and the
// real `conntrack` command's output parsing.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { vethNameForWorkload } from "../../calc-graph/conversion/pod.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { FakeConntrack, movedWorkloadAddresses } from "../../routes/conntrack.js";
import { FakeNetlinkRoutes } from "../../routes/fake-netlink-routes.js";
import type { Route } from "../../routes/route.js";
import { RouteReconciler } from "../../routes/route-reconciler.js";
import { Dataplane } from "../../src/dataplane.js";
import { namespace, pod } from "../calc-graph/fixtures.js";

const wl = (dst: string, dev: string): Route => ({ dst, kind: "local-workload", type: "unicast", dev, scope: "link" });
const remote = (dst: string): Route => ({
  dst,
  kind: "remote-workload",
  type: "unicast",
  gateway: "172.31.0.2",
  scope: "universe",
});

describe("movedWorkloadAddresses", () => {
  test("an address whose local route went away, moved to another interface or to another node", () => {
    const before = {
      a: wl("10.65.1.1/32", "cali1"),
      b: wl("10.65.1.2/32", "cali2"),
      c: wl("10.65.1.3/32", "cali3"),
      d: wl("fd00::4/128", "cali4"),
      e: wl("10.65.1.5/32", "cali5"),
    };
    const after = {
      "10.65.1.2/32": wl("10.65.1.2/32", "cali9"),
      "10.65.1.3/32": remote("10.65.1.3/32"),
      "10.65.1.5/32": wl("10.65.1.5/32", "cali5"),
    };
    const keyed = Object.fromEntries(Object.values(before).map((r) => [r.dst, r]));
    assert.deepEqual(movedWorkloadAddresses(keyed, after), ["10.65.1.1", "10.65.1.2", "10.65.1.3", "fd00::4"]);
    assert.deepEqual(movedWorkloadAddresses(undefined, after), [], "nothing known before: nothing moved");
  });
});

describe("Dataplane conntrack step", () => {
  test("a reused address: the old pod's flows are deleted before the new pod's route", async () => {
    const nl = new FakeNetlinkRoutes();
    const oldIface = vethNameForWorkload("x", "old");
    const newIface = vethNameForWorkload("x", "new");
    nl.addLink(oldIface);
    nl.addLink(newIface);
    const ct = new FakeConntrack();
    ct.flows.add("10.65.1.10 10.65.1.20");
    ct.flows.add("10.65.1.10 10.65.1.21");
    let routeAtCleanup: string | undefined;
    const spy = {
      async deleteFlows(ip: string) {
        routeAtCleanup = nl.allRoutes().find((r) => r.dst === `${ip}/32`)?.dev;
        return ct.deleteFlows(ip);
      },
    };
    const dp = new Dataplane({
      ipsets: new IpsetSyncer(new FakeIpsetBackend()),
      ipv4: new TableSyncer(new FakeIptablesBackend(4)),
      routes: new RouteReconciler(nl),
      conntrack: spy,
    });
    const g = new CalcGraph({ nodeName: "node1" });
    const oldPod = pod("x", "old", { ip: "10.65.1.20" });
    await dp.apply(g.apply([namespace("x"), oldPod, pod("x", "other", { ip: "10.65.1.21" })]));
    assert.deepEqual(ct.calls, [], "nothing moved yet");
    await dp.apply(g.apply([{ ...oldPod, value: null }, pod("x", "new", { ip: "10.65.1.20" })]));
    assert.deepEqual(ct.calls, ["10.65.1.20"]);
    assert.deepEqual([...ct.flows], ["10.65.1.10 10.65.1.21"], "only the reused address's flows");
    assert.equal(routeAtCleanup, oldIface, "deleted while the route still led to the old interface");
    assert.equal(nl.allRoutes().find((r) => r.dst === "10.65.1.20/32")?.dev, newIface);
    dp.resync();
    await dp.apply(g.current);
    assert.deepEqual(ct.calls, ["10.65.1.20"], "a resync is not a move");
  });
});
