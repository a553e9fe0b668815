// Which dataplane the agent chooses: FELIX_NFTABLESMODE over FelixConfiguration
// `node.<name>` over `default`, Auto following kube-proxy's nftables tables;
// and the first datastore batch read without losing it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { firstValueFrom, Observable, of, Subject, toArray } from "rxjs";
import type { ResourceUpdate } from "../../model/resource.js";
import { firstBatch, readFromNow } from "../../src/first-batch.js";
import {
  kubeProxyNftPresent,
  listNftTables,
  NftablesModeSetting,
  resolveNftablesMode,
} from "../../src/nftables-mode.js";

const felixConfig = (name: string, nftablesMode?: string): ResourceUpdate => ({
  kind: "FelixConfiguration",
  namespace: "",
  name,
  value: {
    apiVersion: "projectcalico.org/v3",
    kind: "FelixConfiguration",
    metadata: { name },
    spec: nftablesMode === undefined ? {} : { nftablesMode },
  } as ResourceUpdate["value"],
});

test("nftablesMode: env > node.<name> > default > Auto; other nodes' settings and bad values do not count", () => {
  const s = new NftablesModeSetting("node1", {});
  assert.equal(s.value, "Auto");
  assert.equal(s.update([felixConfig("default", "Enabled")]), true);
  assert.equal(s.value, "Enabled");
  assert.equal(s.update([felixConfig("node.node2", "Disabled")]), false, "another node's");
  assert.equal(s.update([felixConfig("node.node1", "disabled")]), true, "either spelling");
  assert.equal(s.value, "Disabled");
  s.update([felixConfig("node.node1", "Sometimes")]);
  assert.equal(s.value, "Enabled", "a bad value counts as unset (the graph reports it)");
  s.update([{ ...felixConfig("default"), value: null }]);
  assert.equal(s.value, "Auto", "deleted");
  const env = new NftablesModeSetting("node1", { FELIX_NFTABLESMODE: "Enabled" });
  env.update([felixConfig("node.node1", "Disabled")]);
  assert.equal(env.value, "Enabled");
  assert.throws(() => new NftablesModeSetting("node1", { FELIX_NFTABLESMODE: "yes" }), /FELIX_NFTABLESMODE/);
});

test("Auto: nftables exactly when kube-proxy's nft tables are here", () => {
  const withKubeProxy = "table ip filter\ntable ip kube-proxy\ntable ip6 kube-proxy\n";
  assert.equal(kubeProxyNftPresent(withKubeProxy), true);
  assert.equal(kubeProxyNftPresent("table ip filter\ntable ip kube-proxy-old\ntable ip calico\n"), false);
  assert.equal(kubeProxyNftPresent(undefined), false);
  assert.equal(resolveNftablesMode("Auto", true), "nftables");
  assert.equal(resolveNftablesMode("Auto", false), "iptables");
  assert.equal(resolveNftablesMode("Enabled", false), "nftables");
  assert.equal(resolveNftablesMode("Disabled", true), "iptables");
});

test("listNftTables: asks `nft list flowtables` (not `list tables`, which dumps every rule) and gives the table lines", async () => {
  const calls: string[] = [];
  // nft 1.0.6's listing: each table with its flowtables only, a flowtable's lines indented.
  const listing = [
    "table ip filter {",
    "}",
    "table inet fw {",
    "\tflowtable ft {",
    "\t\thook ingress priority filter",
    '\t\tdevices = { "lo" }',
    "\t}",
    "}",
    "table ip kube-proxy {",
    "}",
    "",
  ].join("\n");
  const tables = await listNftTables(["ip", "netns", "exec", "x"], async (cmd, args) => {
    calls.push([cmd, ...args].join(" "));
    return { code: 0, stdout: listing, stderr: "" };
  });
  assert.deepEqual(calls, ["ip netns exec x nft list flowtables"]);
  assert.equal(tables, "table ip filter\ntable inet fw\ntable ip kube-proxy\n");
  assert.equal(kubeProxyNftPresent(tables), true);
  const refused = async () => ({ code: 1, stdout: "", stderr: "Error: Could not process rule" });
  assert.equal(await listNftTables([], refused), undefined);
});

test("firstBatch: the first batch, then rest replays it and follows the source", async () => {
  const src = new Subject<number>();
  const p = firstBatch(src);
  src.next(1);
  const { parts, rest } = await p;
  assert.deepEqual(parts, [1]);
  src.next(2);
  const all = firstValueFrom(rest.pipe(toArray()));
  src.next(3);
  src.complete();
  assert.deepEqual(await all, [1, 2, 3]);
});

test("firstBatch: a first batch in parts resolves at the part that completes it", async () => {
  const src = new Subject<number>();
  const p = firstBatch(src, (n) => n >= 10);
  src.next(1);
  src.next(2);
  src.next(10);
  const { parts, rest } = await p;
  assert.deepEqual(parts, [1, 2, 10]);
  const all = firstValueFrom(rest.pipe(toArray()));
  src.next(11);
  src.complete();
  assert.deepEqual(await all, [1, 2, 10, 11]);
});

test("firstBatch: a source that fails before its first batch rejects", async () => {
  const src = new Subject<number>();
  const p = firstBatch(src);
  src.error(new Error("no API server"));
  await assert.rejects(p, /no API server/);
});

test("readFromNow: the source is subscribed at once; rest replays what came meanwhile, in order, then follows", async () => {
  let subscribed = 0;
  const src = new Subject<number>();
  const counted = new Observable<number>((s) => {
    subscribed++;
    return src.subscribe(s);
  });
  const read = readFromNow(counted);
  assert.equal(subscribed, 1, "reading starts before anyone takes the updates");
  src.next(1);
  src.next(2);
  const all = firstValueFrom(read.rest.pipe(toArray()));
  src.next(3);
  src.complete();
  assert.deepEqual(await all, [1, 2, 3]);
  assert.equal(subscribed, 1, "one subscription to the source");
  await assert.rejects(firstValueFrom(read.rest), /subscribed once/);
});

test("readFromNow: an error or end before rest is subscribed reaches rest after what came first", async () => {
  const failing = new Subject<number>();
  const r1 = readFromNow(failing);
  failing.next(1);
  failing.error(new Error("watch closed"));
  const got: number[] = [];
  await assert.rejects(
    new Promise<void>((resolve, reject) =>
      r1.rest.subscribe({ next: (v: number) => got.push(v), error: reject, complete: () => resolve() }),
    ),
    /watch closed/,
  );
  assert.deepEqual(got, [1]);
  // A source that sends while being subscribed to (synchronously) loses nothing.
  assert.deepEqual(await firstValueFrom(readFromNow(of(1, 2)).rest.pipe(toArray())), [1, 2]);
  assert.deepEqual((await firstBatch(of(7, 8))).parts, [7]);
});
