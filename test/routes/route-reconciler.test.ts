// RouteReconciler against the in-memory kernel (diff logic, pending devices,
// foreign routes) and, as root, against the real kernel in a throwaway netns.

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { FakeNetlinkRoutes } from "../../routes/fake-netlink-routes.js";
import { type KernelRoute, MAIN_TABLE } from "../../routes/netlink-routes.js";
import type { Route } from "../../routes/route.js";
import { RouteReconciler } from "../../routes/route-reconciler.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, currentNetnsId, deleteNetns, netnsExists, netnsSkipReason, runInNetns } from "./netns.js";

const workload = (dst: string, dev: string): Route => ({
  dst,
  kind: "local-workload",
  type: "unicast",
  dev,
  scope: "link",
});
const blackhole = (dst: string): Route => ({ dst, kind: "local-block", type: "blackhole", scope: "universe" });
const via = (dst: string, gateway: string): Route => ({
  dst,
  kind: "remote-block",
  type: "unicast",
  gateway,
  scope: "universe",
});
const byDst = (...rs: Route[]) => Object.fromEntries(rs.map((r) => [r.dst, r]));

/** A kernel with lo, cali1, cali2 (up) and eth0 carrying 10.99.0.1/24. */
function kernel(): FakeNetlinkRoutes {
  const k = new FakeNetlinkRoutes();
  k.addLink("cali1");
  k.addLink("cali2");
  k.addLink("eth0");
  k.addAddress("eth0", "10.99.0.1/24");
  return k;
}

const ours = async (k: FakeNetlinkRoutes) =>
  (await k.list()).map((r) => [r.dst, r.type, r.dev ?? "-", r.gateway ?? "-", r.scope].join(" ")).sort();

describe("route reconciler (fake kernel)", () => {
  test("adds missing routes: scope-link workload, blackhole, via gateway (kernel picks the device)", async () => {
    const k = kernel();
    const rec = new RouteReconciler(k);
    rec.setDesired(
      byDst(workload("10.65.0.5/32", "cali1"), blackhole("10.65.1.0/24"), via("10.70.0.0/24", "10.99.0.2")),
    );
    const r = await rec.apply();
    assert.deepEqual(r.added, ["10.65.0.5/32", "10.65.1.0/24", "10.70.0.0/24"]);
    assert.deepEqual([r.replaced, r.removed, r.pending, r.failed], [[], [], [], []]);
    assert.deepEqual(await ours(k), [
      "10.65.0.5/32 unicast cali1 - link",
      "10.65.1.0/24 blackhole - - universe",
      "10.70.0.0/24 unicast eth0 10.99.0.2 universe",
    ]);
  });

  test("a second apply changes nothing", async () => {
    const k = kernel();
    const rec = new RouteReconciler(k);
    rec.setDesired(
      byDst(workload("10.65.0.5/32", "cali1"), blackhole("10.65.1.0/24"), via("10.70.0.0/24", "10.99.0.2")),
    );
    await rec.apply();
    const before = k.ops.length;
    const r = await rec.apply();
    assert.equal(k.ops.length, before);
    assert.equal(r.unchanged, 3);
    assert.deepEqual([r.added, r.replaced, r.removed], [[], [], []]);
  });

  test("replaces our routes whose dev, gateway, type or scope changed, and nothing else", async () => {
    const k = kernel();
    k.addAddress("eth0", "10.98.0.1/24");
    const rec = new RouteReconciler(k);
    const a = workload("10.65.0.5/32", "cali1");
    const b = via("10.70.0.0/24", "10.99.0.2");
    const c = blackhole("10.65.1.0/24");
    const d = workload("10.65.0.7/32", "cali1");
    const e = workload("10.65.0.8/32", "cali1");
    rec.setDesired(byDst(a, b, c, d, e));
    await rec.apply();
    k.ops.length = 0;
    rec.setDesired(
      byDst(
        { ...a, dev: "cali2" },
        { ...b, gateway: "10.98.0.2" },
        workload(c.dst, "cali2"),
        { ...d, scope: "universe" },
        e,
      ),
    );
    const r = await rec.apply();
    assert.deepEqual(r.replaced, ["10.65.0.5/32", "10.65.0.7/32", "10.65.1.0/24", "10.70.0.0/24"]);
    assert.equal(r.unchanged, 1);
    assert.deepEqual(k.ops.sort(), [
      "replace 10.65.0.5/32",
      "replace 10.65.0.7/32",
      "replace 10.65.1.0/24",
      "replace 10.70.0.0/24",
    ]);
    assert.deepEqual(await ours(k), [
      "10.65.0.5/32 unicast cali2 - link",
      "10.65.0.7/32 unicast cali1 - universe",
      "10.65.0.8/32 unicast cali1 - link",
      "10.65.1.0/24 unicast cali2 - link",
      "10.70.0.0/24 unicast eth0 10.98.0.2 universe",
    ]);
  });

  test("deletes our routes that are no longer desired; other protocols and tables are untouched", async () => {
    const k = kernel();
    k.injectRoute({ dst: "10.82.0.0/24", gateway: "10.99.0.3", dev: "eth0", protocol: 4 }); // static
    k.injectRoute({ dst: "10.83.0.0/24", type: "blackhole", protocol: 12 }); // bird
    k.injectRoute({ dst: "10.84.0.0/24", type: "blackhole", protocol: 80, table: 100 }); // ours, other table
    k.injectRoute({ dst: "10.85.0.0/24", type: "blackhole", protocol: 80 }); // stray of ours
    const foreign = k.allRoutes().filter((r) => r.protocol !== 80 || r.table !== MAIN_TABLE);
    const rec = new RouteReconciler(k);
    rec.setDesired(byDst(workload("10.65.0.5/32", "cali1"), blackhole("10.65.1.0/24")));
    await rec.apply();
    rec.setDesired(byDst(workload("10.65.0.5/32", "cali1")));
    const r = await rec.apply();
    assert.deepEqual(r.removed, ["10.65.1.0/24"]);
    assert.deepEqual(await ours(k), ["10.65.0.5/32 unicast cali1 - link"]);
    const after = k.allRoutes().filter((x) => x.protocol !== 80 || x.table !== MAIN_TABLE);
    assert.deepEqual(after, foreign);
    assert.ok(!k.ops.some((o) => /10\.8[234]\./.test(o)), k.ops.join(", "));
    assert.ok(k.ops.includes("delete 10.85.0.0/24"));
  });

  test("a foreign route owning a desired dst is reported (EEXIST), never replaced", async () => {
    const k = kernel();
    k.injectRoute({ dst: "10.80.0.0/24", gateway: "10.99.0.3", dev: "eth0", protocol: 4 });
    const before = k.allRoutes();
    const rec = new RouteReconciler(k);
    rec.setDesired(byDst(blackhole("10.80.0.0/24"), blackhole("10.65.1.0/24")));
    const r = await rec.apply();
    assert.deepEqual(r.added, ["10.65.1.0/24"]);
    assert.equal(r.failed.length, 1);
    assert.equal(r.failed[0].dst, "10.80.0.0/24");
    assert.equal(r.failed[0].code, "EEXIST");
    assert.deepEqual(
      k.allRoutes().find((x) => x.dst === "10.80.0.0/24"),
      before.find((x) => x.dst === "10.80.0.0/24"),
    );
    assert.ok(!k.ops.includes("replace 10.80.0.0/24"));
  });

  test("a route whose device does not exist is pending, and is added once the link appears", async () => {
    const k = kernel();
    const rec = new RouteReconciler(k);
    rec.setDesired(byDst(workload("10.65.0.5/32", "cali1"), workload("10.65.0.6/32", "cali9")));
    const r1 = await rec.apply();
    assert.deepEqual(r1.added, ["10.65.0.5/32"]);
    assert.deepEqual(r1.failed, []);
    assert.deepEqual(r1.pending, [{ dst: "10.65.0.6/32", dev: "cali9", gateway: undefined, reason: "device-missing" }]);
    assert.deepEqual(
      rec.pending.map((p) => p.dst),
      ["10.65.0.6/32"],
    );
    // Unrelated links do not trigger a resync.
    k.addLink("other");
    assert.equal(await rec.onLinkAdded("other"), undefined);
    k.addLink("cali9");
    const r2 = await rec.onLinkAdded("cali9");
    assert.deepEqual(r2?.added, ["10.65.0.6/32"]);
    assert.deepEqual(r2?.pending, []);
    assert.deepEqual(rec.pending, []);
  });

  test("a down device is pending until onLinkUp; going down drops routes and up restores them", async () => {
    const k = kernel();
    k.addLink("cali9", { up: false });
    const rec = new RouteReconciler(k);
    rec.setDesired(byDst(workload("10.65.0.6/32", "cali9")));
    const r1 = await rec.apply();
    assert.deepEqual(
      r1.pending.map((p) => p.reason),
      ["device-down"],
    );
    k.setLinkUp("cali9", true);
    assert.deepEqual((await rec.onLinkUp("cali9"))?.added, ["10.65.0.6/32"]);
    k.setLinkUp("cali9", false); // the kernel flushes the device's routes
    assert.deepEqual(await ours(k), []);
    k.setLinkUp("cali9", true);
    assert.deepEqual((await rec.onLinkUp("cali9"))?.added, ["10.65.0.6/32"]);
  });

  test("an unreachable gateway is pending and retried when a link comes up", async () => {
    const k = new FakeNetlinkRoutes();
    k.addLink("eth1", { up: false });
    k.addAddress("eth1", "10.97.0.1/24");
    const rec = new RouteReconciler(k);
    rec.setDesired(byDst(via("10.71.0.0/24", "10.97.0.2")));
    const r1 = await rec.apply();
    assert.deepEqual(r1.pending, [
      { dst: "10.71.0.0/24", dev: undefined, gateway: "10.97.0.2", reason: "gateway-unreachable" },
    ]);
    k.setLinkUp("eth1", true);
    const r2 = await rec.onLinkUp("eth1");
    assert.deepEqual(r2?.added, ["10.71.0.0/24"]);
    assert.deepEqual(await ours(k), ["10.71.0.0/24 unicast eth1 10.97.0.2 universe"]);
  });

  test("moving a route to a device that does not exist yet removes the stale route", async () => {
    const k = kernel();
    const rec = new RouteReconciler(k);
    rec.setDesired(byDst(workload("10.65.0.5/32", "cali1")));
    await rec.apply();
    rec.setDesired(byDst(workload("10.65.0.5/32", "cali9")));
    const r = await rec.apply();
    assert.deepEqual(r.removed, ["10.65.0.5/32"]);
    assert.deepEqual(
      r.pending.map((p) => [p.dst, p.reason]),
      [["10.65.0.5/32", "device-missing"]],
    );
    assert.deepEqual(await ours(k), []);
  });

  test("other errors are per-route failures; the rest still converges", async () => {
    const k = kernel();
    const rec = new RouteReconciler(k);
    k.failNext("10.65.0.5/32", "EPERM");
    rec.setDesired(byDst(workload("10.65.0.5/32", "cali1"), workload("10.65.0.6/32", "cali1"), blackhole("not-an-ip")));
    const r = await rec.apply();
    assert.deepEqual(r.added, ["10.65.0.6/32"]);
    assert.deepEqual(
      r.failed.map((f) => [f.dst, f.code]),
      [
        ["10.65.0.5/32", "EPERM"],
        ["not-an-ip", "EINVAL"],
      ],
    );
    assert.deepEqual((await rec.apply()).added, ["10.65.0.5/32"]);
  });

  test("a route that vanished before our delete (ESRCH) is not a failure", async () => {
    const k = kernel();
    const rec = new RouteReconciler(k);
    rec.setDesired(byDst(blackhole("10.65.1.0/24")));
    await rec.apply();
    rec.setDesired({});
    k.failNext("10.65.1.0/24", "ESRCH");
    const r = await rec.apply();
    assert.deepEqual(r.failed, []);
  });

  test("dst keys are canonical (host bits, IPv6 spelling); IPv6 ignores scope", async () => {
    const k = kernel();
    const rec = new RouteReconciler(k);
    rec.setDesired({ a: blackhole("10.65.1.7/24"), b: workload("fd00:0:0:65:0::5/128", "cali1") });
    const r1 = await rec.apply();
    assert.deepEqual(r1.added, ["10.65.1.0/24", "fd00:0:0:65::5/128"]);
    assert.deepEqual((await k.list()).map((x) => x.scope).sort(), ["universe", "universe"]);
    const r2 = await rec.apply();
    assert.equal(r2.unchanged, 2);
  });

  test("concurrent applies are coalesced into one follow-up run", async () => {
    const k = kernel();
    const rec = new RouteReconciler(k);
    rec.setDesired(byDst(blackhole("10.65.1.0/24")));
    const [a, b, c] = [rec.apply(), rec.apply(), rec.apply()];
    assert.equal(b, c);
    const [ra, rb] = await Promise.all([a, b]);
    assert.deepEqual(ra.added, ["10.65.1.0/24"]);
    assert.equal(rb.unchanged, 1);
    assert.equal(k.ops.length, 1);
  });

  test("property: apply converges from any kernel state, keeps foreign routes, and is then a no-op", async () => {
    const dsts = ["10.65.0.1/32", "10.65.0.2/32", "10.65.0.3/32", "10.65.1.0/24", "10.70.0.0/24", "fd00::1/128"];
    const routeArb = (dst: string) =>
      fc.oneof(
        fc.constantFrom("cali1", "cali2", "caliX").map((dev) => workload(dst, dev)),
        fc.constant(blackhole(dst)),
        ...(dst.includes(":") ? [] : [fc.constantFrom("10.99.0.2", "10.99.0.3").map((g) => via(dst, g))]),
      );
    const stateArb = fc.record({
      desired: fc.subarray(dsts).chain((ds) => fc.tuple(...ds.map(routeArb))),
      initial: fc.subarray(dsts).chain((ds) => fc.tuple(...ds.map(routeArb))),
      foreign: fc.subarray(["10.65.0.3/32", "10.80.0.0/24"]),
    });
    await fc.assert(
      fc.asyncProperty(stateArb, async ({ desired, initial, foreign }) => {
        const k = kernel();
        for (const f of foreign) k.injectRoute({ dst: f, type: "blackhole", protocol: 4 });
        for (const r of initial) {
          if (foreign.includes(r.dst)) continue;
          await k.add(r).catch(() => undefined); // caliX does not exist
        }
        const foreignBefore = k.allRoutes().filter((r) => r.protocol !== 80);
        const rec = new RouteReconciler(k);
        rec.setDesired(byDst(...desired));
        const res = await rec.apply();
        const want = desired.filter((r) => r.dev !== "caliX" && !foreign.includes(r.dst));
        const got = new Map((await k.list()).map((r): [string, KernelRoute] => [r.dst, r]));
        assert.deepEqual([...got.keys()].sort(), want.map((r) => r.dst).sort());
        for (const r of want) {
          const g = got.get(r.dst)!;
          assert.equal(g.type, r.type);
          if (r.dev) assert.equal(g.dev, r.dev);
          assert.equal(g.gateway, r.gateway);
        }
        assert.deepEqual(
          k.allRoutes().filter((r) => r.protocol !== 80),
          foreignBefore,
        );
        // Like the kernel, a missing device is found before a conflicting dst.
        const dstsOf = (rs: { dst: string }[]) => rs.map((r) => r.dst).sort();
        assert.deepEqual(dstsOf(res.pending), dstsOf(desired.filter((r) => r.dev === "caliX")));
        assert.deepEqual(
          dstsOf(res.failed),
          dstsOf(desired.filter((r) => r.dev !== "caliX" && foreign.includes(r.dst))),
        );
        const ops = k.ops.length;
        await rec.apply();
        // Only retries of pending/conflicting adds happen the second time.
        assert.equal(k.ops.length - ops, res.pending.length + res.failed.length);
      }),
      { numRuns: 200 },
    );
  });
});

const here = dirname(fileURLToPath(import.meta.url));
const skip = netnsSkipReason();

describe("route reconciler (real kernel, throwaway netns)", () => {
  test("routes, foreign routes, pending device, link monitor, teardown", {
    timeout: 60_000,
    ...skipIf(skip),
  }, async (t) => {
    const ns = createNetns("felixts-rt");
    try {
      const run = await runInNetns(ns, join(here, "netns-child.js"), "routes");
      assert.equal(run.timedOut, false, `child did not exit (sockets left open?)\n${run.stderr}`);
      assert.equal(run.code, 0, run.stderr);
      // biome-ignore lint/suspicious/noExplicitAny: JSON from the child
      const o = run.result as any;
      assert.ok(o, `no RESULT line\n${run.stdout}\n${run.stderr}`);
      assert.notEqual(o.netns, currentNetnsId(), "child must run in its own namespace");

      // First apply: three kinds of route, one pending, one conflict.
      assert.deepEqual(o.r1.added, ["10.65.0.5/32", "10.65.1.0/24", "10.70.0.0/24", "fd00:65::5/128"]);
      assert.deepEqual(o.r1.pending, [{ dst: "10.65.0.6/32", dev: "cali2", reason: "device-missing" }]);
      assert.deepEqual(
        o.r1.failed.map((f: { dst: string; code: string }) => [f.dst, f.code]),
        [["10.80.0.0/24", "EEXIST"]],
      );
      assert.deepEqual(
        o.s1.v4.map((l: string) => l.trim()),
        ["10.65.0.5 dev cali1 scope link", "blackhole 10.65.1.0/24", "10.70.0.0/24 via 10.99.0.2 dev up0"],
      );
      assert.match(o.s1.v6.join("\n"), /^fd00:65::5 dev cali1 /m);
      assert.ok(o.s1.all.some((l: string) => l.startsWith("10.80.0.0/24 via 10.99.0.3 dev up0 proto static")));
      // Idempotent.
      assert.deepEqual([o.r2.added, o.r2.replaced, o.r2.removed, o.r2.unchanged], [[], [], [], 4]);
      // Stray proto-80 route deleted, foreign proto-99 route kept.
      assert.deepEqual(o.r3.removed, ["10.83.0.0/24"]);
      assert.ok(
        o.s3.all.some((l: string) => l.startsWith("10.82.0.0/24 via 10.99.0.3")),
        o.s3.all.join("\n"),
      );
      assert.ok(!o.s3.all.some((l: string) => l.startsWith("10.83.0.0/24")));
      // Link monitor: the veth's "added" and "up" events arrived (the child waits for them, a
      // hang guard, not a speed claim); the pending route followed.
      assert.equal(o.sawAdded, true);
      assert.equal(o.sawUp, true);
      const added4 = o.r4.flatMap((r: { added: string[] }) => r.added);
      assert.deepEqual(added4, ["10.65.0.6/32"]);
      assert.ok(
        o.s4.v4.some((l: string) => l.startsWith("10.65.0.6 dev cali2 scope link")),
        o.s4.v4.join("\n"),
      );
      // Desired change: replace + delete.
      assert.deepEqual([o.r5.replaced, o.r5.removed], [["10.65.0.5/32"], ["10.65.1.0/24"]]);
      assert.ok(o.s5.v4.some((l: string) => l.startsWith("10.65.0.5 dev cali2 scope link")));
      assert.ok(!o.s5.v4.some((l: string) => l.includes("10.65.1.0/24")));
      // Down drops the routes (kernel), up restores them (onLinkUp).
      assert.equal(o.sawDown, true);
      assert.ok(!o.s6a.v4.some((l: string) => l.includes("cali2")));
      assert.equal(o.sawUp2, true);
      assert.deepEqual(o.r6.flatMap((r: { added: string[] }) => r.added).sort(), ["10.65.0.5/32", "10.65.0.6/32"]);
      assert.ok(o.s6b.v4.some((l: string) => l.startsWith("10.65.0.5 dev cali2")));
      assert.equal(o.sawRemoved, true);
      // Scale.
      assert.equal(o.bulk.added, o.bulk.n);
      assert.equal(o.bulk.removed, o.bulk.n);
      assert.equal(o.bulk.failed, 0);
      assert.ok(o.s3.all.length > 0);
      const kinds = o.events.map((e: { event: string; name: string }) => `${e.event} ${e.name}`);
      for (const want of ["added cali2", "changed cali2", "removed cali1"])
        assert.ok(kinds.includes(want), kinds.join(", "));
      t.diagnostic(
        `child ${Math.round(run.ms)} ms; link events ${o.linkEventsMs} ms; bulk ${o.bulk.n}: add ${o.bulk.addMs} ms, no-op ${o.bulk.noopMs} ms, delete ${o.bulk.deleteMs} ms`,
      );
    } finally {
      deleteNetns(ns);
      assert.equal(netnsExists(ns), false);
    }
  });
});
