// The route reconciler adopts the routes Calico's CNI plugin leaves for a
// workload (protocol boot, a `cali*` device) when it wants their destination,
// so a stale one is repaired; every other foreign route stays untouched.

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { FakeNetlinkRoutes } from "../../routes/fake-netlink-routes.js";
import type { Route } from "../../routes/route.js";
import { RouteReconciler } from "../../routes/route-reconciler.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason, runInNetns } from "./netns.js";

const workload = (dst: string, dev: string): Route => ({
  dst,
  kind: "local-workload",
  type: "unicast",
  dev,
  scope: "link",
});

function kernel(): FakeNetlinkRoutes {
  const k = new FakeNetlinkRoutes();
  for (const dev of ["cali1", "cali2", "eth9"]) k.addLink(dev);
  return k;
}

describe("route adoption (fake kernel)", () => {
  test("a stale CNI route to another workload interface is adopted and repaired", async () => {
    const k = kernel();
    k.injectRoute({ dst: "10.65.0.5/32", dev: "cali1", scope: "link", protocol: 3 });
    const rec = new RouteReconciler(k);
    rec.setDesired({ a: workload("10.65.0.5/32", "cali2") });
    const r = await rec.apply();
    assert.deepEqual([r.adopted, r.added, r.failed], [["10.65.0.5/32"], [], []]);
    const now = k.allRoutes().filter((x) => x.dst === "10.65.0.5/32");
    assert.deepEqual(
      now.map((x) => [x.dev, x.protocol]),
      [["cali2", 80]],
    );
    const again = await rec.apply();
    assert.deepEqual([again.adopted, again.replaced, again.unchanged], [[], [], 1]);
  });

  test("not adopted: a boot route on a non-workload device, any other protocol, a dst we do not want", async () => {
    const k = kernel();
    k.injectRoute({ dst: "10.65.0.8/32", dev: "eth9", scope: "link", protocol: 3 });
    k.injectRoute({ dst: "10.65.0.9/32", dev: "cali1", scope: "link", protocol: 4 });
    k.injectRoute({ dst: "10.65.0.7/32", dev: "cali1", scope: "link", protocol: 3 });
    const foreign = k.allRoutes();
    const rec = new RouteReconciler(k);
    rec.setDesired({ a: workload("10.65.0.8/32", "cali1"), b: workload("10.65.0.9/32", "cali2") });
    const r = await rec.apply();
    assert.deepEqual(r.adopted, []);
    assert.deepEqual(
      r.failed.map((f) => [f.dst, f.code]),
      [
        ["10.65.0.8/32", "EEXIST"],
        ["10.65.0.9/32", "EEXIST"],
      ],
    );
    assert.deepEqual(k.allRoutes(), foreign, "nothing foreign was touched");
  });

  test("the interface prefix decides what a workload interface is", async () => {
    const k = new FakeNetlinkRoutes();
    k.addLink("tap1");
    k.addLink("tap2");
    k.injectRoute({ dst: "10.65.0.5/32", dev: "tap1", scope: "link", protocol: 3 });
    const rec = new RouteReconciler(k, { workloadPrefixes: ["tap"] });
    rec.setDesired({ a: workload("10.65.0.5/32", "tap2") });
    assert.deepEqual((await rec.apply()).adopted, ["10.65.0.5/32"]);
  });
});

const here = dirname(fileURLToPath(import.meta.url));
const skip = netnsSkipReason();

describe("route adoption (real kernel, throwaway netns)", () => {
  test("CNI's routes: the stale one is repaired, the right one adopted, the rest left alone", {
    timeout: 30_000,
    ...skipIf(skip),
  }, async () => {
    const ns = createNetns("felixts-adopt");
    try {
      const run = await runInNetns(ns, join(here, "adopt-child.js"), "adopt");
      assert.equal(run.code, 0, run.stderr);
      // biome-ignore lint/suspicious/noExplicitAny: JSON from the child
      const o = run.result as any;
      assert.ok(o, `no RESULT line\n${run.stdout}\n${run.stderr}`);
      assert.ok(o.before.includes("10.65.0.5 dev cali1 scope link"), o.before.join("\n"));
      assert.deepEqual(o.r1.adopted, ["10.65.0.5/32", "10.65.0.6/32"]);
      assert.deepEqual(
        o.r1.failed.map((f: { dst: string; code: string }) => [f.dst, f.code]),
        [["10.65.0.8/32", "EEXIST"]],
        "a boot route on a non-workload device is not ours",
      );
      assert.deepEqual(o.ours, ["10.65.0.5 dev cali2 scope link", "10.65.0.6 dev cali2 scope link"]);
      assert.ok(o.after.includes("10.65.0.7 dev cali1 scope link"), "the route of a pod we do not know stays");
      assert.ok(o.after.includes("10.65.0.8 dev eth9 scope link"), "the foreign route stays");
      assert.deepEqual([o.r2.adopted, o.r2.added, o.r2.replaced, o.r2.unchanged], [[], [], [], 2]);
      assert.deepEqual(o.r3.removed, ["10.65.0.5/32"]);
      assert.ok(!o.end.some((l: string) => l.startsWith("10.65.0.5 ")), o.end.join("\n"));
    } finally {
      deleteNetns(ns);
    }
  });
});
