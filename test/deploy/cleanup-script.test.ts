// deploy/felix-ts-cleanup.sh in a throwaway namespace holding our objects
// (cali- chains and rules in both iptables backends, cali4/cali6 IP sets,
// protocol-80 routes, vxlan.calico) beside other programs' (a docker-like
// chain, an sshd rule, a kube-proxy set, a plain route and device): ours go,
// theirs stay exactly as they were; the health-port guard and --dry-run
// change nothing.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { GOLDEN_DIR } from "../golden-cases.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";

const SCRIPT = join(GOLDEN_DIR, "..", "..", "deploy", "felix-ts-cleanup.sh");
const missing = ["ipset", "iptables-legacy-restore", "iptables-nft-restore", "ss", "python3"].find(
  (t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0,
);
const skip = netnsSkipReason() ?? (missing && `needs ${missing}`);

function inNs(ns: string, cmd: string, args: string[], input?: string) {
  const r = spawnSync("ip", ["netns", "exec", ns, cmd, ...args], { input, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function must(ns: string, cmd: string, args: string[], input?: string): string {
  const r = inNs(ns, cmd, args, input);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.err}`);
  return r.out;
}

const HASH = "cali:0123456789abcdef";

function populate(ns: string): void {
  must(
    ns,
    "ipset",
    ["restore"],
    [
      "create cali40s:a hash:net family inet",
      "add cali40s:a 10.65.1.0/24",
      "create cali60s:b hash:net family inet6",
      "create KUBE-CLUSTER-IP hash:ip,port family inet",
      "add KUBE-CLUSTER-IP 10.96.0.1,tcp:443",
      "",
    ].join("\n"),
  );
  for (const mode of ["legacy", "nft"]) {
    must(
      ns,
      `iptables-${mode}-restore`,
      ["--noflush"],
      [
        "*filter",
        ":cali-FORWARD - [0:0]",
        ":cali-from-wl - [0:0]",
        ":DOCKER-USER - [0:0]",
        `-A cali-FORWARD -m comment --comment "${HASH}" -j cali-from-wl`,
        `-A cali-from-wl -m set --match-set cali40s:a src -m comment --comment "${HASH}" -j ACCEPT`,
        "-A FORWARD -j DOCKER-USER",
        `-A FORWARD -m comment --comment "${HASH}" -j cali-FORWARD`,
        "-A FORWARD -m comment --comment sshd -j ACCEPT",
        "-A DOCKER-USER -j RETURN",
        `-A INPUT -m comment --comment "${HASH}" -m mark --mark 0x10000/0x10000 -j ACCEPT`,
        "COMMIT",
        "*nat",
        ":cali-nat-outgoing - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        "-A POSTROUTING -j KUBE-POSTROUTING",
        `-A POSTROUTING -m comment --comment "${HASH}" -j cali-nat-outgoing`,
        "-A cali-nat-outgoing -j MASQUERADE",
        "COMMIT",
        "",
      ].join("\n"),
    );
  }
  must(
    ns,
    "ip6tables-legacy-restore",
    ["--noflush"],
    "*filter\n:cali-FORWARD - [0:0]\n-A FORWARD -j cali-FORWARD\nCOMMIT\n",
  );
  must(ns, "ip", ["link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1"]);
  must(ns, "ip", ["link", "set", "uplink1", "up"]);
  must(ns, "ip", ["link", "set", "uplink0", "up"]);
  must(ns, "ip", ["addr", "add", "172.18.0.1/24", "dev", "uplink0"]);
  must(ns, "ip", ["route", "add", "10.65.2.0/24", "via", "172.18.0.2", "proto", "80"]);
  must(ns, "ip", ["route", "add", "10.99.0.0/24", "via", "172.18.0.3"]);
  must(ns, "ip", ["link", "add", "vxlan.calico", "type", "vxlan", "id", "4096", "dstport", "4789", "dev", "uplink0"]);
}

/** Everything in the namespace the script may touch, as text. */
function snapshot(ns: string) {
  const strip = (s: string) =>
    s
      .split("\n")
      .filter((l) => !l.startsWith("#"))
      .map((l) => l.replace(/\[\d+:\d+\]/, "[0:0]"))
      .join("\n");
  return {
    legacy: strip(must(ns, "iptables-legacy-save", [])),
    nft: strip(must(ns, "iptables-nft-save", [])),
    legacy6: strip(must(ns, "ip6tables-legacy-save", [])),
    sets: must(ns, "ipset", ["list", "-n"]).split("\n").filter(Boolean).sort(),
    routes: must(ns, "ip", ["-4", "route", "show"]),
    links: must(ns, "ip", ["-o", "link", "show"])
      .split("\n")
      .map((l) => l.split(":")[1]?.trim().split("@")[0])
      .filter(Boolean)
      .sort(),
  };
}

const cleanup = (ns: string, ...args: string[]) => inNs(ns, "bash", [SCRIPT, ...args]);

test("felix-ts-cleanup.sh removes ours and only ours", { ...skipIf(skip), timeout: 120_000 }, async () => {
  assert.ok(existsSync(SCRIPT), SCRIPT);
  const ns = createNetns("fxclean");
  let listener: ChildProcess | undefined;
  try {
    populate(ns);
    const before = snapshot(ns);
    assert.match(before.legacy, /cali-FORWARD/);

    // --dry-run says what it would do and changes nothing.
    const dry = cleanup(ns, "--dry-run", "--routes");
    assert.equal(dry.code, 0, dry.err);
    assert.match(dry.err, /iptables \(legacy\): would remove 3 rules in built-in chains, 3 cali- chains/);
    assert.match(dry.err, /would destroy ip set cali40s:a/);
    assert.match(dry.err, /would delete device vxlan\.calico/);
    assert.deepEqual(snapshot(ns), before);

    // The guard: something listening on Felix's health port stops it (exit 2), changing nothing.
    listener = spawn(
      "ip",
      [
        "netns",
        "exec",
        ns,
        "python3",
        "-c",
        "import socket,sys;s=socket.socket();s.bind(('0.0.0.0',9099));s.listen();print('up',flush=True);sys.stdin.read()",
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      listener!.stdout!.once("data", () => resolve());
      listener!.once("exit", (code) => reject(new Error(`the port-9099 listener exited (${code})`)));
    });
    const guarded = cleanup(ns, "--routes");
    assert.equal(guarded.code, 2);
    assert.match(guarded.err, /something listens on port 9099/);
    assert.deepEqual(snapshot(ns), before);
    listener.stdin!.end();
    await new Promise((r) => listener!.once("exit", r));
    listener = undefined;

    const r = cleanup(ns, "--routes");
    assert.equal(r.code, 0, r.err);
    const after = snapshot(ns);
    for (const mode of ["legacy", "nft"] as const) {
      assert.doesNotMatch(after[mode], /cali/, `${mode}: something of ours is left`);
      assert.match(after[mode], /^:DOCKER-USER - \[0:0\]$/m);
      assert.match(after[mode], /^-A FORWARD -j DOCKER-USER\n-A FORWARD -m comment --comment sshd -j ACCEPT$/m);
      assert.match(after[mode], /^-A DOCKER-USER -j RETURN$/m);
      assert.match(after[mode], /^-A POSTROUTING -j KUBE-POSTROUTING$/m);
    }
    assert.doesNotMatch(after.legacy6, /cali/);
    assert.deepEqual(after.sets, ["KUBE-CLUSTER-IP"]);
    assert.doesNotMatch(after.routes, /10\.65\.2\.0/);
    assert.match(after.routes, /^10\.99\.0\.0\/24 via 172\.18\.0\.3/m);
    assert.deepEqual(
      after.links,
      before.links.filter((l) => l !== "vxlan.calico"),
    );

    // Nothing of ours left: a second run has nothing to do.
    const again = cleanup(ns, "--routes");
    assert.equal(again.code, 0, again.err);
    assert.match(again.err, /iptables \(legacy\): nothing of ours/);
    assert.deepEqual(snapshot(ns), after);
  } finally {
    listener?.kill();
    deleteNetns(ns);
  }
});

test("felix-ts-cleanup.sh: an unknown argument is bad usage (exit 2)", {
  ...skipIf(process.platform !== "linux" && "needs bash"),
}, () => {
  const r = spawnSync("bash", [SCRIPT, "--everything"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown argument --everything/);
});
