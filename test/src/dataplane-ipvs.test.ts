// The dataplane's IPVS step with fakes: runs when `ipvs` changed identity,
// keeps running while real servers drain or after a failure, and a failing
// IPVS (this machine's kernel has none) is a warning that holds nothing up.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { produce } from "immer";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { IpvsStateBuilder } from "../../calc-graph/services/ipvs-builder.js";
import { emptyState } from "../../calc-graph/state-builder.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { IpvsUnavailableError } from "../../ipvs/backend.js";
import { FakeIpvsBackend } from "../../ipvs/fake-backend.js";
import { IpvsSync } from "../../ipvs/ipvs-sync.js";
import { FakeServiceAddressDevice } from "../../ipvs/service-device.js";
import { Dataplane } from "../../src/dataplane.js";
import { ep, sp } from "../calc-graph/services/service-fixtures.js";

function rig(ipvs = new FakeIpvsBackend()) {
  const sets = new FakeIpsetBackend();
  const v4 = new FakeIptablesBackend(4, "legacy", sets);
  const dev = new FakeServiceAddressDevice();
  const dp = new Dataplane({
    ipsets: new IpsetSyncer(sets),
    ipv4: new TableSyncer(v4),
    ipvs: new IpvsSync(ipvs, dev),
  });
  return { dp, v4, sets, ipvs, dev };
}

const builder = new IpvsStateBuilder();
function state(endpoints = [ep("10.244.1.5"), ep("10.244.1.6")], base: DesiredState = emptyState("n1")): DesiredState {
  return produce(base, (d) =>
    builder.put(d, { servicePorts: [sp({ endpoints })], nodeAddresses: ["192.168.1.10"], podCidrs: ["10.244.0.0/16"] }),
  );
}

describe("Dataplane IPVS step", () => {
  test("programs IP sets, rules and the IPVS table; an unchanged snapshot does no IPVS work", async () => {
    const { dp, v4, sets, ipvs, dev } = rig();
    const s1 = state();
    const r = await dp.apply(s1);
    assert.deepEqual(r.warnings, []);
    assert.equal(r.ipvsChanges, 4, "1 address, 1 service, 2 servers");
    assert.ok(sets.sets.has("cali40ipvs-cluster-ip"));
    assert.match(v4.restores.join(""), /cali-IPVS-SERVICES/);
    assert.deepEqual([...dev.devices.get("cali-ipvs0")!], ["10.96.0.10"]);
    const lists = ipvs.lists;
    await dp.apply(s1);
    assert.equal(ipvs.lists, lists, "skipped: same ipvs object");
  });

  test("while a real server drains the step runs again, until it is gone", async () => {
    const { dp, ipvs } = rig();
    const s1 = state();
    await dp.apply(s1);
    ipvs.setConnections("tcp:10.96.0.10:80", "10.244.1.6:8080", 1, 0);
    const s2 = state([ep("10.244.1.5")], s1);
    await dp.apply(s2);
    assert.equal((await ipvs.list()).get("tcp:10.96.0.10:80")!.realServers[1].weight, 0, "drained");
    const s3 = produce(s2, (d) => {
      d.nodeName = "n1"; // a snapshot whose ipvs part is unchanged
    });
    assert.equal(s3.ipvs, s2.ipvs);
    ipvs.setConnections("tcp:10.96.0.10:80", "10.244.1.6:8080", 0, 0);
    const r = await dp.apply(s3);
    assert.equal(r.ipvsChanges, 1, "removed on a later sync");
    assert.equal((await ipvs.list()).get("tcp:10.96.0.10:80")!.realServers.length, 1);
    const lists = ipvs.lists;
    await dp.apply(s3);
    assert.equal(ipvs.lists, lists, "nothing left draining: skipped again");
  });

  test("a kernel without IPVS: a warning, policy still programmed, retried on the next apply", async () => {
    const ipvs = new FakeIpvsBackend();
    let fail = true;
    const list = ipvs.list.bind(ipvs);
    ipvs.list = async (c?: boolean) => {
      if (fail) throw new IpvsUnavailableError("IPVS is not available in this kernel (test)");
      return list(c);
    };
    const { dp, v4 } = rig(ipvs);
    const s1 = state();
    const r = await dp.apply(s1);
    assert.deepEqual(r.warnings, ["IPVS: IPVS is not available in this kernel (test)"]);
    assert.ok(v4.restores.length > 0, "iptables programmed anyway");
    fail = false;
    const again = await dp.apply(s1);
    assert.deepEqual(again.warnings, []);
    assert.equal(again.ipvsChanges, 3, "retried although the snapshot did not change");
  });
});
