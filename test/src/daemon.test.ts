// The agent's main loop on one fake kernel (no root): nothing is programmed
// before the datastore's first batch, bursts coalesce into the latest state,
// a failed apply is reported and retried, link events and the refresh timer
// re-apply, a datastore error does not stop it, and stop() ends it.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Subject } from "rxjs";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { Daemon } from "../../src/daemon.js";
import type { ApplyResult } from "../../src/dataplane.js";
import { Dataplane } from "../../src/dataplane.js";
import { partialBatch } from "../../src/datastore/batch.js";
import { namespace, pod, policy } from "../calc-graph/fixtures.js";
import { capturedLog } from "../helpers/json-log.js";
import { until } from "../helpers/until.js";

/** Waits (polling) until `cond` holds; fails after a generous deadline. */

function rig(refreshIntervalSecs = 0, onIdle?: () => void) {
  const sets = new FakeIpsetBackend();
  const v4 = new FakeIptablesBackend(4, "legacy", sets);
  const dataplane = new Dataplane({ ipsets: new IpsetSyncer(sets), ipv4: new TableSyncer(v4) });
  const { log, lines } = capturedLog();
  const updates = new Subject<ResourceUpdate[]>();
  const links = new Subject<unknown>();
  const seen: {
    batches: DesiredState[];
    applied: (ApplyResult | Error)[];
    states: DesiredState[];
    parts: (readonly ResourceUpdate[])[];
  } = {
    batches: [],
    applied: [],
    states: [],
    parts: [],
  };
  const daemon = new Daemon({
    graph: { nodeName: "node1" },
    updates,
    dataplane,
    log,
    observer: {
      batch: (s) => seen.batches.push(s),
      part: (updates) => seen.parts.push(updates),
      applied: (s, outcome) => {
        seen.applied.push(outcome);
        seen.states.push(s);
      },
    },
    refreshIntervalSecs,
    linkEvents: links,
    onIdle,
  });
  const chains = () => [...(v4.tables.get("filter")?.keys() ?? [])].filter((c) => c.startsWith("cali-"));
  return { sets, v4, dataplane, daemon, updates, links, seen, lines, chains };
}

const base = [namespace("prod"), pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } })];
const deny = policy("prod", "deny", { podSelector: {}, policyTypes: ["Ingress"] });
const fromWeb = policy("prod", "from-web", {
  podSelector: {},
  ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }],
});

describe("Daemon", () => {
  test("programs only after the first batch, then follows the latest state", async () => {
    const { daemon, updates, seen, v4, chains, lines } = rig();
    daemon.start();
    assert.equal(v4.restores.length, 0, "nothing programmed before the datastore is in sync");
    updates.next(base);
    await until(() => seen.applied.length === 1, "the first apply");
    assert.ok(!(seen.applied[0] instanceof Error));
    assert.ok(chains().includes("cali-FORWARD"));
    assert.ok(lines.some((l) => l.msg === "datastore in sync"));
    // A burst: each batch goes through the graph, the applies coalesce and end on the latest state.
    updates.next([deny]);
    updates.next([pod("prod", "db", { ip: "10.65.1.11", labels: { app: "db" } })]);
    await until(() => seen.states.at(-1) === daemon.graph.current, "the latest state applied");
    assert.equal(seen.batches.length, 3);
    assert.ok(seen.applied.length <= 3, `${seen.applied.length} applies for 3 batches`);
    assert.ok(
      chains().some((c) => c.startsWith("cali-pi-")),
      "the deny policy's chain is programmed",
    );
    await daemon.stop();
  });

  test("onIdle: once the applies of a burst are done, never while one runs", async () => {
    let idle = 0;
    let applying = false;
    let idleDuringApply = false;
    const r = rig(0, () => {
      idle++;
      if (applying) idleDuringApply = true;
    });
    // The first apply waits until released: the batches that come meanwhile make a second one.
    let release = () => {};
    const gate = new Promise<void>((res) => {
      release = res;
    });
    const apply = r.dataplane.apply.bind(r.dataplane);
    r.dataplane.apply = async (s) => {
      applying = true;
      try {
        await gate;
        return await apply(s);
      } finally {
        applying = false;
      }
    };
    r.daemon.start();
    r.updates.next(base);
    await until(() => applying, "the first apply");
    r.updates.next([deny]);
    r.updates.next([pod("prod", "db", { ip: "10.65.1.11" })]);
    await new Promise((res) => setTimeout(res, 10));
    assert.equal(idle, 0, "not idle while an apply waits");
    release();
    await until(() => idle > 0, "the idle call");
    assert.equal(r.seen.applied.length, 2, "two applies: the first and the burst's");
    assert.equal(r.seen.states.at(-1), r.daemon.graph.current, "idle once the latest state is applied");
    await new Promise((res) => setTimeout(res, 20));
    assert.equal(idle, 1, "one idle call after the burst");
    assert.ok(!idleDuringApply);
    await r.daemon.stop();
  });

  test("a batch in parts: nothing is computed or programmed before its last part; problems of every part are logged", async () => {
    const { daemon, updates, seen, v4, chains, lines } = rig();
    daemon.start();
    const bad = policy("prod", "bad", {
      podSelector: { matchExpressions: [{ key: "app", operator: "Bogus", values: ["x"] }] },
    } as never);
    updates.next(partialBatch([namespace("prod"), bad]));
    updates.next(partialBatch([pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } })]));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen.batches.length, 0, "no snapshot before the batch is complete");
    assert.deepEqual(
      seen.parts.map((p) => p.map((u) => u.name)),
      [["prod", "bad"], ["web"]],
      "status reporting sees each part's updates",
    );
    assert.equal(v4.restores.length, 0, "nothing programmed before the datastore is in sync");
    assert.ok(!lines.some((l) => l.msg === "datastore in sync"));
    updates.next([deny]);
    await until(() => seen.applied.length === 1, "the first apply");
    assert.equal(seen.batches.length, 1);
    // The parts' updates are in the snapshot: the pod's endpoint chains and the deny policy.
    assert.ok(
      chains().some((c) => c.startsWith("cali-tw-")),
      "the pod from a partial part is programmed",
    );
    assert.ok(
      chains().some((c) => c.startsWith("cali-pi-")),
      "the policy of the last part is programmed",
    );
    const warned = lines.filter((l) => (l as { resource?: string }).resource === "NetworkPolicy/prod/bad");
    assert.equal(warned.length, 1, "the invalid policy of the first part is reported once");
    const inSync = lines.find((l) => l.msg === "datastore in sync") as { resources?: number } | undefined;
    assert.equal(inSync?.resources, 4);
    await daemon.stop();
  });

  test("a failed apply is reported and retried until it succeeds", async () => {
    const { daemon, updates, seen, sets, lines } = rig();
    const restore = sets.restore.bind(sets);
    let failures = 2;
    sets.restore = async (input) => {
      if (failures > 0) {
        failures--;
        throw new Error("ipset restore failed: injected");
      }
      return restore(input);
    };
    daemon.start();
    updates.next([...base, fromWeb]);
    await until(() => seen.applied.some((o) => !(o instanceof Error)), "a successful apply");
    assert.deepEqual(
      seen.applied.map((o) => (o instanceof Error ? o.message : "ok")),
      ["ipset restore failed: injected", "ipset restore failed: injected", "ok"],
    );
    const errors = lines.filter((l) => l.msg === "dataplane apply failed");
    assert.equal(errors.length, 2);
    assert.ok(sets.sets.size > 0, "the sets are programmed in the end");
    await daemon.stop();
  });

  test("a link event re-applies; a datastore error is logged and the loop goes on; after stop() nothing applies", async () => {
    const { daemon, updates, links, seen, lines } = rig();
    daemon.start();
    links.next({ name: "cali123" });
    updates.next(base);
    await until(() => seen.applied.length === 1, "the first apply");
    links.next({ name: "cali123" });
    await until(() => seen.applied.length === 2, "an apply after the link event");
    updates.error(new Error("watch broke"));
    assert.ok(lines.some((l) => l.msg === "datastore failed" && l.err === "watch broke"));
    links.next({ name: "cali456" });
    await until(() => seen.applied.length === 3, "an apply after the datastore error");
    await daemon.stop();
    links.next({ name: "cali789" });
    await new Promise((r) => setImmediate(r));
    assert.equal(seen.applied.length, 3, "no apply after stop()");
  });

  test("the refresh timer re-reads the kernel and repairs drift", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    const { daemon, updates, seen, v4, chains } = rig(90);
    daemon.start();
    updates.next(base);
    await until(() => seen.applied.length === 1, "the first apply");
    // Someone deletes one of our chains' rules behind our back.
    await v4.restore("*filter\n:cali-FORWARD - [0:0]\nCOMMIT\n");
    assert.equal(v4.tables.get("filter")!.get("cali-FORWARD")!.rules.length, 0);
    t.mock.timers.tick(90_000);
    await until(() => seen.applied.length === 2, "the refresh apply");
    assert.ok(v4.tables.get("filter")!.get("cali-FORWARD")!.rules.length > 0, "drift repaired");
    assert.ok(chains().length > 0);
    await daemon.stop();
  });
});
