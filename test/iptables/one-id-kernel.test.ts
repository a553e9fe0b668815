// One-id chains (Chain.oneId: kube-proxy's large cluster mode) on the real tools: only the
// first rule carries `cali:<hash>`, covering the whole chain. Random transitions planned by
// planTable are loaded with iptables-restore --noflush (legacy and nft) in a throwaway
// namespace; iptables-save must show exactly the wanted rules, a plan against that read must
// write nothing, and a chain someone changed must be found and rewritten.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import fc from "fast-check";
import { renderChain } from "../../iptables/render.js";
import { parseSave } from "../../iptables/save-parser.js";
import { planTable } from "../../iptables/table-syncer.js";
import { Actions, match, NO_MATCH, type Rule, rule } from "../../model/rule.js";
import { tableState } from "../../model/tables.js";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";

const missing = ["iptables-legacy-restore", "iptables-nft-restore"].find(
  (t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0,
);
const skip = netnsSkipReason() ?? (missing && `needs ${missing}`);

// What a service's SVC and SEP chains hold: statistic jumps, a hairpin mark, a DNAT.
const BODIES: readonly Rule[] = [
  rule(match().randomOneOf(2).build(), Actions.accept),
  rule(match().sourceNet("10.65.0.1/32").build(), Actions.setMark(0x4000)),
  rule(match().protocol("tcp").build(), Actions.dnat("10.65.0.1", 8080)),
  rule(NO_MATCH, Actions.return),
];
const chain = (bodies: readonly number[]) =>
  renderChain({ name: "cali-SEP-TEST", rules: bodies.map((i) => BODIES[i]), oneId: true });

for (const mode of ["legacy", "nft"] as const) {
  test(`one-id chains converge on the real ${mode} tools, and a changed one is rewritten`, {
    ...skipIf(skip),
    timeout: 60_000,
  }, () => {
    const ns = createNetns("fxoneid");
    const run = (args: string[], input?: string) => {
      const r = spawnSync("ip", ["netns", "exec", ns, ...args], { input, encoding: "utf8" });
      assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}\n${input ?? ""}`);
      return r.stdout;
    };
    const read = () => parseSave(run([`iptables-${mode}-save`, "-t", "nat"])).get("nat");
    const write = (text: string) => run([`iptables-${mode}-restore`, "--noflush"], text);
    const texts = () =>
      read()!
        .chains.get("cali-SEP-TEST")!
        .rules.map((r) => r.text);
    try {
      fc.assert(
        fc.property(fc.array(fc.nat(BODIES.length - 1), { minLength: 2, maxLength: 6 }), (bodies) => {
          const want = chain(bodies);
          const ids = want.rules.map((r) => r.text.includes('"cali:'));
          assert.deepEqual(ids, [true, ...Array(bodies.length - 1).fill(false)]);
          const { main } = planTable("nat", tableState([want]), read());
          if (main) write(main);
          assert.deepEqual(
            texts(),
            want.rules.map((r) => r.text),
          );
          assert.equal(planTable("nat", tableState([want]), read()).main, "", "a second plan writes nothing");
        }),
        { numRuns: 10, seed: 11 },
      );
      const want = chain([0, 1, 2]);
      write(planTable("nat", tableState([want]), read()).main);
      const tampered: [string, string[]][] = [
        ["a rule appended", ["-A", "cali-SEP-TEST", "-j", "ACCEPT"]],
        ["a later rule deleted", ["-D", "cali-SEP-TEST", "3"]],
        ["the first rule (the id) replaced", ["-R", "cali-SEP-TEST", "1", "-j", "RETURN"]],
        [
          "a rule with another id inserted",
          ["-I", "cali-SEP-TEST", "2", "-m", "comment", "--comment", "cali:AAAAAAAAAAAAAAAA", "-j", "RETURN"],
        ],
      ];
      for (const [what, args] of tampered) {
        run([`iptables-${mode}`, "-t", "nat", ...args]);
        const { main } = planTable("nat", tableState([want]), read());
        assert.match(main, /^:cali-SEP-TEST /m, `${what}: rewritten`);
        write(main);
        assert.deepEqual(
          texts(),
          want.rules.map((r) => r.text),
          what,
        );
      }
    } finally {
      deleteNetns(ns);
    }
  });
}
