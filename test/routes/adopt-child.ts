// Child process for the real-kernel route-adoption test: inside a throwaway
// namespace, routes as Calico's CNI plugin leaves them (no protocol: boot),
// then one RouteReconciler apply. Prints `RESULT {json}`. Does nothing unless
// FELIX_NETNS_CHILD=adopt (the test runner loads every file under test/).

import { KernelNetlinkRoutes } from "../../routes/netlink-routes.js";
import type { Route } from "../../routes/route.js";
import { RouteReconciler } from "../../routes/route-reconciler.js";
import { sh } from "./netns.js";

const ip = (...args: string[]) => sh("ip", args);
const show = (...args: string[]) =>
  ip("route", "show", ...args)
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
const workload = (dst: string, dev: string): Route => ({
  dst,
  kind: "local-workload",
  type: "unicast",
  dev,
  scope: "link",
});

async function main(): Promise<void> {
  ip("link", "set", "lo", "up");
  for (const dev of ["cali1", "cali2", "eth9"]) {
    ip("link", "add", dev, "type", "veth", "peer", "name", `${dev}p`);
    ip("link", "set", dev, "up");
    ip("link", "set", `${dev}p`, "up");
  }
  // As CNI leaves them: the address's pod now sits behind cali2 (a stale route), one correct route,
  // one route CNI made for a pod we do not know yet, and a boot-protocol route on a non-workload device.
  ip("route", "add", "10.65.0.5", "dev", "cali1", "scope", "link");
  ip("route", "add", "10.65.0.6", "dev", "cali2", "scope", "link");
  ip("route", "add", "10.65.0.7", "dev", "cali1", "scope", "link");
  ip("route", "add", "10.65.0.8", "dev", "eth9", "scope", "link");
  const before = show();
  const nl = new KernelNetlinkRoutes();
  const rec = new RouteReconciler(nl, { workloadPrefixes: ["cali"] });
  rec.setDesired({
    a: workload("10.65.0.5/32", "cali2"),
    b: workload("10.65.0.6/32", "cali2"),
    c: workload("10.65.0.8/32", "cali1"),
  });
  const r1 = await rec.apply();
  const after = show();
  const ours = show("proto", "80");
  const r2 = await rec.apply();
  // Our adopted route is ours now: no longer desired, it is deleted.
  rec.setDesired({ b: workload("10.65.0.6/32", "cali2") });
  const r3 = await rec.apply();
  const end = show();
  nl.close();
  const brief = (r: typeof r1) => ({ ...r, durationMs: 0 });
  process.stdout.write(
    `RESULT ${JSON.stringify({ before, after, ours, end, r1: brief(r1), r2: brief(r2), r3: brief(r3) })}\n`,
  );
}

if (process.env.FELIX_NETNS_CHILD === "adopt") {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
