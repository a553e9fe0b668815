// What one apply overlaps (iptables mode), on one fake kernel whose rules may
// only name sets that exist and hold them against destroy: the restores are
// started while the IP sets are created but read nothing before they exist;
// stale sets' destroy is started with the restores but written only once both
// families are in, and never when one failed.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { type HoldAt, holdsSettled } from "../../iptables/exec.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { Dataplane } from "../../src/dataplane.js";
import { namespace, pod, policy } from "../calc-graph/fixtures.js";

/** A gate to open by hand. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

/** The fake IP sets; writes that create sets wait for `creates` when set; every call is logged. */
class Ipsets extends FakeIpsetBackend {
  creates: Promise<void> | undefined;
  readonly log: string[] = [];
  override async restore(input: string, after?: Promise<unknown>): Promise<void> {
    const what = input.startsWith("destroy") ? "destroy" : input.includes("create ") ? "create" : "members";
    this.log.push(`ipset ${what} started`);
    if (what === "create") await this.creates;
    await super.restore(input, after);
    this.log.push(`ipset ${what} done`);
  }
}

/** The fake tables, with the streaming entry point: a restore "starts" at once, reads once its holds settle. */
class Tables extends FakeIptablesBackend {
  gate: Promise<void> | undefined;
  constructor(
    family: 4 | 6,
    sets: Ipsets,
    private readonly log: string[],
  ) {
    super(family, "legacy", sets);
  }
  async restoreParts(parts: readonly string[], hold?: HoldAt): Promise<void> {
    this.log.push(`v${this.family} started`);
    await holdsSettled(hold);
    await this.gate;
    await this.restore(parts.join(""));
    this.log.push(`v${this.family} committed`);
  }
}

function rig() {
  const sets = new Ipsets();
  const v4 = new Tables(4, sets, sets.log);
  const v6 = new Tables(6, sets, sets.log);
  const dp = new Dataplane({
    ipsets: new IpsetSyncer(sets),
    ipv4: new TableSyncer(v4, { retries: 0 }),
    ipv6: new TableSyncer(v6, { retries: 0 }),
  });
  return { sets, v4, v6, dp };
}

const dbFromWeb = policy("prod", "db", {
  podSelector: { matchLabels: { app: "db" } },
  ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }],
});

function graph() {
  const g = new CalcGraph({ nodeName: "node1" });
  g.apply([
    namespace("prod"),
    pod("prod", "db", { ip: "10.65.1.10", labels: { app: "db" } }),
    pod("prod", "web", { node: "node2", ip: "10.65.2.11", labels: { app: "web" } }),
  ]);
  return g;
}

const selectorSets = (sets: FakeIpsetBackend) => [...sets.sets.keys()].filter((n) => /^cali[46]0s:/.test(n));
const ourChains = (t: FakeIptablesBackend) => [...t.tables.get("filter")!.keys()].filter((c) => c.startsWith("cali-"));

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), `never happened: ${what}`);
}

describe("Dataplane: what an apply overlaps", () => {
  test("the restores start while the IP sets are created, and read nothing before the sets exist", async () => {
    const { sets, v4, v6, dp } = rig();
    const g = graph();
    await dp.apply(g.apply([]));
    const creates = gate();
    sets.creates = creates.opened;
    sets.log.length = 0;
    const applying = dp.apply(g.apply([dbFromWeb]));
    await until(() => sets.log.includes("v4 started") && sets.log.includes("v6 started"), "both restores started");
    assert.deepEqual(selectorSets(sets), [], "the selector's sets are not created yet");
    assert.ok(!ourChains(v4).some((c) => c.startsWith("cali-pi-")), "no policy chain committed before its sets");
    creates.open();
    await applying;
    assert.ok(sets.log.indexOf("ipset create done") < sets.log.indexOf("v4 committed"));
    assert.ok(sets.log.indexOf("ipset create done") < sets.log.indexOf("v6 committed"));
    assert.equal(selectorSets(sets).length, 2, "the selector's set in each family");
    assert.ok(ourChains(v4).some((c) => c.startsWith("cali-pi-")));
    assert.ok(ourChains(v6).some((c) => c.startsWith("cali-pi-")));
  });

  test("stale IP sets: their destroy starts with the restores and is written once both families are in", async () => {
    const { sets, v6, dp } = rig();
    const g = graph();
    await dp.apply(g.apply([dbFromWeb]));
    const stale = selectorSets(sets);
    assert.equal(stale.length, 2);
    const v6Gate = gate();
    v6.gate = v6Gate.opened;
    sets.log.length = 0;
    const applying = dp.apply(g.apply([{ ...dbFromWeb, value: null }]));
    await until(() => sets.log.includes("v4 committed") && sets.log.includes("ipset destroy started"), "v4 in");
    assert.deepEqual(selectorSets(sets), stale, "nothing destroyed while IPv6's rules still name the sets");
    v6Gate.open();
    await applying;
    assert.deepEqual(selectorSets(sets), []);
    assert.ok(sets.log.indexOf("v6 committed") < sets.log.indexOf("ipset destroy done"));
  });

  test("a failed restore destroys no stale IP set, and the apply fails with the restore's error", async () => {
    const { sets, v6, dp } = rig();
    const g = graph();
    await dp.apply(g.apply([dbFromWeb]));
    const stale = selectorSets(sets);
    v6.failNext = 1;
    await assert.rejects(dp.apply(g.apply([{ ...dbFromWeb, value: null }])), /injected failure/);
    assert.deepEqual(selectorSets(sets), stale, "the sets IPv6's rules still name are all there");
    assert.ok(!sets.log.includes("ipset destroy done"));
    // The retry (after a resync, as the daemon does) finishes the job.
    dp.resync();
    await dp.apply(g.apply([]));
    assert.deepEqual(selectorSets(sets), []);
  });
});
