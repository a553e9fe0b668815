import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { renderIpSets } from "../../iptables/ipset.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { renderChain } from "../../iptables/render.js";
import { parseSave } from "../../iptables/save-parser.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { ipSetList } from "../../model/ipset-shards.js";
import { Actions, type Chain, match, NO_MATCH, rule } from "../../model/rule.js";
import { chainList, tableState } from "../../model/tables.js";
import { deleted, namespace, pod, policy } from "../calc-graph/fixtures.js";

const cluster = [
  namespace("prod"),
  pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } }),
  pod("prod", "db", { ip: "10.65.1.11", labels: { app: "db" } }),
  policy("prod", "db-from-web", {
    podSelector: { matchLabels: { app: "db" } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }],
  }),
];
const desired = (updates = cluster) => computeDesiredState({ nodeName: "node1" }, updates).iptables.ipv4;
/** chainInsertMode Append (FELIX_CHAININSERTMODE or FelixConfiguration): the rendered hooks are all appends. */
const appended = () =>
  computeDesiredState({ nodeName: "node1", networkEnv: { chainInsertMode: "append" } }, cluster).iptables.ipv4;
const noSleep = async () => {};

/** A fake kernel that already holds the cluster's IP sets (rules may only name existing sets). */
function fakeKernel(): FakeIptablesBackend {
  const sets = new FakeIpsetBackend();
  const state = computeDesiredState({ nodeName: "node1" }, cluster);
  sets.restore(renderIpSets(ipSetList(state.ipsets)));
  return new FakeIptablesBackend(4, "legacy", sets);
}

function kernelWithForeignRules(): FakeIptablesBackend {
  const k = fakeKernel();
  k.restore(
    "*filter\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A FORWARD -m comment --comment sshd -j ACCEPT\n-A DOCKER-USER -j RETURN\nCOMMIT\n" +
      "*nat\n:KUBE-POSTROUTING - [0:0]\n-A POSTROUTING -j KUBE-POSTROUTING\nCOMMIT\n",
  );
  k.restores.length = 0;
  return k;
}

describe("TableSyncer", () => {
  test("programs an empty kernel, then writes nothing the second time", async () => {
    const k = fakeKernel();
    const s = new TableSyncer(k, { sleep: noSleep });
    const r1 = await s.apply(desired());
    assert.ok(r1.chainsWritten > 10);
    assert.equal(k.restores.length, 1, "one transaction for all tables");
    const r2 = await new TableSyncer(k).apply(desired());
    assert.equal(r2.linesWritten, 0);
    assert.equal(r2.bytesWritten, 0);
    assert.equal(k.restores.length, 1);
  });

  test("keeps our jumps on top of built-in chains, our accept-mark rule at the bottom of FORWARD, and leaves foreign rules and chains alone", async () => {
    const k = kernelWithForeignRules();
    await new TableSyncer(k).apply(desired());
    const filter = parseSave(await k.save()).get("filter")!;
    const fwd = filter.chains.get("FORWARD")!.rules.map((r) => r.text);
    assert.match(fwd[0], /-j cali-FORWARD$/);
    // Felix appends it: other programs' FORWARD rules see Calico-accepted traffic first.
    assert.deepEqual(fwd.slice(1, 3), ["-j DOCKER-USER", "-m comment --comment sshd -j ACCEPT"]);
    assert.match(fwd[3], /Policy explicitly accepted/);
    assert.match(fwd[4], /-j MARK --set-xmark 0x10000\/0x10000$/);
    assert.deepEqual(
      filter.chains.get("DOCKER-USER")!.rules.map((r) => r.text),
      ["-j RETURN"],
    );
    const nat = parseSave(await k.save()).get("nat")!;
    const post = nat.chains.get("POSTROUTING")!.rules.map((r) => r.text);
    assert.equal(post[0], "-j KUBE-POSTROUTING", "appended after kube-proxy's");
    assert.match(post[1], /-j cali-POSTROUTING$/);
  });

  test("moves our hook back to the top when something was inserted above it", async () => {
    const k = kernelWithForeignRules();
    await new TableSyncer(k).apply(desired());
    await k.restore("*filter\n-I FORWARD 1 -j DROP\nCOMMIT\n");
    const s = new TableSyncer(k);
    const r = await s.apply(desired());
    assert.equal(r.hooksWritten, 1);
    const fwd = parseSave(await k.save())
      .get("filter")!
      .chains.get("FORWARD")!
      .rules.map((x) => x.text);
    assert.match(fwd[0], /-j cali-FORWARD$/);
    assert.equal(fwd[1], "-j DROP", "the foreign rule stays, below ours");
  });

  test("FELIX_CHAININSERTMODE=append: our jumps go after the foreign rules, then our appends; a second apply writes nothing", async () => {
    const k = kernelWithForeignRules();
    await new TableSyncer(k).apply(appended());
    const fwd = parseSave(await k.save())
      .get("filter")!
      .chains.get("FORWARD")!
      .rules.map((x) => x.text);
    assert.deepEqual(fwd.slice(0, 2), ["-j DOCKER-USER", "-m comment --comment sshd -j ACCEPT"]);
    assert.match(fwd[2], /-j cali-FORWARD$/);
    assert.match(fwd[3], /Policy explicitly accepted/);
    const again = await new TableSyncer(k).apply(appended());
    assert.equal(again.linesWritten, 0, "append mode is recognised as in place");
    // Switching back to insert mode moves our jumps to the top.
    const back = await new TableSyncer(k).apply(desired());
    assert.ok(back.hooksWritten > 0);
    const fwd2 = parseSave(await k.save())
      .get("filter")!
      .chains.get("FORWARD")!
      .rules.map((x) => x.text);
    assert.match(fwd2[0], /-j cali-FORWARD$/);
  });

  test("rewrites only the chains that changed, and deletes stale chains", async () => {
    const k = fakeKernel();
    const s = new TableSyncer(k);
    await s.apply(desired());
    const before = parseSave(await k.save()).get("filter")!;
    const policyChain = [...before.chains.keys()].find((c) => c.startsWith("cali-pi-"))!;
    const r = await s.apply(desired([...cluster.slice(0, 3), deleted(cluster[3])]));
    const after = parseSave(await k.save()).get("filter")!;
    assert.ok(!after.chains.has(policyChain), "stale policy chain deleted");
    assert.equal(r.chainsDeleted, 1);
    // The db pod's ingress chain is edited in place (its policy jump and the
    // return after it deleted); only the deleted chain is declared (flushed),
    // and deleted in the same transaction (legacy rewrites the table per restore).
    assert.equal(k.restores.length, 2, "the first apply and one transaction");
    const main = k.restores.at(-1)!;
    assert.deepEqual(main.match(/^:(\S+)/gm), [`:${policyChain}`]);
    assert.deepEqual(main.match(/^-X .*/gm), [`-X ${policyChain}`]);
    const edits = main.match(/^-[DI] (\S+) .*/gm)!;
    assert.ok(edits.length > 0 && edits.every((l) => l.includes(" cali-tw-")), edits.join("\n"));
  });

  for (const known of [true, false]) {
    test(`a stale chain another program jumps to is flushed and kept (its jump ${known ? "in" : "not in"} the cached view)`, async () => {
      const k = fakeKernel();
      const s = new TableSyncer(k, { sleep: noSleep });
      await s.apply(desired());
      const policyChain = [
        ...parseSave(await k.save())
          .get("filter")!
          .chains.keys(),
      ].find((c) => c.startsWith("cali-pi-"))!;
      await k.restore(`*filter\n:FOREIGN - [0:0]\n-A FOREIGN -j ${policyChain}\nCOMMIT\n`);
      if (known) s.invalidate();
      await s.apply(desired([...cluster.slice(0, 3), deleted(cluster[3])]));
      const after = parseSave(await k.save()).get("filter")!;
      assert.deepEqual(after.chains.get(policyChain)?.rules, [], "flushed, not deleted");
      assert.deepEqual(
        after.chains.get("FOREIGN")?.rules.map((r) => r.text),
        [`-j ${policyChain}`],
      );
      // Known: deleted in a transaction of its own; unknown: the folded transaction fails and the retry does so.
      assert.equal(s.failures, known ? 0 : 1);
      assert.ok(!k.restores.at(-2)!.includes("-X "), "the main transaction deletes nothing");
      assert.equal(k.restores.at(-1), `*filter\n-X ${policyChain}\nCOMMIT\n`);
      // Once the foreign jump is gone, the next full resync deletes the chain.
      await k.restore(`*filter\n-F FOREIGN\nCOMMIT\n`);
      s.invalidate();
      await s.apply(desired([...cluster.slice(0, 3), deleted(cluster[3])]));
      assert.ok(
        !parseSave(await k.save())
          .get("filter")!
          .chains.has(policyChain),
      );
    });
  }

  test("edits a chain in place with -D/-I and converges from any start (property)", async () => {
    // Repeated bodies on purpose: identical rules must still get distinct hashes.
    const bodies = [
      rule(NO_MATCH, Actions.accept),
      rule(NO_MATCH, Actions.drop),
      rule(match().mark(0x10000, 0x10000).build(), Actions.return),
      rule(NO_MATCH, Actions.return),
    ];
    const chainOf = (picks: number[]): Chain => ({
      name: "cali-test",
      rules: picks.map((i) => bodies[i]),
    });
    const base = desired();
    const tables = (picks: number[]) => ({
      ...base,
      filter: tableState([...chainList(base.filter), renderChain(chainOf(picks))], base.filter.hooks),
    });
    const picks = fc.array(fc.integer({ min: 0, max: bodies.length - 1 }), { maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(picks, picks, fc.boolean(), async (from, to, foreign) => {
        const k = fakeKernel();
        const s = new TableSyncer(k);
        await s.apply(tables(from));
        if (foreign) {
          await k.restore("*filter\n-I cali-test 1 -j ACCEPT\nCOMMIT\n");
          s.invalidate();
        }
        await s.apply(tables(to));
        const want = renderChain(chainOf(to)).rules.map((r) => r.text);
        assert.deepEqual(k.tables.get("filter")!.get("cali-test")!.rules, want);
      }),
      { numRuns: 200 },
    );
  });

  test("repairs drift after invalidate(): a deleted chain and a changed rule", async () => {
    const k = fakeKernel();
    const s = new TableSyncer(k);
    await s.apply(desired());
    const want = await k.save();
    await k.restore("*filter\n:cali-wl-to-host - [0:0]\n-A cali-wl-to-host -j ACCEPT\nCOMMIT\n");
    s.invalidate();
    await s.apply(desired());
    assert.equal(await k.save(), want);
  });

  test("retries a failed restore after re-reading the kernel", async () => {
    const k = fakeKernel();
    k.failNext = 2;
    const retries: number[] = [];
    const s = new TableSyncer(k, { sleep: noSleep, onRetry: (n) => retries.push(n) });
    await s.apply(desired());
    assert.deepEqual(retries, [1, 2]);
    assert.equal(s.failures, 2);
    assert.ok(
      parseSave(await k.save())
        .get("filter")!
        .chains.has("cali-FORWARD"),
    );
  });

  test("gives up after the configured retries and keeps the kernel unchanged", async () => {
    const k = fakeKernel();
    k.failNext = 10;
    const s = new TableSyncer(k, { sleep: noSleep, retries: 2 });
    await assert.rejects(s.apply(desired()));
    assert.ok(
      !parseSave(await k.save())
        .get("filter")!
        .chains.has("cali-FORWARD"),
    );
  });

  test("a chain someone else jumps to is flushed now and deleted later", async () => {
    const k = fakeKernel();
    const s = new TableSyncer(k);
    await s.apply(desired());
    const chain = [
      ...parseSave(await k.save())
        .get("filter")!
        .chains.keys(),
    ].find((c) => c.startsWith("cali-pi-"))!;
    await k.restore(`*filter\n:FOREIGN - [0:0]\n-A FOREIGN -j ${chain}\nCOMMIT\n`);
    s.invalidate();
    await s.apply(desired([...cluster.slice(0, 3), deleted(cluster[3])]));
    const filter = parseSave(await k.save()).get("filter")!;
    assert.deepEqual(filter.chains.get(chain)?.rules, []);
  });
});
