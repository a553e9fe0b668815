import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { desiredIpvs } from "../../calc-graph/services/ipvs-desired.js";
import { FakeIpvsBackend } from "../../ipvs/fake-backend.js";
import { IpvsSync } from "../../ipvs/ipvs-sync.js";
import { ipvsTable } from "../../ipvs/model.js";
import { DummyUnsupportedError, FakeServiceAddressDevice } from "../../ipvs/service-device.js";
import { ep, sp } from "../calc-graph/services/service-fixtures.js";

const NODE = ["192.168.1.10"];

describe("IpvsSync", () => {
  test("creates the dummy device, binds service IPs, programs the table", async () => {
    const ipvs = new FakeIpvsBackend();
    const dev = new FakeServiceAddressDevice();
    const s = new IpvsSync(ipvs, dev);
    const d = desiredIpvs([sp({ nodePort: 30080, externalIPs: ["203.0.113.7"], endpoints: [ep("10.244.1.5")] })], NODE);
    const r = await s.apply(d);
    assert.deepEqual(dev.calls, ["create cali-ipvs0", "add 10.96.0.10", "add 203.0.113.7"]);
    assert.deepEqual(
      [...(await ipvs.list()).keys()],
      ["tcp:10.96.0.10:80", "tcp:192.168.1.10:30080", "tcp:203.0.113.7:80"],
    );
    assert.deepEqual([r.addressesBound, r.servicesAdded, r.serversAdded, r.changes], [2, 3, 3, 8]);
    assert.equal((await s.apply(d)).changes, 0, "converged");
  });

  test("a deleted Service: its virtual services go (owned through the still-bound address), then the address", async () => {
    const foreign = {
      service: { protocol: "tcp" as const, address: "172.30.0.1", port: 80, scheduler: "wlc" },
      realServers: [],
    };
    const ipvs = new FakeIpvsBackend(ipvsTable([foreign]));
    const dev = new FakeServiceAddressDevice();
    const s = new IpvsSync(ipvs, dev);
    await s.apply(desiredIpvs([sp({ endpoints: [ep("10.244.1.5")] })], NODE));
    dev.calls.length = 0;
    const r = await s.apply(desiredIpvs([], NODE));
    assert.deepEqual([...(await ipvs.list()).keys()], ["tcp:172.30.0.1:80"], "foreign service kept");
    assert.deepEqual(dev.calls, ["remove 10.96.0.10"]);
    assert.deepEqual([r.servicesDeleted, r.addressesUnbound], [1, 1]);
  });

  test("a kernel without the dummy link kind: a clear error, nothing programmed", async () => {
    const ipvs = new FakeIpvsBackend();
    const s = new IpvsSync(ipvs, new FakeServiceAddressDevice({ dummySupported: false }));
    await assert.rejects(s.apply(desiredIpvs([sp()], NODE)), (e: Error) => {
      assert.ok(e instanceof DummyUnsupportedError);
      assert.match(e.message, /cannot create cali-ipvs0 to hold the service IPs: this kernel has no dummy link kind/);
      assert.match(e.message, /FELIX_PROXYMODE=iptables/);
      return true;
    });
    assert.equal((await ipvs.list()).size, 0);
  });
});
