// End to end, with the real kernel: two nodes joined by an underlay, pods
// wired as Calico's CNI does, real TCP/UDP servers, the real `felix` binary in
// each node namespace. The verdict comes from real connections.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  exec,
  pythonPath,
  requirementsMissing,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import {
  clusterManifests,
  eventually,
  FELIX_DUMP,
  felixDaemon,
  felixOnce,
  ManifestDir,
  statusDir,
  TCP80,
  UDP81,
} from "./cluster.js";
import { TEST_DATAPLANE } from "./dataplane-mode.js";

const NFT = TEST_DATAPLANE === "nftables";

const skip = requirementsMissing();
const PORTS = [TCP80, UDP81];

type Expect = (client: string, server: string, port: { port: number; protocol: string }) => boolean;

describe("felix end to end", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let n1: TopoNode;
  let n2: TopoNode;
  let pods: TopoPod[];

  async function expectMatrix(expected: Expect, what: string) {
    // 24 at a time (72 cells): a blocked cell waits out its 600 ms, the open ones answer in tens of ms.
    const m = await topo.probeMatrix(pods, PORTS, { timeoutMs: 600, concurrency: 24 });
    const c = m.compare((cl, sv, p) => cl === sv || expected(cl, sv, p));
    assert.ok(c.ok, `${what}: connectivity differs from expected\n${c.text}\nobserved:\n${m.text}`);
  }

  async function programBoth(): Promise<string[]> {
    const runs = await felixOnce(topo, dir.path, [n1, n2]);
    for (const r of runs) assert.equal(r.code, 0, r.output);
    return runs.map((r) => r.output);
  }

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
    n2 = await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24" });
    pods = [];
    for (const [node, sub] of [
      [n1, 1],
      [n2, 2],
    ] as const) {
      for (const [i, ns] of ["x", "y", "z"].entries()) {
        pods.push(
          await topo.addPod(node, { namespace: ns, name: node === n1 ? "a" : "b", ip: `10.65.${sub}.${i + 2}` }),
        );
      }
    }
    dir = new ManifestDir();
    dir.write("cluster.yaml", clusterManifests(topo));
    // A foreign chain and rule that every sync must leave alone.
    await exec(n1.netns, "iptables-legacy", "-N", "FOREIGN");
    await exec(n1.netns, "iptables-legacy", "-A", "FOREIGN", "-j", "RETURN");
    await exec(n1.netns, "iptables-legacy", "-A", "FORWARD", "-j", "FOREIGN");
  });

  after(async () => {
    for (const n of [n1, n2]) if (n) rmSync(statusDir(topo, n), { recursive: true, force: true });
    await topo?.destroy();
    dir?.destroy();
  });

  test("no policy: every pod reaches every pod, on one node and across nodes", async () => {
    await programBoth();
    await expectMatrix(() => true, "no policy");
  });

  test("a second --once changes nothing and says so", async () => {
    const out = await programBoth();
    for (const o of out) assert.match(o, /dataplane already in sync: no changes/);
  });

  test("iptables proxy mode, a restart with services: the nat tables go first, the end state is the one-stage one", async () => {
    // Over the state the runs above left (a restart): a stale nat chain of ours, and Services new to the kernel.
    const env = { FELIX_PROXYMODE: "iptables" };
    if (!NFT) await exec(n1.netns, "iptables-legacy", "-t", "nat", "-N", "cali-stale-nat");
    // nftables: in `calico-nat`, there since the runs above (stage 1 leaves it to the full apply).
    else await exec(n1.netns, "nft", "add", "chain", "ip", "calico-nat", "nat-cali-stale-nat");
    const endpoint = (ip: string, nodeName: string) => ({ addresses: [ip], nodeName, conditions: { ready: true } });
    dir.write("services.yaml", [
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web", namespace: "x" },
        spec: {
          clusterIP: "10.96.0.10",
          ports: [{ name: "http", port: 8080, targetPort: TCP80.port, protocol: "TCP" }],
        },
      },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "web-1", namespace: "x", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        ports: [{ name: "http", port: TCP80.port, protocol: "TCP" }],
        endpoints: [endpoint("10.65.1.2", "node1"), endpoint("10.65.2.2", "node2")],
      },
    ]);
    const runs = await felixOnce(topo, dir.path, [n1, n2], env);
    for (const r of runs) {
      assert.equal(r.code, 0, r.output);
      // Two stages in both dataplanes (nftables: the service's nat table, new, is loaded in stage 1).
      assert.match(r.output, /"msg":"nat table programmed ahead of the first apply"/);
      if (NFT) assert.match(r.output, /"nftBytes":[1-9][^\n]*"msg":"nat table programmed ahead/);
      else assert.match(r.output, /"msg":"nat table restore started"/);
    }
    // The kernel is what the graph computes in one pass over the directory (felix-dump), tables, sets and routes.
    const dump = topo.spawn(
      n1,
      process.execPath,
      [FELIX_DUMP, "diff", "--live", "--resources", dir.path, "--node-name", n1.name],
      { ...process.env, ...env },
    );
    assert.equal(await dump.exited, 0, dump.output());
    if (!NFT) assert.doesNotMatch(await exec(n1.netns, "iptables-legacy-save", "-t", "nat"), /cali-stale-nat/);
    else assert.doesNotMatch(await exec(n1.netns, "nft", "list", "table", "ip", "calico-nat"), /cali-stale-nat/);
    const client = pods.find((p) => p.ip === "10.65.1.3")!;
    const r = await topo.probeDetail(client, "10.96.0.10", 8080, "tcp", 1000);
    assert.ok(r.ok, `the ClusterIP answers: ${r.error}`);
    const again = await felixOnce(topo, dir.path, [n1], env);
    assert.match(again[0].output, /dataplane already in sync: no changes/);
    dir.remove("services.yaml");
    await programBoth();
  });

  test("default-deny ingress isolates a namespace's pods", async () => {
    dir.write("deny-x.yaml", [
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "deny", namespace: "x" },
        spec: { podSelector: {}, policyTypes: ["Ingress"] },
      },
    ]);
    await programBoth();
    await expectMatrix((_c, s) => !s.startsWith("x/"), "deny ingress to x");
  });

  test("namespaceSelector with a named port opens exactly that port", async () => {
    dir.write("allow-y-x.yaml", [
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "allow-from-y", namespace: "x" },
        spec: {
          podSelector: {},
          ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }], ports: [{ port: "serve-80-tcp" }] }],
        },
      },
    ]);
    await programBoth();
    await expectMatrix(
      (c, s, p) => !s.startsWith("x/") || (c.startsWith("y/") && p.protocol === "tcp" && p.port === 80),
      "y → x on serve-80-tcp",
    );
  });

  test("egress to an ipBlock with except, UDP only", async () => {
    dir.write("egress-z.yaml", [
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "egress", namespace: "z" },
        spec: {
          podSelector: { matchLabels: { pod: "a" } },
          policyTypes: ["Egress"],
          egress: [
            {
              to: [{ ipBlock: { cidr: "10.65.0.0/16", except: ["10.65.2.0/24"] } }],
              ports: [{ protocol: "UDP", port: 81 }],
            },
          ],
        },
      },
    ]);
    await programBoth();
    await expectMatrix((c, s, p) => {
      const ingressOk = !s.startsWith("x/") || (c.startsWith("y/") && p.protocol === "tcp" && p.port === 80);
      const egressOk = c !== "z/a" || (p.protocol === "udp" && s.endsWith("/a"));
      return ingressOk && egressOk;
    }, "egress from z/a to node1's pods on UDP 81 only");
  });

  test("deleting the policies restores connectivity and removes their chains and sets", async () => {
    for (const f of ["deny-x.yaml", "allow-y-x.yaml", "egress-z.yaml"]) dir.remove(f);
    await programBoth();
    await expectMatrix(() => true, "policies deleted");
    for (const n of [n1, n2]) {
      const save = await exec(n.netns, "iptables-legacy-save");
      assert.doesNotMatch(save, /cali-p[io]-/);
      assert.doesNotMatch(await exec(n.netns, "ipset", "list", "-n"), /cali/);
      if (NFT) {
        const table = await exec(n.netns, "nft", "list", "table", "ip", "calico");
        assert.doesNotMatch(table, /chain filter-cali-p[io]-/);
        assert.doesNotMatch(table, /^\s*set /m, "no selector's set left");
      }
    }
  });

  test("the foreign chain and rule survived every sync, below our hooks", async () => {
    const save = await exec(n1.netns, "iptables-legacy-save", "-t", "filter");
    assert.match(save, /^:FOREIGN /m);
    assert.match(save, /^-A FOREIGN -j RETURN$/m);
    const fwd = save.split("\n").filter((l) => l.startsWith("-A FORWARD "));
    assert.ok(fwd.includes("-A FORWARD -j FOREIGN"));
    // nftables mode: nothing of ours in iptables at all (our hooks are base chains of `ip calico`).
    if (NFT) assert.doesNotMatch(save, /cali/);
    else assert.match(fwd[0], /-j cali-FORWARD$/);
  });

  test("felix-dump diff --live: 0 in sync, 1 with the differences after tampering", async () => {
    // nftables mode: our tables are read over netlink, as the agent reads them: an nft that refuses `-j` is not asked.
    const noJson = mkdtempSync(join(tmpdir(), "fx-nft-no-json-"));
    const nftPath = execFileSync("sh", ["-c", "command -v nft"], { encoding: "utf8" }).trim();
    writeFileSync(
      join(noJson, "nft"),
      `#!/bin/sh\nfor a in "$@"; do [ "$a" = -j ] && { echo "nft -j asked" >&2; exit 99; }; done\nexec ${nftPath} "$@"\n`,
      { mode: 0o755 },
    );
    const env = { ...process.env, PATH: `${noJson}:${process.env.PATH}` };
    const dump = (n: TopoNode) =>
      topo.spawn(
        n,
        process.execPath,
        [FELIX_DUMP, "diff", "--live", "--resources", dir.path, "--node-name", n.name],
        env,
      );
    const ok = dump(n1);
    assert.equal(await ok.exited, 0, ok.output());
    assert.match(ok.output(), /in sync/);
    if (NFT) await exec(n1.netns, "nft", "flush", "chain", "ip", "calico", "filter-cali-wl-to-host");
    else await exec(n1.netns, "iptables-legacy", "-F", "cali-wl-to-host");
    await exec(n1.netns, "ip", "route", "del", "10.65.2.0/24");
    const bad = dump(n1);
    assert.equal(await bad.exited, 1, bad.output());
    assert.match(
      bad.output(),
      NFT
        ? /nftables ip calico: chain filter-cali-wl-to-host: rules differ/
        : /iptables v4 filter: cali-wl-to-host: differs/,
    );
    assert.match(bad.output(), /route: 10\.65\.2\.0\/24: missing/);
    rmSync(noJson, { recursive: true });
    await programBoth();
  });

  test("a pod whose interface appears later is routed on the link event, not on a timer", async () => {
    const late = { namespace: "y", name: "late", ip: "10.65.1.20" };
    dir.write("late.yaml", [
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: late.name, namespace: late.namespace, labels: { pod: "late" } },
        spec: { nodeName: "node1" },
        status: { phase: "Running", podIP: late.ip },
      },
    ]);
    // The daemon's only timers are the refresh (600 s here: it cannot fire during the test) and
    // the retry after a failed apply (none may be logged): so the route can come only from the
    // link event. The deadline below is a hang guard, not a speed claim.
    const d = felixDaemon(topo, dir.path, n1, { FELIX_IPTABLESREFRESHINTERVAL: "600" });
    try {
      await eventually(
        async () => d.output(),
        (o) => o.includes("device-missing"),
      );
      const t0 = performance.now();
      const pod = await topo.addPod(n1, late);
      await eventually(
        () => exec(n1.netns, "ip", "route", "show", `${late.ip}/32`),
        (r) => r.includes(pod.hostIface),
        30_000,
        5,
      );
      console.log(
        `# daemon: new interface routed ${(performance.now() - t0).toFixed(0)} ms after the veth was created`,
      );
      assert.doesNotMatch(d.output(), /dataplane apply failed/);
      const sys = await exec(n1.netns, "sysctl", "-n", `net.ipv4.conf.${pod.hostIface}.proxy_arp`);
      assert.equal(sys.trim(), "1");
      await eventually(
        () => topo.probe(pods[0], pod, 80, "tcp", 300),
        (ok) => ok,
      );
    } finally {
      await d.kill();
      await topo.removePod(`${late.namespace}/${late.name}`);
      dir.remove("late.yaml");
    }
    await programBoth();
  });

  describe("the watching daemon", () => {
    test("applies a manifest change, survives bad input, repairs drift and keeps connections across restarts", async () => {
      const a = pods.find((p) => p.key === "x/a")!;
      const c = pods.find((p) => p.key === "y/a")!;
      const d1 = felixDaemon(topo, dir.path, n1);
      const d2 = felixDaemon(topo, dir.path, n2);
      for (const d of [d1, d2]) {
        await eventually(
          async () => d.output(),
          (o) => /"msg":"dataplane (programmed|already in sync)/.test(o),
        );
      }

      // A policy file appears: x/a is isolated for ingress.
      dir.write("isolate-a.yaml", [
        {
          apiVersion: "networking.k8s.io/v1",
          kind: "NetworkPolicy",
          metadata: { name: "isolate-a", namespace: "x" },
          spec: { podSelector: { matchLabels: { pod: "a" } } },
        },
      ]);
      const blocked = await eventually(
        () => topo.probe(c, a, 80, "tcp", 300),
        (ok) => !ok,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\nnode1 daemon:\n${d1.output().slice(-4000)}`);
      });
      console.log(`# daemon: manifest change → enforced in ${blocked.ms.toFixed(0)} ms (including probe time)`);

      // A malformed manifest is reported with its file name; enforcement stays.
      dir.write("broken.yaml", "kind: NetworkPolicy\nmetadata: {name: [unclosed\n");
      await eventually(
        async () => d1.output(),
        (o) => o.includes("broken.yaml"),
      );
      assert.equal(await topo.probe(c, a, 80, "tcp", 300), false, "isolation still enforced");
      dir.remove("broken.yaml");

      // Drift: someone deletes our jump from FORWARD; the refresh (1 s) restores it.
      const repaired = NFT
        ? await (async () => {
            await exec(n1.netns, "nft", "flush", "chain", "ip", "calico", "filter-FORWARD");
            return eventually(
              () => exec(n1.netns, "nft", "list", "chain", "ip", "calico", "filter-FORWARD"),
              (s) => /jump filter-cali-FORWARD/.test(s),
            );
          })()
        : await (async () => {
            await exec(n1.netns, "iptables-legacy", "-D", "FORWARD", "1");
            return eventually(
              () => exec(n1.netns, "iptables-legacy-save", "-t", "filter"),
              (s) =>
                /^-A FORWARD .*-j cali-FORWARD$/m.test(s.split("\n").find((l) => l.startsWith("-A FORWARD")) ?? ""),
            );
          })();
      console.log(`# daemon: deleted hook rule repaired in ${repaired.ms.toFixed(0)} ms`);

      // Back to open; then y/b gets a deny-all ingress policy and, beside it, one
      // allowing y/a on tcp/9000: a held connection through that allow must
      // survive a restart of both daemons, and the deny must hold throughout.
      dir.remove("isolate-a.yaml");
      await eventually(
        () => topo.probe(c, a, 80, "tcp", 300),
        (ok) => ok,
      );
      const b = pods.find((p) => p.key === "y/b")!;
      const xa = pods.find((p) => p.key === "x/a")!;
      dir.write("hold-policies.yaml", [
        {
          apiVersion: "networking.k8s.io/v1",
          kind: "NetworkPolicy",
          metadata: { name: "deny-all", namespace: "y" },
          spec: { podSelector: {}, policyTypes: ["Ingress"] },
        },
        {
          apiVersion: "networking.k8s.io/v1",
          kind: "NetworkPolicy",
          metadata: { name: "allow-a-9000", namespace: "y" },
          spec: {
            podSelector: { matchLabels: { pod: "b" } },
            ingress: [
              { from: [{ podSelector: { matchLabels: { pod: "a" } } }], ports: [{ protocol: "TCP", port: 9000 }] },
            ],
          },
        },
      ]);
      // Both daemons program them: node1 holds deny-all's chain (for y/a),
      // node2 both policies' (for y/b).
      for (const [n, chains] of [
        [n1, 1],
        [n2, 2],
      ] as const) {
        await eventually(
          () =>
            NFT
              ? exec(n.netns, "nft", "list", "table", "ip", "calico")
              : exec(n.netns, "iptables-legacy-save", "-t", "filter"),
          (save) => (save.match(NFT ? /^\s*chain filter-cali-pi-/gm : /^:cali-pi-/gm) ?? []).length === chains,
        );
      }
      await eventually(
        () => topo.probe(c, b, 80, "tcp", 300),
        (ok) => !ok,
      );
      const server = topo.spawn(b, pythonPath() ?? "python3", ["-c", HOLD_SERVER]);
      await eventually(
        async () => server.output(),
        (o) => o.includes("listening"),
      );
      const client = topo.spawn(c, pythonPath() ?? "python3", ["-c", HOLD_CLIENT, b.ip]);
      await eventually(
        async () => client.output(),
        (o) => (o.match(/ok/g) ?? []).length >= 3,
      );
      const denied = async () => {
        assert.equal(await topo.probe(c, b, 80, "tcp", 300), false, "deny-all: y/a → y/b tcp/80");
        assert.equal(await topo.probe(xa, b, 80, "tcp", 300), false, "deny-all: x/a → y/b tcp/80");
      };
      await denied();
      for (const d of [d1, d2]) {
        await d.kill("SIGTERM");
        assert.equal(await d.exited, 0, "clean exit on SIGTERM");
      }
      const r1 = felixDaemon(topo, dir.path, n1);
      const r2 = felixDaemon(topo, dir.path, n2);
      // Each new daemon has applied its first state (programmed, or found it already in sync).
      for (const r of [r1, r2]) {
        await eventually(
          async () => r.output(),
          (o) => /"msg":"dataplane (programmed|already in sync)/.test(o),
        );
      }
      const before = (client.output().match(/ok/g) ?? []).length;
      await eventually(
        async () => (client.output().match(/ok/g) ?? []).length,
        (n) => n >= before + 5,
      );
      assert.doesNotMatch(client.output(), /FAIL/, client.output());
      await denied();
      await client.kill();
      await server.kill();
      await r1.kill();
      await r2.kill();
      dir.remove("hold-policies.yaml");
    });
  });
});

/** Echo server on 9000 for the held connection. */
const HOLD_SERVER = `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000)); s.listen(1); print("listening", flush=True)
c, _ = s.accept()
while True:
    d = c.recv(100)
    if not d: break
    c.sendall(d)
`;

/** One connection, a ping every 100 ms; prints ok per echo, FAIL on any error. */
const HOLD_CLIENT = `
import socket, sys, time
c = socket.create_connection((sys.argv[1], 9000), timeout=2)
while True:
    try:
        c.sendall(b"ping"); d = c.recv(100)
        print("ok" if d == b"ping" else "FAIL bad echo", flush=True)
        if d != b"ping": break
    except Exception as e:
        print("FAIL", e, flush=True); break
    time.sleep(0.1)
`;
