// Child process for the real-kernel route test. Runs inside a throwaway
// namespace (`ip netns exec`), drives KernelNetlinkRoutes + RouteReconciler +
// NetlinkLinkMonitor, and prints `RESULT {json}` for the parent to assert on.
// Does nothing unless FELIX_NETNS_CHILD=routes (the test runner also loads
// every file under test/ as a test file).

import { type LinkEvent, NetlinkLinkMonitor } from "../../ifaces/link-monitor.js";
import { currentNetns, KernelNetlinkRoutes } from "../../routes/netlink-routes.js";
import type { Route } from "../../routes/route.js";
import { type RouteApplyResult, RouteReconciler } from "../../routes/route-reconciler.js";
import { sh } from "./netns.js";

const ip = (...args: string[]) => sh("ip", args);
const snapshot = () => ({
  v4: ip("route", "show", "proto", "80").trim().split("\n").filter(Boolean),
  v6: ip("-6", "route", "show", "proto", "80").trim().split("\n").filter(Boolean),
  all: ip("route", "show").trim().split("\n").filter(Boolean),
});
const brief = (r: RouteApplyResult | undefined) => r && { ...r, durationMs: Math.round(r.durationMs * 10) / 10 };

async function main(): Promise<void> {
  const out: Record<string, unknown> = { netns: currentNetns(), pid: process.pid };
  ip("link", "set", "lo", "up");
  // The "uplink": a connected /24 through which the remote block's gateway is reached.
  ip("link", "add", "up0", "type", "veth", "peer", "name", "up0p");
  ip("addr", "add", "10.99.0.1/24", "dev", "up0");
  ip("link", "set", "up0", "up");
  ip("link", "set", "up0p", "up");
  ip("link", "add", "cali1", "type", "veth", "peer", "name", "cali1p");
  ip("link", "set", "cali1", "up");
  ip("link", "set", "cali1p", "up");
  // A foreign route owning a dst we will (wrongly) desire.
  ip("route", "add", "10.80.0.0/24", "via", "10.99.0.3", "proto", "static");

  const monitor = new NetlinkLinkMonitor();
  const events: (LinkEvent & { t: number })[] = [];
  let t0 = performance.now();
  const t = () => Math.round((performance.now() - t0) * 10) / 10;
  const tStart = performance.now();
  out.initialLinks = await monitor.start();
  out.monitorStartMs = Math.round((performance.now() - tStart) * 10) / 10;

  const nl = new KernelNetlinkRoutes();
  const rec = new RouteReconciler(nl);
  const linkResults: Promise<RouteApplyResult | undefined>[] = [];
  const waiters: { pred: (e: LinkEvent) => boolean; resolve: () => void }[] = [];
  monitor.events.subscribe((e) => {
    events.push({ ...e, t: t() });
    if (e.event === "added") linkResults.push(rec.onLinkAdded(e.name));
    if (e.event !== "removed" && e.up) linkResults.push(rec.onLinkUp(e.name));
    for (const w of [...waiters]) {
      if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  // The deadline only keeps a missing event from hanging the child; the test asserts the event came.
  const waitFor = (pred: (e: LinkEvent) => boolean, ms = 10_000) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      waiters.push({
        pred,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      });
    });
  const settle = async () => {
    const rs = await Promise.all(linkResults.splice(0));
    return rs.filter(Boolean).map(brief);
  };

  const desired: Record<string, Route> = {
    w1: { dst: "10.65.0.5/32", kind: "local-workload", type: "unicast", dev: "cali1", scope: "link" },
    w2: { dst: "10.65.0.6/32", kind: "local-workload", type: "unicast", dev: "cali2", scope: "link" },
    w6: { dst: "fd00:65::5/128", kind: "local-workload", type: "unicast", dev: "cali1", scope: "link" },
    lb: { dst: "10.65.1.0/24", kind: "local-block", type: "blackhole", scope: "universe" },
    rb: { dst: "10.70.0.0/24", kind: "remote-block", type: "unicast", gateway: "10.99.0.2", scope: "universe" },
    conflict: { dst: "10.80.0.0/24", kind: "local-block", type: "blackhole", scope: "universe" },
  };
  rec.setDesired(desired);
  out.r1 = brief(await rec.apply());
  out.s1 = snapshot();
  out.r2 = brief(await rec.apply());

  // Foreign route (another proto) and a stray proto-80 route nobody wants.
  ip("route", "add", "10.82.0.0/24", "via", "10.99.0.3", "proto", "99");
  ip("route", "add", "10.83.0.0/24", "via", "10.99.0.3", "proto", "80");
  out.r3 = brief(await rec.apply());
  out.s3 = snapshot();

  // A workload interface appears and comes up: the monitor tells, the pending route follows.
  t0 = performance.now();
  const sawAdded = waitFor((e) => e.event === "added" && e.name === "cali2");
  const sawUp = waitFor((e) => e.event !== "removed" && e.name === "cali2" && e.up);
  ip("link", "add", "cali2", "type", "veth", "peer", "name", "cali2p");
  ip("link", "set", "cali2", "up");
  out.ipCommandsMs = t();
  out.sawAdded = await sawAdded;
  out.sawUp = await sawUp;
  out.linkEventsMs = t();
  out.r4 = await settle();
  out.s4 = snapshot();

  // Desired change: the blackhole goes, the workload moves to cali2.
  const { lb: _lb, ...withoutLb } = desired;
  rec.setDesired({ ...withoutLb, w1: { ...desired.w1, dev: "cali2" } });
  out.r5 = brief(await rec.apply());
  out.s5 = snapshot();

  // Down takes the kernel's routes on cali2 away; up brings ours back via onLinkUp.
  const sawDown = waitFor((e) => e.event === "changed" && e.name === "cali2" && !e.up);
  ip("link", "set", "cali2", "down");
  out.sawDown = await sawDown;
  out.s6a = snapshot();
  await settle();
  t0 = performance.now();
  const sawUp2 = waitFor((e) => e.event === "changed" && e.name === "cali2" && e.up);
  ip("link", "set", "cali2", "up");
  out.sawUp2 = await sawUp2;
  out.r6 = await settle();
  out.reUpMs = t();
  out.s6b = snapshot();

  // Removal of a veth (its peer goes with it).
  const sawRemoved = waitFor((e) => e.event === "removed" && e.name === "cali1");
  ip("link", "del", "cali1");
  out.sawRemoved = await sawRemoved;
  await settle();

  // Scale: N more /32 workload routes on cali2.
  const N = Number(process.env.FELIX_ROUTES_N ?? 2000);
  const bulk: Record<string, Route> = {};
  for (let i = 0; i < N; i++) {
    const dst = `10.66.${i >> 8}.${i & 255}/32`;
    bulk[dst] = { dst, kind: "local-workload", type: "unicast", dev: "cali2", scope: "link" };
  }
  const base = Object.fromEntries(Object.entries(desired).filter(([k]) => k !== "lb" && k !== "w1" && k !== "w6"));
  rec.setDesired({ ...base, ...bulk });
  const b1 = await rec.apply();
  const b2 = await rec.apply();
  rec.setDesired(base);
  const b3 = await rec.apply();
  out.bulk = {
    n: N,
    addMs: Math.round(b1.durationMs),
    added: b1.added.length,
    noopMs: Math.round(b2.durationMs),
    noopUnchanged: b2.unchanged,
    deleteMs: Math.round(b3.durationMs),
    removed: b3.removed.length,
    // Apart from the deliberate 10.80.0.0/24 conflict.
    failed: [...b1.failed, ...b2.failed, ...b3.failed].filter((f) => f.dst !== "10.80.0.0/24").length,
  };
  out.sFinal = snapshot();

  out.events = events;
  monitor.stop();
  nl.close();
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
  // No process.exit(): the parent checks the process ends once the sockets are closed.
}

if (process.env.FELIX_NETNS_CHILD === "routes") {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
