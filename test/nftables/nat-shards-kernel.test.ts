// What spreading the services over several nat tables (issue 18, "shard the
// nat table") relies on, shown on the real kernel before any layout uses it:
// - the nat hook runs the nat base chains of every table in priority order and
//   stops at the first that sets up the connection's binding (nf_nat_inet_fn):
//   a shard that does not match passes the packet on, a later shard holding
//   the same address is never consulted, a later-priority node-port chain is
//   reached only when no shard translated;
// - a mark set by one table's chain (kube-proxy's masquerade mark) is seen by
//   another table's srcnat chain (one POSTROUTING masquerade for all shards);
// - both the prerouting (a pod's connection, forwarded) and the output hook
//   (the node's own connection) behave so.
// The binding is read from conntrack (the reply tuple), the chains reached
// from their rules' counters.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";

const missing = ["nft", "conntrack", "python3"].find((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0);
const skip = netnsSkipReason() ?? (missing && `needs ${missing}`);

function sh(ns: string, args: string[], input?: string): string {
  const p = spawnSync("ip", ["netns", "exec", ns, ...args], { input, encoding: "utf8" });
  assert.equal(p.status, 0, `${args.join(" ")}: ${p.stdout}${p.stderr}`);
  return p.stdout;
}

/** One UDP datagram from `src` (any when empty) to `dst`:`port`. */
function sendUdp(ns: string, dst: string, port: number, src = ""): void {
  const py = `import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${src}', 0)); s.sendto(b'x', ('${dst}', ${port}))`;
  sh(ns, ["python3", "-c", py]);
}

/** conntrack's entry for UDP to `dst`:`port`: its reply source (the DNAT target) and destination (SNAT). */
function binding(ns: string, dst: string, port: number): { to: string; replyDst: string } {
  const out = sh(ns, ["conntrack", "-L", "-p", "udp", "--orig-dst", dst, "--dport", String(port)]);
  const line = out.split("\n").find((l) => l.includes(`dst=${dst}`));
  assert.ok(line, `no conntrack entry for ${dst}:${port}: ${out}`);
  const f = line.split(/\s+/).filter((w) => w.startsWith("src=") || w.startsWith("dst=") || w.startsWith("sport="));
  // Fields: orig src, orig dst, orig sport, reply src, reply dst, reply sport.
  const srcs = f.filter((w) => w.startsWith("src=")).map((w) => w.slice(4));
  const dsts = f.filter((w) => w.startsWith("dst=")).map((w) => w.slice(4));
  return { to: srcs[1], replyDst: dsts[1] };
}

/** The packet count of the rule commented `c` in our tables. */
function hits(ns: string, table: string, c: string): number {
  const out = sh(ns, ["nft", "list", "table", "ip", table]);
  const line = out.split("\n").find((l) => l.includes(`comment "${c}"`));
  assert.ok(line, `no rule ${c} in ${table}`);
  return Number(/packets (\d+)/.exec(line)?.[1]);
}

// Shards 0-3 at consecutive priorities (2 and 3 with kube-proxy's verdict map,
// the same map name in each table), node ports after them, the masquerade in
// a table of its own. 10.96.0.20 is in both shards
// (a collision no real layout has) to show the first binding wins.
const SHARD = (name: string, prio: number, svc: string) => `
table ip ${name} {
  chain mark-for-masquerade { meta mark set meta mark or 0x4000; }
  chain services {
    ${svc}
  }
  chain PREROUTING { type nat hook prerouting priority ${prio}; policy accept; jump services; }
  chain OUTPUT { type nat hook output priority ${prio}; policy accept; jump services; }
}`;
/** A shard in kube-proxy's layout: its own `service-ips` map sending one service IP to its chain. */
const MAP_SHARD = (name: string, prio: number, vip: string, to: string, c: string) => `
table ip ${name} {
  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }
  chain service-${c} { meta l4proto udp counter dnat to ${to}:53 comment "${c}"; }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips
  }
  chain PREROUTING { type nat hook prerouting priority ${prio}; policy accept; jump services; }
  chain OUTPUT { type nat hook output priority ${prio}; policy accept; jump services; }
}
add element ip ${name} service-ips { ${vip} . udp . 53 : goto service-${c} }`;
const RULES = `
${SHARD(
  "calico-nat",
  -100,
  `ip daddr 10.96.0.20 udp dport 53 counter dnat to 10.65.1.20:53 comment "s0-dup"
    ip daddr 10.96.0.30 udp dport 53 counter jump mark-for-masquerade comment "s0-mark"
    ip daddr 10.96.0.30 udp dport 53 counter dnat to 10.65.1.30:53 comment "s0-masq"`,
)}
${SHARD(
  "calico-nat-1",
  -99,
  `ip daddr 10.96.0.10 udp dport 53 counter dnat to 10.65.1.10:5353 comment "s1-only"
    ip daddr 10.96.0.20 udp dport 53 counter dnat to 10.65.2.20:53 comment "s1-dup"`,
)}
table ip calico-nat-nodeports {
  chain PREROUTING { type nat hook prerouting priority -90; policy accept; counter comment "np-reached";
    fib daddr type local udp dport 30053 counter dnat to 10.65.3.53:53 comment "np"; }
  chain OUTPUT { type nat hook output priority -90; policy accept; counter comment "np-out-reached";
    fib daddr type local udp dport 30053 counter dnat to 10.65.3.53:53 comment "np-out"; }
}
${MAP_SHARD("calico-nat-2", -98, "10.96.0.40", "10.65.4.1", "m2-a")}
${MAP_SHARD("calico-nat-3", -97, "10.96.0.41", "10.65.4.2", "m3-b")}
table ip calico-nat-post {
  chain POSTROUTING { type nat hook postrouting priority srcnat; policy accept;
    meta mark & 0x4000 == 0x4000 counter masquerade comment "masq"; }
}
`;

describe("nat tables in priority order on the real kernel (shard semantics)", {
  ...skipIf(skip),
  timeout: 60_000,
}, () => {
  let node = "";
  let pod = "";
  before(() => {
    node = createNetns("fxshn");
    pod = createNetns("fxshp");
    for (const ns of [node, pod]) sh(ns, ["ip", "link", "set", "lo", "up"]);
    // The node: a veth to the pod, the "pods" beyond a second veth whose end in the pod's
    // namespace (no address, no forwarding) drops what it gets: routed, never answered.
    sh(node, ["ip", "link", "add", "calipod", "type", "veth", "peer", "name", "eth0", "netns", pod]);
    sh(node, ["ip", "addr", "add", "192.168.60.1/24", "dev", "calipod"]);
    sh(node, ["ip", "link", "set", "calipod", "up"]);
    sh(node, ["ip", "link", "add", "pods", "type", "veth", "peer", "name", "sink", "netns", pod]);
    sh(pod, ["ip", "link", "set", "sink", "up"]);
    sh(node, ["ip", "addr", "add", "10.65.0.1/16", "dev", "pods"]);
    sh(node, ["ip", "addr", "add", "10.65.0.7/16", "dev", "pods"]);
    sh(node, ["ip", "link", "set", "pods", "up"]);
    sh(node, ["ip", "route", "add", "10.96.0.0/16", "dev", "pods"]);
    sh(node, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    sh(pod, ["ip", "addr", "add", "192.168.60.2/24", "dev", "eth0"]);
    sh(pod, ["ip", "link", "set", "eth0", "up"]);
    sh(pod, ["ip", "route", "add", "default", "via", "192.168.60.1"]);
    sh(node, ["nft", "-f", "-"], RULES);
  });
  after(() => {
    deleteNetns(pod);
    deleteNetns(node);
  });

  for (const hook of ["prerouting", "output"] as const) {
    const from = () => (hook === "prerouting" ? pod : node);
    const reached = hook === "prerouting" ? "np-reached" : "np-out-reached";

    test(`${hook}: a shard that does not match passes the connection on to the next`, () => {
      const before = hits(node, "calico-nat-nodeports", reached);
      sendUdp(from(), "10.96.0.10", 53);
      assert.equal(binding(node, "10.96.0.10", 53).to, "10.65.1.10");
      // Translated by shard 1: the later node-port chain was not run.
      assert.equal(hits(node, "calico-nat-nodeports", reached), before);
      sh(node, ["conntrack", "-D", "-p", "udp", "--orig-dst", "10.96.0.10"]);
    });

    test(`${hook}: the first shard's binding wins; a later table is not consulted`, () => {
      const s1 = hits(node, "calico-nat-1", "s1-dup");
      sendUdp(from(), "10.96.0.20", 53);
      assert.equal(binding(node, "10.96.0.20", 53).to, "10.65.1.20");
      assert.equal(hits(node, "calico-nat-1", "s1-dup"), s1);
      sh(node, ["conntrack", "-D", "-p", "udp", "--orig-dst", "10.96.0.20"]);
    });

    test(`${hook}: node ports, checked after every shard, are reached when no shard translated`, () => {
      const before = hits(node, "calico-nat-nodeports", reached);
      // The pod reaches the node's address on the veth; the node its own on `pods`.
      const dst = hook === "prerouting" ? "192.168.60.1" : "10.65.0.1";
      sendUdp(from(), dst, 30053);
      assert.equal(binding(node, dst, 30053).to, "10.65.3.53");
      assert.equal(hits(node, "calico-nat-nodeports", reached), before + 1);
      sh(node, ["conntrack", "-D", "-p", "udp", "--orig-dst", dst]);
    });
  }

  test("kube-proxy's layout: each table's own service-ips map dispatches its own services", () => {
    for (const [dst, to, t, c] of [
      ["10.96.0.40", "10.65.4.1", "calico-nat-2", "m2-a"],
      ["10.96.0.41", "10.65.4.2", "calico-nat-3", "m3-b"],
    ]) {
      const n = hits(node, t, c);
      sendUdp(pod, dst, 53);
      assert.equal(binding(node, dst, 53).to, to);
      assert.equal(hits(node, t, c), n + 1);
    }
  });

  test("a masquerade mark set in a shard is masqueraded by another table's srcnat chain", () => {
    const masq = hits(node, "calico-nat-post", "masq");
    // From the node's secondary address: masquerade rewrites it to the primary one.
    sendUdp(node, "10.96.0.30", 53, "10.65.0.7");
    const b = binding(node, "10.96.0.30", 53);
    assert.equal(b.to, "10.65.1.30");
    assert.equal(b.replyDst, "10.65.0.1");
    assert.equal(hits(node, "calico-nat-post", "masq"), masq + 1);
    // The same from the pod, forwarded: its source is masqueraded to the node's address on the way to the pods.
    sendUdp(pod, "10.96.0.30", 53);
    const f = sh(node, ["conntrack", "-L", "-p", "udp", "--orig-src", "192.168.60.2", "--orig-dst", "10.96.0.30"]);
    assert.match(f, /src=10\.65\.1\.30 dst=10\.65\.0\.1 /, f);
  });
});
