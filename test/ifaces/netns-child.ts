// Child process for the real-kernel sysctl test: runs inside a throwaway
// namespace, drives ProcSysctls + SysctlReconciler, and prints `RESULT {json}`.
// Does nothing unless FELIX_NETNS_CHILD=sysctls (the test runner also loads
// every file under test/ as a test file).

import { readFileSync } from "node:fs";
import { ProcSysctls, SysctlReconciler } from "../../ifaces/sysctl-writer.js";
import { globalSysctls, interfaceSysctls } from "../../ifaces/sysctls.js";
import { currentNetns } from "../../routes/netlink-routes.js";
import { sh } from "../routes/netns.js";

const ip = (...args: string[]) => sh("ip", args);
/** Read back independently of the code under test. */
const readAll = (paths: string[]) =>
  Object.fromEntries(
    paths.map((p) => {
      try {
        return [p, readFileSync(`/proc/sys/${p}`, "utf8").trim()];
      } catch (e) {
        return [p, (e as NodeJS.ErrnoException).code];
      }
    }),
  );
const brief = <T extends { durationMs: number }>(r: T) => ({ ...r, durationMs: Math.round(r.durationMs * 10) / 10 });

async function main(): Promise<void> {
  const out: Record<string, unknown> = { netns: currentNetns() };
  ip("link", "add", "wl1", "type", "veth", "peer", "name", "wl1p");
  const opts = { ipv4: true, ipv6: true, rpFilter: "1" };
  const desired = {
    ...globalSysctls({ ipv6: true }),
    ...interfaceSysctls("wl1", opts),
    ...interfaceSysctls("wl2", opts),
  };
  const paths = Object.keys(desired);
  out.paths = paths;
  out.before = readAll(paths);

  const rec = new SysctlReconciler(new ProcSysctls());
  rec.setDesired(desired);
  out.r1 = brief(await rec.apply());
  out.after1 = readAll(paths);
  out.r2 = brief(await rec.apply());

  // Drift: someone resets one value.
  sh("sh", ["-c", "echo 0 > /proc/sys/net/ipv4/conf/wl1/proxy_arp"]);
  out.r3 = brief(await rec.apply());

  // The missing interface appears.
  ip("link", "add", "wl2", "type", "veth", "peer", "name", "wl2p");
  out.r4 = brief(await rec.onLinkAdded("wl2"));
  out.after4 = readAll(paths);
  out.missingAfter4 = rec.missing;

  // And goes away again.
  ip("link", "del", "wl2");
  out.r5 = brief(await rec.apply());

  // Scale: 200 veths x 7 paths.
  const N = Number(process.env.FELIX_SYSCTL_IFACES ?? 200);
  const batch = Array.from({ length: N }, (_, i) => `link add s${i} type veth peer name s${i}p`).join("\n");
  sh("sh", ["-c", `printf '%s\\n' "${batch}" | ip -batch -`]);
  const many: Record<string, string> = {};
  for (let i = 0; i < N; i++) Object.assign(many, interfaceSysctls(`s${i}`, opts));
  rec.setDesired(many);
  const b1 = await rec.apply();
  const b2 = await rec.apply();
  out.bulk = {
    ifaces: N,
    paths: Object.keys(many).length,
    firstMs: Math.round(b1.durationMs),
    written: b1.written,
    noopMs: Math.round(b2.durationMs),
    unchanged: b2.unchanged,
    failed: b1.failed.length + b1.missing.length + b2.failed.length + b2.missing.length,
  };
  process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
}

if (process.env.FELIX_NETNS_CHILD === "sysctls") {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
