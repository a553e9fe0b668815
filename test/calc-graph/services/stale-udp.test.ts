// Stale UDP conntrack entries of services: which service ports are looked at
// (changedUdpFrontends) and which entries go (staleUdpFlows), after
// kube-proxy's cleanup tests (pkg/proxy/conntrack/cleanup_test.go); the
// dataplane step with the in-memory conntrack; the `conntrack -L` parser.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ServicePort } from "../../../calc-graph/services/model.js";
import { servicePortIds, servicePortOf, servicePortsOf } from "../../../calc-graph/services/port-shards.js";
import { changedUdpFrontends, staleUdpFlows, type UdpFlow } from "../../../calc-graph/services/stale-udp.js";
import { deleteArgs, FakeServiceConntrack, parseUdpFlows } from "../../../routes/service-conntrack.js";
import { ep, sp } from "./service-fixtures.js";

const CLUSTER_IP = "172.30.1.1";
const EXTERNAL_IP = "192.168.99.100";
const LB_IP = "1.2.3.4";
const SERVING = "10.240.0.4";
const NOT_SERVING = "10.240.1.5";
const DELETED = "10.240.2.6";
const EP_PORT = 9090;
const OLD_EP_PORT = 8080;
const SVC_PORT = 8000;
const NODE_PORT = 32000;
const OTHER_PORT = 3000;

const udp = (o: Partial<ServicePort> = {}) =>
  sp({
    protocol: "udp",
    portName: "test-udp",
    clusterIP: CLUSTER_IP,
    port: SVC_PORT,
    nodePort: NODE_PORT,
    externalIPs: [EXTERNAL_IP],
    loadBalancerIPs: [LB_IP],
    endpoints: [ep(SERVING, { port: EP_PORT }), ep(NOT_SERVING, { port: EP_PORT, ready: false, serving: false })],
    ...o,
  });

const flow = (origDst: string, origDport: number, replySrc: string, replySport = EP_PORT): UdpFlow => ({
  family: 4,
  origSrc: "10.0.0.1",
  origDst,
  origSport: 40000,
  origDport,
  replySrc,
  replySport,
});

const services = (...sps: ServicePort[]) => servicePortsOf(Object.fromEntries(sps.map((s) => [`${s.key}/v4`, s])));

describe("staleUdpFlows (kube-proxy's reconcile)", () => {
  test("entries to a frontend or the node port not DNATed to a serving endpoint go; the rest stay", () => {
    const tcp = udp({ protocol: "tcp", portName: "test-tcp" });
    const after = services(tcp, udp());
    const fronts = changedUdpFrontends(undefined, after);
    const flows: UdpFlow[] = [];
    const expectGone = new Set<UdpFlow>();
    const add = (f: UdpFlow, gone: boolean) => {
      flows.push(f);
      if (gone) expectGone.add(f);
    };
    // The endpoint's port changed, its address did not: stale too.
    for (const dst of [CLUSTER_IP, LB_IP, EXTERNAL_IP]) add(flow(dst, SVC_PORT, SERVING, OLD_EP_PORT), true);
    for (const dnat of [SERVING, NOT_SERVING, DELETED]) {
      for (const dst of [CLUSTER_IP, LB_IP, EXTERNAL_IP]) {
        for (const port of [SVC_PORT, OTHER_PORT]) add(flow(dst, port, dnat), port === SVC_PORT && dnat !== SERVING);
      }
      add(flow("172.18.0.1", NODE_PORT, dnat), dnat !== SERVING);
    }
    // Not DNATed (no REJECT rule kept them out): reply source = original destination.
    for (const ip of [CLUSTER_IP, LB_IP, EXTERNAL_IP]) {
      for (const port of [SVC_PORT, OTHER_PORT]) add(flow(ip, port, ip, port), port === SVC_PORT);
    }
    const ct = new FakeServiceConntrack();
    ct.flows = [...flows];
    return (async () => {
      for (const f of staleUdpFlows(await ct.listUdp(4), fronts, (ip) => ip === "172.18.0.1")) await ct.deleteUdp(f);
      const left = new Set(ct.flows);
      for (const f of flows) assert.equal(!left.has(f), expectGone.has(f), JSON.stringify(f));
      assert.equal(flows.length - ct.flows.length, expectGone.size);
    })();
  });

  test("attack: a tenant's UDP node port never deletes flows to other hosts at that port", async () => {
    const fronts = changedUdpFrontends(undefined, services(udp()));
    // A pod's (or the node's) own flows to remote hosts whose port equals the node port.
    const foreign = ["8.8.8.8", "10.240.9.9"].map((ip) => flow(ip, NODE_PORT, ip, NODE_PORT));
    foreign.push(flow("10.240.9.9", NODE_PORT, DELETED)); // even DNATed elsewhere: not to this host
    const dnated = flow("172.18.0.1", NODE_PORT, DELETED);
    const ct = new FakeServiceConntrack();
    ct.flows = [...foreign, dnated];
    const filters = staleUdpFlows(await ct.listUdp(4), fronts, (ip) => ip === "172.18.0.1");
    assert.deepEqual(filters, [
      { family: 4, origDst: "172.18.0.1", origDport: NODE_PORT, replySrc: DELETED, replySport: EP_PORT },
    ]);
    for (const f of filters) {
      await ct.deleteUdp(f);
      assert.ok(deleteArgs(f).includes("--orig-dst"), "every delete names its destination");
    }
    assert.deepEqual(ct.flows, foreign);
  });

  test("one filter per (frontend, reply source): many clients of one dead endpoint are one delete", () => {
    const fronts = changedUdpFrontends(undefined, services(udp({ nodePort: undefined })));
    const flows = Array.from({ length: 50 }, (_, i) => ({
      ...flow(CLUSTER_IP, SVC_PORT, DELETED),
      origSport: 1000 + i,
    }));
    assert.deepEqual(staleUdpFlows(flows, fronts), [
      { family: 4, origDst: CLUSTER_IP, origDport: SVC_PORT, replySrc: DELETED, replySport: EP_PORT },
    ]);
  });

  test("a service without a serving endpoint cleans nothing (its entries wait for the first one)", () => {
    const none = udp({ endpoints: [ep(NOT_SERVING, { ready: false, serving: false })] });
    const fronts = changedUdpFrontends(undefined, services(none));
    assert.equal(fronts.families.size, 0);
    assert.deepEqual(staleUdpFlows([flow(CLUSTER_IP, SVC_PORT, DELETED)], fronts), []);
  });
});

describe("changedUdpFrontends (which service ports are looked at)", () => {
  const before = services(udp({ endpoints: [ep("10.240.0.1", { port: EP_PORT }), ep(DELETED, { port: EP_PORT })] }));
  const key = servicePortIds(before)[0];

  test("an endpoint went away: the service port is looked at, with the endpoints left", () => {
    const after = services(udp({ endpoints: [ep("10.240.0.1", { port: EP_PORT })] }));
    const f = changedUdpFrontends(before, after);
    assert.deepEqual(
      [...f.byAddress.keys()].sort(),
      [`${CLUSTER_IP} ${SVC_PORT}`, `${EXTERNAL_IP} ${SVC_PORT}`, `${LB_IP} ${SVC_PORT}`].sort(),
    );
    assert.deepEqual([...f.byNodePort.keys()], [`4 ${NODE_PORT}`]);
    assert.deepEqual([...f.byAddress.get(`${CLUSTER_IP} ${SVC_PORT}`)!], [`10.240.0.1 ${EP_PORT}`]);
    assert.deepEqual(
      staleUdpFlows([flow(CLUSTER_IP, SVC_PORT, DELETED), flow(CLUSTER_IP, SVC_PORT, "10.240.0.1")], f).map(
        (x) => x.replySrc,
      ),
      [DELETED],
    );
  });

  test("the first endpoint of a service that had none: its un-DNATed entries go", () => {
    const empty = services(udp({ endpoints: [] }));
    const after = services(udp({ endpoints: [ep(SERVING, { port: EP_PORT })] }));
    const f = changedUdpFrontends(empty, after);
    const stale = staleUdpFlows(
      [flow(CLUSTER_IP, SVC_PORT, CLUSTER_IP, SVC_PORT), flow("172.18.0.1", NODE_PORT, "172.18.0.1", NODE_PORT)],
      f,
      (ip) => ip === "172.18.0.1",
    );
    assert.deepEqual(
      stale.map((x) => `${x.origDst ?? "*"}:${x.origDport} ${x.replySrc}`),
      [`${CLUSTER_IP}:${SVC_PORT} ${CLUSTER_IP}`, `172.18.0.1:${NODE_PORT} 172.18.0.1`],
    );
  });

  test("the same object, a ready-only change or a terminating endpoint that still serves: nothing looked at", () => {
    assert.equal(changedUdpFrontends(before, before).byAddress.size, 0);
    const eps = servicePortOf(before, key)!.endpoints;
    const terminating = services(
      udp({ endpoints: [eps[0], { ...eps[1], ready: false, serving: true, terminating: true }] }),
    );
    assert.equal(changedUdpFrontends(before, terminating).byAddress.size, 0);
  });

  test("TCP and SCTP services are never looked at", () => {
    const f = changedUdpFrontends(
      undefined,
      services(udp({ protocol: "tcp" }), udp({ protocol: "sctp", portName: "s" })),
    );
    assert.equal(f.byAddress.size + f.byNodePort.size, 0);
  });

  test("no state before (a restart): every UDP service port with a serving endpoint is looked at", () => {
    const f = changedUdpFrontends(undefined, before);
    assert.deepEqual([...f.families], [4]);
    assert.equal(f.byAddress.size, 3);
  });
});

describe("the conntrack command's side", () => {
  test("conntrack -L lines parse into flows (IPv6 canonical), other lines are skipped", () => {
    const text = [
      "udp      17 29 src=10.0.0.1 dst=10.96.0.10 sport=40000 dport=53 [UNREPLIED] src=10.0.0.5 dst=10.0.0.1 sport=5353 dport=40000 mark=0 use=2",
      "tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 [ASSURED] mark=0 use=1",
      "udp      17 100 src=fd00:65:1:0::2 dst=fd00:96::10 sport=1 dport=53 src=fd00:65:2::10 dst=fd00:65:1::2 sport=80 dport=1 [ASSURED] mark=0 use=1",
      "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.",
    ].join("\n");
    assert.deepEqual(parseUdpFlows(text, 4)[0], {
      family: 4,
      origSrc: "10.0.0.1",
      origDst: "10.96.0.10",
      origSport: 40000,
      origDport: 53,
      replySrc: "10.0.0.5",
      replySport: 5353,
    });
    assert.equal(parseUdpFlows(text, 4).length, 2);
    assert.equal(parseUdpFlows(text, 6)[1].origSrc, "fd00:65:1::2");
  });

  test("a filter becomes conntrack's delete arguments; a node-port filter has no --orig-dst", () => {
    assert.deepEqual(
      deleteArgs({ family: 6, origDst: "fd00:96::10", origDport: 53, replySrc: "fd00::5", replySport: 80 }),
      "--delete --family ipv6 --proto udp --orig-dst fd00:96::10 --orig-port-dst 53 --reply-src fd00::5 --reply-port-src 80".split(
        " ",
      ),
    );
    assert.ok(
      !deleteArgs({ family: 4, origDport: 30053, replySrc: "10.0.0.5", replySport: 80 }).includes("--orig-dst"),
    );
  });
});
