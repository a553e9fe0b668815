// SysctlReconciler against the in-memory procfs and, as root, against the
// real /proc/sys of a throwaway netns.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  FakeSysctls,
  interfaceOfSysctl,
  isMissing,
  ProcSysctls,
  SysctlReconciler,
} from "../../ifaces/sysctl-writer.js";
import { globalSysctls, interfaceSysctls } from "../../ifaces/sysctls.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, currentNetnsId, deleteNetns, netnsExists, netnsSkipReason, runInNetns } from "../routes/netns.js";

const opts = { ipv4: true, ipv6: true, rpFilter: "1" };

describe("sysctl writer and reconciler (fake procfs)", () => {
  test("writes only values that differ from what it reads", async () => {
    const fs = new FakeSysctls();
    fs.addInterface("cali1", { "net/ipv4/conf/cali1/rp_filter": "1" });
    const rec = new SysctlReconciler(fs);
    rec.setDesired({ ...globalSysctls({ ipv6: true }), ...interfaceSysctls("cali1", opts) });
    const r1 = await rec.apply();
    assert.equal(r1.written, 9);
    assert.equal(r1.unchanged, 1); // rp_filter was already 1
    assert.deepEqual([r1.missing, r1.failed], [[], []]);
    assert.ok(!fs.writes.some((w) => w.startsWith("net/ipv4/conf/cali1/rp_filter")));
    assert.equal(fs.values.get("net/ipv4/conf/cali1/proxy_arp"), "1");
    const n = fs.writes.length;
    const r2 = await rec.apply();
    assert.deepEqual([r2.written, r2.unchanged], [0, 10]);
    assert.equal(fs.writes.length, n);
  });

  test("whitespace differences are not differences", async () => {
    const fs = new FakeSysctls({ "net/ipv4/ip_local_port_range": "32768\t60999" });
    const rec = new SysctlReconciler(fs);
    rec.setDesired({ "net/ipv4/ip_local_port_range": "32768 60999" });
    assert.equal((await rec.apply()).written, 0);
  });

  test("missing interface paths are ENOENT, reported per path, and retried by onLinkAdded", async () => {
    const fs = new FakeSysctls();
    const rec = new SysctlReconciler(fs);
    rec.setDesired({ ...globalSysctls({ ipv6: false }), ...interfaceSysctls("cali2", opts) });
    const r1 = await rec.apply();
    assert.equal(r1.written, 1); // ip_forward
    assert.equal(r1.missing.length, 8);
    assert.ok(r1.missing.every((m) => m.code === "ENOENT" && m.iface === "cali2"));
    assert.deepEqual(r1.failed, []);
    assert.equal(rec.missing.length, 8);
    fs.addInterface("other");
    assert.deepEqual((await rec.onLinkAdded("other")).written, 0);
    fs.addInterface("cali2");
    const r2 = await rec.onLinkAdded("cali2");
    assert.equal(r2.written + r2.unchanged, 8);
    assert.deepEqual(r2.missing, []);
    assert.deepEqual(rec.missing, []);
    // onLinkAdded touches only that interface's paths.
    assert.ok(fs.reads.slice(-8).every((p) => interfaceOfSysctl(p) === "cali2"));
  });

  test("IPv6 disabled: the IPv6 paths are missing, the IPv4 ones are written", async () => {
    const fs = new FakeSysctls({ "net/ipv4/ip_forward": "0" });
    fs.ipv6 = false;
    fs.addInterface("cali3");
    const rec = new SysctlReconciler(fs);
    rec.setDesired({ ...globalSysctls({ ipv6: true }), ...interfaceSysctls("cali3", opts) });
    const r = await rec.apply();
    assert.equal(r.written, 6);
    assert.deepEqual(
      r.missing.map((m) => m.path),
      [
        "net/ipv6/conf/all/forwarding",
        "net/ipv6/conf/cali3/accept_ra",
        "net/ipv6/conf/cali3/forwarding",
        "net/ipv6/conf/cali3/proxy_ndp",
      ],
    );
  });

  test("other errors are failures, not missing", async () => {
    const fs = new FakeSysctls({ "net/ipv4/ip_forward": "0" });
    fs.write = async () => {
      throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    };
    const rec = new SysctlReconciler(fs);
    rec.setDesired({ "net/ipv4/ip_forward": "1" });
    const r = await rec.apply();
    assert.deepEqual(
      r.failed.map((f) => [f.path, f.code]),
      [["net/ipv4/ip_forward", "EACCES"]],
    );
    assert.deepEqual(r.missing, []);
  });

  test("dropping a path from the desired set stops retrying it (values are never reset)", async () => {
    const fs = new FakeSysctls();
    const rec = new SysctlReconciler(fs);
    rec.setDesired(interfaceSysctls("gone", opts));
    await rec.apply();
    assert.equal(rec.missing.length, 8);
    rec.setDesired({});
    assert.deepEqual(rec.missing, []);
    const r = await rec.apply();
    assert.deepEqual([r.written, r.unchanged, r.missing.length, r.failed.length], [0, 0, 0, 0]);
  });

  test("ProcSysctls: missing paths are ENOENT, bad paths are refused", async () => {
    const sys = new ProcSysctls();
    await assert.rejects(sys.read("net/ipv4/conf/no-such-iface-x/forwarding"), (e) => isMissing(e));
    await assert.rejects(sys.write("net/ipv4/conf/no-such-iface-x/forwarding", "1"), (e) => isMissing(e));
    await assert.rejects(sys.read("../../etc/passwd"), { code: "EINVAL" });
    if (existsSync("/proc/sys/net/ipv4/ip_forward")) {
      assert.equal(await sys.read("net/ipv4/ip_forward"), readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim());
    }
  });

  test("interfaceOfSysctl", () => {
    assert.equal(interfaceOfSysctl("net/ipv4/conf/cali.1/rp_filter"), "cali.1");
    assert.equal(interfaceOfSysctl("net/ipv6/neigh/eth0/proxy_delay"), "eth0");
    assert.equal(interfaceOfSysctl("net/ipv4/ip_forward"), undefined);
  });
});

const here = dirname(fileURLToPath(import.meta.url));
const skip = netnsSkipReason();

describe("sysctl reconciler (real procfs, throwaway netns)", () => {
  test("proxy_arp etc. on a veth; missing interface retried; host untouched", {
    timeout: 60_000,
    ...skipIf(skip),
  }, async (t) => {
    const hostForward = readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8");
    const ns = createNetns("felixts-sysctl");
    try {
      const run = await runInNetns(ns, join(here, "netns-child.js"), "sysctls");
      assert.equal(run.timedOut, false, run.stderr);
      assert.equal(run.code, 0, run.stderr);
      // biome-ignore lint/suspicious/noExplicitAny: JSON from the child
      const o = run.result as any;
      assert.ok(o, `no RESULT line\n${run.stdout}\n${run.stderr}`);
      assert.notEqual(o.netns, currentNetnsId());
      const wl1 = interfaceSysctls("wl1", opts);
      for (const [p, v] of Object.entries({ ...globalSysctls({ ipv6: true }), ...wl1 })) {
        assert.equal(o.after1[p], v, p);
      }
      assert.equal(o.before["net/ipv4/conf/wl1/proxy_arp"], "0");
      assert.equal(o.r1.missing.length, 8);
      assert.ok(o.r1.missing.every((m: { code: string; iface: string }) => m.code === "ENOENT" && m.iface === "wl2"));
      assert.equal(o.r1.written + o.r1.unchanged, 10);
      assert.deepEqual([o.r2.written, o.r2.unchanged], [0, 10]);
      assert.equal(o.r3.written, 1); // the drifted proxy_arp
      assert.equal(o.r4.written + o.r4.unchanged, 8);
      assert.deepEqual(o.r4.missing, []);
      for (const [p, v] of Object.entries(interfaceSysctls("wl2", opts))) assert.equal(o.after4[p], v, p);
      assert.equal(o.r5.missing.length, 8);
      assert.equal(o.bulk.failed, 0);
      assert.equal(o.bulk.unchanged, o.bulk.paths);
      // The host namespace saw none of it.
      assert.equal(readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8"), hostForward);
      assert.equal(existsSync("/proc/sys/net/ipv4/conf/wl1"), false);
      t.diagnostic(
        `child ${Math.round(run.ms)} ms; ${o.bulk.paths} paths on ${o.bulk.ifaces} veths: first apply ${o.bulk.firstMs} ms (${o.bulk.written} writes), no-op ${o.bulk.noopMs} ms`,
      );
    } finally {
      deleteNetns(ns);
      assert.equal(netnsExists(ns), false);
    }
  });
});
