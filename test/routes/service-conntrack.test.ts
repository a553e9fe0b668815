// The dataplane's stale-UDP step for services: after the rules are in, the
// entries DNATed to an endpoint that went away are deleted; an apply whose
// services did not change lists nothing; a failure is a warning, retried.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { FakeServiceConntrack } from "../../routes/service-conntrack.js";
import { Dataplane } from "../../src/dataplane.js";
import { node } from "../calc-graph/fixtures.js";
import { sliceUpdate, svcUpdate } from "../calc-graph/services/fixtures.js";

const dns = svcUpdate("dns", { clusterIP: "10.96.0.10", ports: [{ name: "dns", port: 53, protocol: "UDP" }] });
const slice = (ip: string) =>
  sliceUpdate("dns-1", "dns", [{ ip, node: "node2" }], [{ name: "dns", port: 53, protocol: "UDP" }]);
const flowTo = (replySrc: string) => ({
  family: 4 as const,
  origSrc: "10.65.1.2",
  origDst: "10.96.0.10",
  origSport: 40000,
  origDport: 53,
  replySrc,
  replySport: 53,
});

describe("Dataplane: services' stale UDP conntrack entries", () => {
  const setup = () => {
    const ct = new FakeServiceConntrack();
    let lists = 0;
    let fail = false;
    const spy = {
      async listUdp(f: 4 | 6) {
        lists++;
        if (fail) throw new Error("conntrack: permission denied");
        return ct.listUdp(f);
      },
      deleteUdp: (f: Parameters<FakeServiceConntrack["deleteUdp"]>[0]) => ct.deleteUdp(f),
      localAddresses: () => ct.localAddresses(),
    };
    const sets = new FakeIpsetBackend();
    const dp = new Dataplane({
      ipsets: new IpsetSyncer(sets),
      ipv4: new TableSyncer(new FakeIptablesBackend(4, "legacy", sets)),
      serviceConntrack: spy,
    });
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" });
    g.apply([node("node1", "10.65.1.0/24", "172.18.0.1"), node("node2", "10.65.2.0/24", "172.18.0.2")]);
    return { ct, dp, g, lists: () => lists, setFail: (v: boolean) => (fail = v) };
  };

  test("the endpoint is replaced: the flow to the old one goes, the flow to the new one stays", async () => {
    const { ct, dp, g, lists } = setup();
    await dp.apply(g.apply([dns, slice("10.65.2.10")]));
    ct.flows = [flowTo("10.65.2.10")];
    const r = await dp.apply(g.apply([slice("10.65.2.11")]));
    ct.flows.push(flowTo("10.65.2.11"));
    assert.deepEqual(ct.deletes, [
      { family: 4, origDst: "10.96.0.10", origDport: 53, replySrc: "10.65.2.10", replySport: 53 },
    ]);
    assert.equal(r.udpFlowsDeleted, 1);
    assert.deepEqual(
      ct.flows.map((f) => f.replySrc),
      ["10.65.2.11"],
    );
    const before = lists();
    await dp.apply(g.apply([node("node3", "10.65.3.0/24", "172.18.0.3")]));
    assert.equal(lists(), before, "services unchanged: the table is not listed");
  });

  test("a failing conntrack command is a warning; the next apply tries again", async () => {
    const { ct, dp, g, setFail } = setup();
    await dp.apply(g.apply([dns, slice("10.65.2.10")]));
    ct.flows = [flowTo("10.65.2.10")];
    setFail(true);
    const r = await dp.apply(g.apply([slice("10.65.2.11")]));
    assert.match(r.warnings.join("\n"), /stale UDP conntrack entries of services: conntrack: permission denied/);
    assert.equal(ct.flows.length, 1);
    setFail(false);
    await dp.apply(g.apply([node("node3", "10.65.3.0/24", "172.18.0.3")]));
    assert.equal(ct.flows.length, 0, "retried on the next apply");
  });

  test("attack: a tenant's UDP node port deletes entries to this host's addresses only, never a pod's flows to remote hosts at that port", async () => {
    const { ct, dp, g } = setup();
    const np = svcUpdate("np", {
      type: "NodePort",
      clusterIP: "10.96.0.20",
      ports: [{ name: "dns", port: 53, protocol: "UDP", nodePort: 30053 }],
    });
    const npSlice = (ip: string) =>
      sliceUpdate("np-1", "np", [{ ip, node: "node2" }], [{ name: "dns", port: 53, protocol: "UDP" }]);
    await dp.apply(g.apply([np, npSlice("10.65.2.20")]));
    ct.local = new Set(["172.18.0.1", "127.0.0.1"]);
    const at = (origDst: string, replySrc: string, replySport: number) => ({
      ...flowTo(replySrc),
      origDst,
      origDport: 30053,
      replySport,
    });
    const remote = [at("8.8.8.8", "8.8.8.8", 30053), at("10.65.2.99", "10.65.2.99", 30053)];
    const mine = [at("172.18.0.1", "10.65.2.20", 53), at("127.0.0.1", "127.0.0.1", 30053)];
    ct.flows = [...remote, ...mine];
    const r = await dp.apply(g.apply([npSlice("10.65.2.21")]));
    assert.equal(r.udpFlowsDeleted, 2);
    assert.deepEqual(ct.flows, remote, "flows to remote hosts at the node port stay");
    assert.ok(
      ct.deletes.every((d) => d.origDst !== undefined),
      "no delete matches every destination",
    );
  });
});
