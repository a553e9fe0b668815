import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, test } from "node:test";
import { run } from "../../iptables/exec.js";
import { IpvsError, IpvsUnavailableError } from "../../ipvs/backend.js";
import { IpvsadmBackend, restoreInput } from "../../ipvs/ipvsadm-backend.js";
import { parseIpvsadmSave } from "../../ipvs/ipvsadm-text.js";
import type { VirtualService } from "../../ipvs/model.js";
import { which } from "../../src/netns/topology.js";
import { skipIf, skipNow } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { SAVE_TEXT } from "./ipvsadm-fixtures.js";

const vs = (o: Partial<VirtualService> = {}): VirtualService => ({
  protocol: "tcp",
  address: "10.96.0.1",
  port: 443,
  scheduler: "rr",
  ...o,
});
const rs = { address: "172.18.0.2", port: 6443, weight: 1, forward: "masq" as const };

/** ipvsadm 1.31's stderr on a kernel without IPVS (measured on this machine). */
const NO_IPVS_STDERR =
  "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n";

describe("IpvsadmBackend", () => {
  test("restore input: one ipvsadm command per change, in the -S -n syntax", () => {
    const text = restoreInput([
      { op: "add-service", service: vs() },
      { op: "add-server", service: vs(), server: rs },
      { op: "edit-service", service: vs({ persistenceTimeout: 10800 }) },
      { op: "edit-server", service: vs(), server: { ...rs, weight: 0 } },
      { op: "delete-server", service: vs(), server: rs },
      { op: "delete-service", service: vs() },
      { op: "add-service", service: vs({ protocol: "udp", address: "fd00::10", port: 53 }) },
      { op: "add-service", service: vs({ protocol: "sctp", port: 9999 }) },
      {
        op: "add-server",
        service: vs({ address: "fd00::1", port: 80 }),
        server: { address: "fd00:10:244::5", port: 8080, weight: 1, forward: "masq" },
      },
    ]);
    assert.equal(
      text,
      [
        "-A -t 10.96.0.1:443 -s rr",
        "-a -t 10.96.0.1:443 -r 172.18.0.2:6443 -m -w 1",
        "-E -t 10.96.0.1:443 -s rr -p 10800",
        "-e -t 10.96.0.1:443 -r 172.18.0.2:6443 -m -w 0",
        "-d -t 10.96.0.1:443 -r 172.18.0.2:6443",
        "-D -t 10.96.0.1:443",
        "-A -u [fd00::10]:53 -s rr",
        "-A --sctp-service 10.96.0.1:9999 -s rr",
        "-a -t [fd00::1]:80 -r [fd00:10:244::5]:8080 -m -w 1",
        "",
      ].join("\n"),
    );
  });

  test("add lines round-trip through the -S -n parser", () => {
    const t = parseIpvsadmSave(SAVE_TEXT);
    const changes = [...t.values()].flatMap((e) => [
      { op: "add-service" as const, service: e.service },
      ...e.realServers.map((server) => ({ op: "add-server" as const, service: e.service, server })),
    ]);
    assert.deepEqual(parseIpvsadmSave(restoreInput(changes)), t);
  });

  test("lists with -S -n, with -L -n for counters, and applies with -R", async () => {
    const calls: { args: readonly string[]; input?: string }[] = [];
    const b = new IpvsadmBackend({
      exec: async (args, input) => {
        calls.push({ args, input });
        return { code: 0, stdout: args[0] === "-S" ? SAVE_TEXT : "", stderr: "" };
      },
    });
    assert.equal((await b.list()).size, 7);
    await b.list(true);
    await b.apply([{ op: "add-service", service: vs() }]);
    await b.apply([]);
    assert.deepEqual(
      calls.map((c) => [c.args.join(" "), c.input]),
      [
        ["-S -n", undefined],
        ["-L -n", undefined],
        ["-R", "-A -t 10.96.0.1:443 -s rr\n"],
      ],
    );
  });

  test("a kernel without IPVS is a clear IpvsUnavailableError", async () => {
    const b = new IpvsadmBackend({
      exec: async () => ({ code: 2, stdout: "", stderr: NO_IPVS_STDERR }),
      procPath: "/nonexistent/ip_vs",
    });
    await assert.rejects(b.list(), (e: Error) => {
      assert.ok(e instanceof IpvsUnavailableError);
      assert.match(e.message, /^IPVS is not available in this kernel/);
      assert.match(e.message, /\/nonexistent\/ip_vs is missing/);
      assert.match(e.message, /Protocol not available/);
      assert.match(e.message, /load the ip_vs kernel module, or use FELIX_PROXYMODE=iptables/);
      return true;
    });
    await assert.rejects(b.apply([{ op: "add-service", service: vs() }]), IpvsUnavailableError);
  });

  test("other ipvsadm failures and a missing ipvsadm are IpvsErrors with the command", async () => {
    const failing = new IpvsadmBackend({
      exec: async () => ({ code: 1, stdout: "", stderr: "Memory allocation problem\n" }),
    });
    await assert.rejects(failing.apply([{ op: "add-service", service: vs() }]), /ipvsadm -R failed \(exit 1\): Memory/);
    const missing = new IpvsadmBackend({ exec: (args) => run("/nonexistent/ipvsadm", args) });
    await assert.rejects(missing.list(), (e: Error) => e instanceof IpvsError && /not installed/.test(e.message));
  });

  // Both kinds of kernel are checked, so neither is a skip: without IPVS (this
  // machine) the clear error; with IPVS an empty table in a fresh namespace.
  test("the real ipvsadm: the clear error without IPVS, an empty table in a fresh namespace with it", {
    ...skipIf(!which("ipvsadm") && "needs ipvsadm"),
  }, async (t) => {
    if (existsSync("/proc/net/ip_vs")) {
      const why = netnsSkipReason();
      if (why) return skipNow(t, why);
      const ns = createNetns("fxipvs");
      try {
        const inNs = new IpvsadmBackend({
          exec: (args, input) => run("ip", ["netns", "exec", ns, "ipvsadm", ...args], input),
        });
        assert.deepEqual(await inNs.list(), parseIpvsadmSave(""));
      } finally {
        deleteNetns(ns);
      }
      return;
    }
    const b = new IpvsadmBackend();
    await assert.rejects(b.list(), (e: Error) => {
      assert.ok(e instanceof IpvsUnavailableError, e.message);
      assert.match(e.message, /\/proc\/net\/ip_vs is missing; ipvsadm: "Can't initialize ipvs/);
      return true;
    });
  });
});
