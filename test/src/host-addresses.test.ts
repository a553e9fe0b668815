import assert from "node:assert/strict";
import { test } from "node:test";
import { firstValueFrom, take, toArray } from "rxjs";
import { CalcGraph, computeDesiredState } from "../../calc-graph/calc-graph.js";
import { forkSpawn, type Spawn } from "../../iptables/exec.js";
import { ipSetOf } from "../../model/ipset-shards.js";
import {
  addrReader,
  HostAddressFeed,
  notHostInterface,
  parseHostAddresses,
  parseHostInterfaces,
} from "../../src/host-addresses.js";

const IP_JSON = JSON.stringify([
  {
    ifname: "lo",
    addr_info: [
      { local: "127.0.0.1", scope: "host" },
      { local: "::1", scope: "host" },
    ],
  },
  {
    ifname: "eth0",
    addr_info: [
      { local: "172.31.250.1", scope: "global" },
      { local: "fe80::1", scope: "link" },
    ],
  },
  { ifname: "nodelocaldns", addr_info: [{ local: "169.254.20.10", scope: "global" }] },
  { ifname: "kube-ipvs0", addr_info: [{ local: "10.96.0.10", scope: "global" }] },
  { ifname: "cali-ipvs0", addr_info: [{ local: "10.96.0.11", scope: "global" }] },
  { ifname: "cali12345678901", addr_info: [{ local: "169.254.1.1", scope: "global" }] },
]);

test("this host's interfaces with their addresses (host endpoints by expectedIPs): no workload or IPVS devices", () => {
  assert.deepEqual(
    [...parseHostInterfaces(IP_JSON, notHostInterface("cali", "cali-ipvs0"))],
    [
      ["eth0", ["172.31.250.1", "fe80::1"]],
      ["lo", ["127.0.0.1", "::1"]],
      ["nodelocaldns", ["169.254.20.10"]],
    ],
  );
});

test("this host's addresses: every interface but workload and IPVS devices, no link-local", () => {
  assert.deepEqual(parseHostAddresses(IP_JSON, notHostInterface("cali", "cali-ipvs0")), [
    "127.0.0.1",
    "169.254.20.10",
    "172.31.250.1",
    "::1",
  ]);
});

test("IPVS support: the kernel's host addresses join this-host (a graph input; a change re-renders only the set)", () => {
  const node = {
    kind: "Node" as const,
    namespace: "",
    name: "node1",
    value: { metadata: { name: "node1" }, status: { addresses: [{ type: "InternalIP", address: "172.31.250.1" }] } },
  };
  const before = computeDesiredState({ nodeName: "node1", kubeIPVSSupport: true }, [node]);
  assert.deepEqual([...ipSetOf(before.ipsets, "cali40this-host")!.members].sort(), ["127.0.0.1", "172.31.250.1"]);
  const g = new CalcGraph({ nodeName: "node1", kubeIPVSSupport: true });
  g.setHostAddresses(["169.254.20.10", "172.31.250.1", "fd00:fe11::1"]);
  const s1 = g.apply([node]);
  assert.deepEqual([...ipSetOf(s1.ipsets, "cali40this-host")!.members].sort(), [
    "127.0.0.1",
    "169.254.20.10",
    "172.31.250.1",
  ]);
  assert.deepEqual([...ipSetOf(s1.ipsets, "cali60this-host")!.members].sort(), ["::1", "fd00:fe11::1"]);
  g.setHostAddresses(["172.31.250.1"]);
  const s2 = g.apply([]);
  assert.deepEqual([...ipSetOf(s2.ipsets, "cali40this-host")!.members].sort(), ["127.0.0.1", "172.31.250.1"]);
  assert.equal(s2.iptables, s1.iptables, "no rule changes");
  // Without IPVS support there is no such set.
  assert.equal(ipSetOf(computeDesiredState({ nodeName: "node1" }, [node]).ipsets, "cali40this-host"), undefined);
});

test("the address feed emits only changes", async () => {
  const reads = [["10.0.0.1"], ["10.0.0.1"], ["10.0.0.1", "10.0.0.2"]];
  const feed = new HostAddressFeed(
    async () => reads.shift() ?? ["10.0.0.1", "10.0.0.2"],
    (e) => assert.fail(e),
  );
  const seen = firstValueFrom(feed.addresses.pipe(take(1), toArray()));
  assert.deepEqual(await feed.start(3_600_000), ["10.0.0.1"]);
  feed.poke(); // same: nothing
  await new Promise((r) => setTimeout(r, 10));
  feed.poke(); // changed
  assert.deepEqual(await seen, [["10.0.0.1", "10.0.0.2"]]);
  feed.stop();
});

test("the feed's reader runs `ip` through the given spawn (the daemon's helper) and parses only an output that changed", async () => {
  const outputs = [IP_JSON, IP_JSON, JSON.stringify([{ ifname: "eth0", addr_info: [{ local: "10.0.0.9" }] }])];
  const started: string[] = [];
  // A stand-in for `ip -j addr show`: printf of the next output, so the text really goes through a program.
  const spawn: Spawn = (cmd, args) => {
    started.push([cmd, ...args].join(" "));
    return forkSpawn("printf", ["%s", outputs.shift() ?? "[]"]);
  };
  let parses = 0;
  const read = addrReader((json) => {
    parses++;
    return parseHostAddresses(json, notHostInterface("cali", "cali-ipvs0"));
  }, spawn);
  const first = await read();
  assert.deepEqual(first, ["127.0.0.1", "169.254.20.10", "172.31.250.1", "::1"]);
  assert.equal(await read(), first, "the same output: the last value, not parsed again");
  assert.deepEqual(await read(), ["10.0.0.9"]);
  assert.equal(parses, 2);
  assert.deepEqual(started, ["ip -j addr show", "ip -j addr show", "ip -j addr show"]);
});
