// The real dummy-device implementation against this kernel, in a throwaway
// network namespace (`ip -n <ns>`). This machine's kernel has no dummy link
// kind: there the test checks the clear error; elsewhere it binds and unbinds.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { run } from "../../iptables/exec.js";
import { DummyUnsupportedError, IpCommandDevice, ServiceDeviceError } from "../../ipvs/service-device.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";

describe("IpCommandDevice", () => {
  test("real kernel: a missing device, then creating it (or the clear no-dummy error)", {
    ...skipIf(netnsSkipReason()),
  }, async () => {
    const ns = createNetns("ipvsdev");
    try {
      const dev = new IpCommandDevice((args) => run("ip", ["-n", ns, ...args]));
      assert.equal(await dev.addresses("cali-ipvs0"), undefined);
      let created = true;
      try {
        await dev.create("cali-ipvs0");
      } catch (e) {
        assert.ok(e instanceof DummyUnsupportedError, (e as Error).message);
        assert.match(
          (e as Error).message,
          /no dummy link kind \(CONFIG_DUMMY; ip says "Error: Unknown device type\."\)/,
        );
        created = false;
      }
      if (!created) return;
      await dev.add("cali-ipvs0", "10.96.0.10");
      await dev.add("cali-ipvs0", "fd00::a");
      await dev.add("cali-ipvs0", "10.96.0.10"); // already there: fine
      assert.deepEqual((await dev.addresses("cali-ipvs0"))!.sort(), ["10.96.0.10", "fd00::a"]);
      await dev.remove("cali-ipvs0", "10.96.0.10");
      await dev.remove("cali-ipvs0", "10.96.0.10"); // already gone: fine
      assert.deepEqual(await dev.addresses("cali-ipvs0"), ["fd00::a"]);
    } finally {
      deleteNetns(ns);
    }
  });

  test("error texts map to clear errors", async () => {
    const said = (stderr: string) => new IpCommandDevice(async () => ({ code: 2, stdout: "", stderr }));
    await assert.rejects(said("Error: Unknown device type.\n").create("cali-ipvs0"), DummyUnsupportedError);
    await assert.rejects(said("RTNETLINK answers: Operation not permitted\n").create("cali-ipvs0"), (e: Error) => {
      return (
        e instanceof ServiceDeviceError && !(e instanceof DummyUnsupportedError) && /not permitted/.test(e.message)
      );
    });
    assert.equal(await said('Device "cali-ipvs0" does not exist.\n').addresses("cali-ipvs0"), undefined);
  });

  test("reads addresses from ip -j, leaving out link-local ones", async () => {
    const json = JSON.stringify([
      {
        ifname: "cali-ipvs0",
        addr_info: [
          { family: "inet", local: "10.96.0.10", prefixlen: 32, scope: "global" },
          { family: "inet6", local: "fd00:0::a", prefixlen: 128, scope: "global" },
          { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
        ],
      },
    ]);
    const dev = new IpCommandDevice(async () => ({ code: 0, stdout: json, stderr: "" }));
    assert.deepEqual(await dev.addresses("cali-ipvs0"), ["10.96.0.10", "fd00::a"]);
  });
});
