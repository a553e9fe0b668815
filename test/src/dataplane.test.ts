// The dataplane driver with every kernel piece faked: ordering, and that an
// apply of an unchanged snapshot does no kernel work until resync().

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { vethNameForWorkload } from "../../calc-graph/conversion/pod.js";
import { FakeSysctls, SysctlReconciler } from "../../ifaces/sysctl-writer.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { FakeNetlinkRoutes } from "../../routes/fake-netlink-routes.js";
import { RouteReconciler } from "../../routes/route-reconciler.js";
import { Dataplane } from "../../src/dataplane.js";
import { namespace, pod, policy } from "../calc-graph/fixtures.js";

function rig() {
  // One fake kernel: rules may only name sets that exist, and hold them.
  const sets = new FakeIpsetBackend();
  const v4 = new FakeIptablesBackend(4, "legacy", sets);
  const v6 = new FakeIptablesBackend(6, "legacy", sets);
  const nl = new FakeNetlinkRoutes();
  const iface = vethNameForWorkload("prod", "web");
  nl.addLink(iface, { up: true });
  const sys = new FakeSysctls();
  sys.addInterface(iface);
  const dp = new Dataplane({
    ipsets: new IpsetSyncer(sets),
    ipv4: new TableSyncer(v4),
    ipv6: new TableSyncer(v6),
    routes: new RouteReconciler(nl),
    sysctls: new SysctlReconciler(sys),
  });
  const work = () =>
    v4.restores.length +
    v6.restores.length +
    sets.restores.length +
    nl.ops.length +
    sys.writes.length +
    sys.reads.length;
  return { dp, v4, sets, nl, sys, work };
}

const graph = () => {
  const g = new CalcGraph({ nodeName: "node1" });
  g.apply([
    namespace("prod"),
    pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } }),
    pod("prod", "db", { node: "node2", ip: "10.65.2.11", labels: { app: "db" } }),
    policy("prod", "web", {
      podSelector: { matchLabels: { app: "web" } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "db" } } }] }],
    }),
  ]);
  return g;
};

describe("Dataplane", () => {
  test("programs everything, then skips an unchanged snapshot entirely", async () => {
    const { dp, v4, sets, nl, work } = rig();
    const g = graph();
    const r1 = await dp.apply(g.current);
    assert.ok(r1.changes > 0);
    assert.ok(v4.restores.length > 0 && sets.restores.length > 0);
    assert.ok(nl.ops.some((o) => o.includes("10.65.1.10/32")));
    // Where the time went, by step (logged with the apply): every step that ran, and only those.
    assert.deepEqual(Object.keys(r1.stepsMs ?? {}).sort(), [
      "ipsetFill",
      "ipsets",
      "ipsetsStale",
      "iptables",
      "iptables4",
      "iptables6",
      "policy",
      "routes",
      "sysctls",
    ]);
    const before = work();
    const r2 = await dp.apply(g.current);
    assert.equal(r2.changes, 0);
    assert.equal(work(), before, "no kernel reads or writes for an identical snapshot");
  });

  test("a remote pod change touches only the IP sets", async () => {
    const { dp, v4, sets, nl, sys, work } = rig();
    const g = graph();
    await dp.apply(g.current);
    const [iptBefore, nlBefore, sysBefore] = [v4.restores.length, nl.ops.length, sys.reads.length];
    const setsBefore = sets.restores.length;
    const s = g.apply([pod("prod", "db2", { node: "node2", ip: "10.65.2.12", labels: { app: "db" } })]);
    const r = await dp.apply(s);
    assert.equal(r.iptablesBytes, 0);
    assert.equal(v4.restores.length, iptBefore);
    assert.equal(nl.ops.length, nlBefore);
    assert.equal(sys.reads.length, sysBefore);
    assert.equal(sets.restores.length, setsBefore + 1);
    assert.match(sets.restores.at(-1) ?? "", /^add cali40s:\S+ 10\.65\.2\.12$/m);
    assert.ok(work() > 0);
    assert.equal(r.stepsMs?.routes, undefined, "the route step did not run");
  });

  test("resync() and linksChanged() make the next apply look at the kernel again", async () => {
    const { dp, v4, sys } = rig();
    const g = graph();
    await dp.apply(g.current);
    const reads = sys.reads.length;
    dp.linksChanged();
    await dp.apply(g.current);
    assert.ok(sys.reads.length > reads, "sysctls re-checked after a link event");
    await v4.restore("*filter\n:cali-wl-to-host - [0:0]\nCOMMIT\n");
    dp.resync();
    const r = await dp.apply(g.current);
    assert.ok(r.iptablesBytes > 0, "drift repaired after resync");
  });
});
