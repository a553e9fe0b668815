import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { FakeIpvsBackend } from "../../ipvs/fake-backend.js";
import { type IpvsOwnership, IpvsReconciler, planIpvs } from "../../ipvs/ipvs-reconciler.js";
import {
  type IpvsService,
  type IpvsTable,
  ipvsTable,
  type KernelRealServer,
  type RealServer,
  realServerKey,
  serviceKey,
  type VirtualService,
} from "../../ipvs/model.js";

const OURS: IpvsOwnership = {
  serviceAddresses: new Set(["10.96.0.1", "10.96.0.2", "10.96.0.3", "fd00::1", "fd00::2"]),
  nodeAddresses: new Set(["192.168.1.10", "fd01::10"]),
  nodePortRange: [30000, 30005],
};

const vs = (address: string, port: number, o: Partial<VirtualService> = {}): VirtualService => ({
  protocol: "tcp",
  address,
  port,
  scheduler: "rr",
  ...o,
});
const rs = (address: string, port = 8080, weight = 1): RealServer => ({ address, port, weight, forward: "masq" });
const entry = <R extends RealServer>(service: VirtualService, realServers: R[]): IpvsService<R> => ({
  service,
  realServers,
});

/** Strips the counters: the table as the reconciler programs it. */
function plain(t: IpvsTable<KernelRealServer>): Map<string, IpvsService> {
  return ipvsTable(
    [...t.values()].map((e) =>
      entry(
        e.service,
        e.realServers.map(({ activeConns: _a, inactiveConns: _i, ...r }) => r),
      ),
    ),
  );
}

describe("IpvsReconciler", () => {
  test("adds services and servers, then a second apply changes nothing", async () => {
    const k = new FakeIpvsBackend();
    const r = new IpvsReconciler(k);
    const desired = ipvsTable([
      entry(vs("10.96.0.1", 443), [rs("10.244.0.2", 6443), rs("10.244.0.1", 6443)]),
      entry(vs("192.168.1.10", 30001, { protocol: "udp" }), [rs("10.244.0.3", 53)]),
    ]);
    r.setDesired(desired, OURS);
    const first = await r.apply();
    assert.deepEqual([first.servicesAdded, first.serversAdded, first.changes], [2, 3, 5]);
    assert.deepEqual(plain(await k.list()), desired);
    const again = await r.apply();
    assert.equal(again.changes, 0);
    assert.deepEqual(k.applied.at(-1), []);
  });

  test("scheduler or persistence change is an edit, not a re-create", async () => {
    const k = new FakeIpvsBackend(ipvsTable([entry(vs("10.96.0.1", 80), [rs("10.244.0.1")])]));
    const r = new IpvsReconciler(k);
    r.setDesired(
      ipvsTable([entry(vs("10.96.0.1", 80, { scheduler: "sh", persistenceTimeout: 10800 }), [rs("10.244.0.1")])]),
      OURS,
    );
    const res = await r.apply();
    assert.deepEqual(
      k.applied.at(-1)!.map((c) => c.op),
      ["edit-service"],
    );
    assert.equal(res.servicesEdited, 1);
    assert.equal((await k.list()).get("tcp:10.96.0.1:80")!.service.persistenceTimeout, 10800);
  });

  test("leaves foreign virtual services alone: other addresses, node addresses outside the NodePort range", async () => {
    const foreign = [
      entry(vs("172.30.0.1", 80), [rs("10.0.0.9", 80, 3)]),
      entry(vs("192.168.1.10", 22), [rs("10.0.0.8", 22)]),
    ];
    const k = new FakeIpvsBackend(ipvsTable([...foreign, entry(vs("10.96.0.2", 80), [rs("10.244.0.1")])]));
    const r = new IpvsReconciler(k);
    r.setDesired(new Map(), OURS);
    const res = await r.apply();
    assert.equal(res.servicesDeleted, 1);
    assert.deepEqual(plain(await k.list()), ipvsTable(foreign));
  });

  test("graceful termination: a busy TCP server drains at weight 0, is removed once idle; idle and UDP ones go at once", async () => {
    const tcp = vs("10.96.0.1", 80);
    const udp = vs("10.96.0.1", 53, { protocol: "udp" });
    const k = new FakeIpvsBackend(
      ipvsTable([
        entry(tcp, [rs("10.244.0.1"), rs("10.244.0.2"), rs("10.244.0.3")]),
        entry(udp, [rs("10.244.0.1", 53), rs("10.244.0.2", 53)]),
      ]),
    );
    k.setConnections("tcp:10.96.0.1:80", "10.244.0.2:8080", 3, 1);
    k.setConnections("udp:10.96.0.1:53", "10.244.0.2:53", 0, 7);
    const r = new IpvsReconciler(k);
    r.setDesired(ipvsTable([entry(tcp, [rs("10.244.0.1")]), entry(udp, [rs("10.244.0.1", 53)])]), OURS);
    const res = await r.apply();
    assert.deepEqual([res.serversDeleted, res.serversDrained, res.draining], [2, 1, 1]);
    assert.equal(r.draining, 1);
    assert.equal(k.counterLists, 1, "counters read because a TCP server was leaving");
    const t = await k.list();
    assert.deepEqual(t.get("tcp:10.96.0.1:80")!.realServers, [rs("10.244.0.1"), rs("10.244.0.2", 8080, 0)]);
    assert.deepEqual(t.get("udp:10.96.0.1:53")!.realServers, [rs("10.244.0.1", 53)]);
    // still busy: nothing to do
    assert.equal((await r.apply()).changes, 0);
    // connections ended: removed
    k.setConnections("tcp:10.96.0.1:80", "10.244.0.2:8080", 0, 0);
    const later = await r.apply();
    assert.deepEqual([later.serversDeleted, later.draining], [1, 0]);
    assert.deepEqual((await k.list()).get("tcp:10.96.0.1:80")!.realServers, [rs("10.244.0.1")]);
  });

  test("a draining server that comes back gets its weight again", async () => {
    const tcp = vs("10.96.0.1", 80);
    const k = new FakeIpvsBackend(ipvsTable([entry(tcp, [rs("10.244.0.1", 8080, 0)])]));
    k.setConnections("tcp:10.96.0.1:80", "10.244.0.1:8080", 1, 0);
    const r = new IpvsReconciler(k);
    r.setDesired(ipvsTable([entry(tcp, [rs("10.244.0.1")])]), OURS);
    await r.apply();
    assert.deepEqual(k.applied.at(-1), [{ op: "edit-server", service: tcp, server: rs("10.244.0.1") }]);
  });

  test("a kernel error propagates (the dataplane reports it and retries)", async () => {
    const k = new FakeIpvsBackend();
    k.apply = async () => {
      throw new Error("boom");
    };
    const r = new IpvsReconciler(k);
    r.setDesired(ipvsTable([entry(vs("10.96.0.1", 80), [])]), OURS);
    await assert.rejects(r.apply(), /boom/);
  });
});

// ------------------------------------------------------------------ property

const OUR_ADDRS = [...OURS.serviceAddresses];
const NODE_ADDRS = [...OURS.nodeAddresses];
const FOREIGN_ADDRS = ["172.30.0.1", "172.30.0.2", "fd99::1"];
const BACKENDS = ["10.244.0.1", "10.244.0.2", "10.244.0.3", "fd10::1", "fd10::2"];

const protocolArb = fc.constantFrom<VirtualService["protocol"]>("tcp", "udp", "sctp");
const settingsArb = fc.record({
  scheduler: fc.constantFrom("rr", "wlc", "sh"),
  persistenceTimeout: fc.option(fc.constantFrom(60, 10800), { nil: undefined }),
});
const ourServiceArb = fc.oneof(
  fc.record({ protocol: protocolArb, address: fc.constantFrom(...OUR_ADDRS), port: fc.constantFrom(80, 443) }),
  fc.record({
    protocol: protocolArb,
    address: fc.constantFrom(...NODE_ADDRS),
    port: fc.integer({ min: 30000, max: 30005 }),
  }),
);
const foreignServiceArb = fc.oneof(
  fc.record({ protocol: protocolArb, address: fc.constantFrom(...FOREIGN_ADDRS), port: fc.constantFrom(80, 443) }),
  fc.record({
    protocol: protocolArb,
    address: fc.constantFrom(...NODE_ADDRS),
    port: fc.constantFrom(22, 29999, 30006),
  }),
);

function withFamily<T extends { address: string }>(svcAddr: string, servers: T[]): T[] {
  return servers.filter((s) => s.address.includes(":") === svcAddr.includes(":"));
}

const kernelServerArb = fc.record({
  address: fc.constantFrom(...BACKENDS),
  port: fc.constantFrom(80, 8080),
  weight: fc.integer({ min: 0, max: 3 }),
  forward: fc.constantFrom<RealServer["forward"]>("masq", "route"),
  activeConns: fc.nat(2),
  inactiveConns: fc.nat(2),
});
const desiredServerArb = fc.record({
  address: fc.constantFrom(...BACKENDS),
  port: fc.constantFrom(80, 8080),
  weight: fc.constantFrom(0, 1),
  forward: fc.constant<RealServer["forward"]>("masq"),
});

function tableArb<R extends RealServer>(
  svc: fc.Arbitrary<Pick<VirtualService, "protocol" | "address" | "port">>,
  server: fc.Arbitrary<R>,
) {
  return fc
    .uniqueArray(
      fc.record({
        id: svc,
        settings: settingsArb,
        servers: fc.uniqueArray(server, { selector: realServerKey, maxLength: 4 }),
      }),
      { selector: (e) => serviceKey(e.id), maxLength: 6 },
    )
    .map((es) =>
      ipvsTable(
        es.map((e) => {
          const service: VirtualService = { ...e.id, scheduler: e.settings.scheduler };
          const withP = e.settings.persistenceTimeout
            ? { ...service, persistenceTimeout: e.settings.persistenceTimeout }
            : service;
          return entry(
            withP,
            withFamily(e.id.address, e.servers).map((r) => ({ ...r })),
          ); // plain objects
        }),
      ),
    );
}

/** What the kernel should hold after one apply: desired, foreign as it was, busy TCP leftovers at weight 0. */
function expected(
  start: IpvsTable<KernelRealServer>,
  desired: IpvsTable,
  ignoreConns: boolean,
): Map<string, IpvsService> {
  const out: IpvsService[] = [];
  for (const [key, e] of start) if (!desired.has(key) && !isOurs(e.service)) out.push(e);
  for (const [key, d] of desired) {
    const wanted = new Set(d.realServers.map(realServerKey));
    const busy = (start.get(key)?.realServers ?? []).filter(
      (r) =>
        !wanted.has(realServerKey(r)) &&
        d.service.protocol === "tcp" &&
        !ignoreConns &&
        (r.activeConns ?? 0) + (r.inactiveConns ?? 0) > 0,
    );
    out.push(entry(d.service, [...d.realServers, ...busy.map((r) => ({ ...r, weight: 0 }))]));
  }
  return plain(ipvsTable(out));
}

function isOurs(s: VirtualService): boolean {
  return (
    OURS.serviceAddresses.has(s.address) ||
    (OURS.nodeAddresses.has(s.address) && s.port >= OURS.nodePortRange[0] && s.port <= OURS.nodePortRange[1])
  );
}

function mergeTables<R extends RealServer>(...ts: IpvsTable<R>[]): Map<string, IpvsService<R>> {
  return new Map(ts.flatMap((t) => [...t]));
}

describe("IpvsReconciler property", () => {
  test("from any start (foreign + stale + partial), one apply converges and a second is a no-op; foreign untouched", async () => {
    await fc.assert(
      fc.asyncProperty(
        tableArb(foreignServiceArb, kernelServerArb),
        tableArb(ourServiceArb, kernelServerArb),
        tableArb(ourServiceArb, desiredServerArb),
        fc.boolean(),
        async (foreign, stale, desired, idle) => {
          const startTable = mergeTables<KernelRealServer>(foreign, stale);
          if (idle) {
            for (const [k, e] of startTable) {
              startTable.set(
                k,
                entry(
                  e.service,
                  e.realServers.map((r) => ({ ...r, activeConns: 0, inactiveConns: 0 })),
                ),
              );
            }
          }
          const k = new FakeIpvsBackend(startTable);
          const r = new IpvsReconciler(k);
          r.setDesired(desired, OURS);
          await r.apply();
          const after = await k.list(true);
          assert.deepEqual(plain(after), expected(startTable, desired, idle));
          for (const key of foreign.keys())
            assert.deepEqual(after.get(key), startTable.get(key), `foreign ${key} untouched`);
          const second = await r.apply();
          assert.equal(second.changes, 0, "second apply is a no-op");
          if (idle) assert.deepEqual(plain(await k.list()), plain(mergeTables<RealServer>(foreign, desired)));
        },
      ),
      { numRuns: 300 },
    );
  });

  test("the plan never touches a foreign service", () => {
    fc.assert(
      fc.property(
        tableArb(foreignServiceArb, kernelServerArb),
        tableArb(ourServiceArb, desiredServerArb),
        (foreign, desired) => {
          const plan = planIpvs(foreign, desired, OURS);
          for (const c of plan.changes) assert.ok(isOurs(c.service), serviceKey(c.service));
        },
      ),
      { numRuns: 200 },
    );
  });
});
