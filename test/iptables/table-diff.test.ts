// diffTables (`felix-dump diff --live`) without root: a fake kernel programmed
// by the syncer is in sync; each kind of tampering is reported once, with the
// chain it concerns; other programs' chains and rules are none of its business.

import assert from "node:assert/strict";
import { test } from "node:test";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { renderIpSets } from "../../iptables/ipset.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { parseSave } from "../../iptables/save-parser.js";
import { diffTables } from "../../iptables/table-diff.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { ipSetList } from "../../model/ipset-shards.js";
import { chainNames, TABLE_NAMES } from "../../model/tables.js";
import { namespace, pod, policy } from "../calc-graph/fixtures.js";

const state = computeDesiredState({ nodeName: "node1" }, [
  namespace("prod"),
  pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" } }),
  pod("prod", "db", { ip: "10.65.1.11", labels: { app: "db" } }),
  policy("prod", "db-from-web", {
    podSelector: { matchLabels: { app: "db" } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }],
  }),
]);
const want = state.iptables.ipv4;

async function programmed() {
  const sets = new FakeIpsetBackend();
  await sets.restore(renderIpSets(ipSetList(state.ipsets)));
  const k = new FakeIptablesBackend(4, "legacy", sets);
  await new TableSyncer(k).apply(want);
  const diff = async () => diffTables(want, parseSave(await k.save()));
  return { k, diff };
}

test("diffTables: in sync after the syncer, foreign chains and rules are not differences", async () => {
  const { k, diff } = await programmed();
  assert.deepEqual(await diff(), []);
  // Between our inserted jump and our appended accept rules is where other programs' rules belong.
  await k.restore(
    "*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -j RETURN\n-I FORWARD 2 -j DOCKER-USER\nCOMMIT\n*nat\n:KUBE-SVC - [0:0]\nCOMMIT\n",
  );
  assert.deepEqual(await diff(), []);
  // A rule appended after our appended FORWARD rules displaces them (the syncer moves them back to the end).
  await k.restore("*filter\n-A FORWARD -j DOCKER-USER\nCOMMIT\n");
  assert.deepEqual(await diff(), [{ table: "filter", chain: "FORWARD", problem: "hooks out of place" }]);
});

test("diffTables: a missing chain, a changed chain, a stale chain and a displaced hook", async () => {
  const { k, diff } = await programmed();
  const filter = () => k.tables.get("filter")!;
  const policyChain = [...filter().keys()].find((c) => c.startsWith("cali-pi-"))!;
  const rules = filter().get("cali-wl-to-host")!.rules.length;
  assert.ok(rules > 1);
  await k.restore(
    [
      "*filter",
      // emptied, then deleted once nothing jumps to it
      `:${policyChain} - [0:0]`,
      ...[...filter().entries()].flatMap(([c, v]) =>
        v.rules.filter((r) => r.includes(`-j ${policyChain}`)).map((r) => `-D ${c} ${r}`),
      ),
      `-X ${policyChain}`,
      "-D cali-wl-to-host 1",
      ":cali-old - [0:0]",
      "-I FORWARD 1 -j ACCEPT",
      "COMMIT",
      "",
    ].join("\n"),
  );
  const d = await diff();
  const byChain = Object.fromEntries(d.map((x) => [x.chain, x.problem]));
  assert.equal(byChain[policyChain], "missing");
  assert.equal(byChain["cali-old"], "stale");
  assert.equal(byChain.FORWARD, "hooks out of place");
  assert.deepEqual(
    d.find((x) => x.chain === "cali-wl-to-host"),
    { table: "filter", chain: "cali-wl-to-host", problem: "differs", detail: `${rules - 1} rules, want ${rules}` },
  );
  // The chains that jumped to the deleted policy chain differ too; nothing else is reported.
  for (const x of d) assert.ok(x.table === "filter", JSON.stringify(x));
  assert.equal(d.filter((x) => x.chain === policyChain).length, 1);
});

test("diffTables: a rule whose hash changed differs; an empty kernel misses every chain", async () => {
  const { k, diff } = await programmed();
  const chain = k.tables.get("filter")!.get("cali-FORWARD")!;
  chain.rules[0] = chain.rules[0].replace(/cali:[A-Za-z0-9_-]{16}/, "cali:AAAAAAAAAAAAAAAA");
  assert.deepEqual(
    (await diff()).map((x) => `${x.chain} ${x.problem}`),
    ["cali-FORWARD differs"],
  );
  const empty = diffTables(want, new Map());
  const chains = TABLE_NAMES.reduce((n, t) => n + chainNames(want[t]).length, 0);
  assert.equal(empty.filter((x) => x.problem === "missing").length, chains);
});
