// The in-place chain edits (-D/-I by position) on the real tools: random
// chain transitions planned by planTable are loaded with iptables-restore
// --noflush (legacy and nft) in a throwaway namespace, and iptables-save must
// then show exactly the wanted chain.

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

// -j ACCEPT, -j DROP, -m mark --mark 0x10000/0x10000 -j RETURN, -j RETURN, -j MARK --set-xmark 0x10000/0x10000
const BODIES: readonly Rule[] = [
  rule(NO_MATCH, Actions.accept),
  rule(NO_MATCH, Actions.drop),
  rule(match().mark(0x10000, 0x10000).build(), Actions.return),
  rule(NO_MATCH, Actions.return),
  rule(NO_MATCH, Actions.setMark(0x10000)),
];

for (const mode of ["legacy", "nft"] as const) {
  test(`chain edits converge on the real ${mode} tools`, { ...skipIf(skip), timeout: 60_000 }, () => {
    const ns = createNetns("fxedit");
    const inNs = (cmd: string, input?: string) => {
      const r = spawnSync("ip", ["netns", "exec", ns, cmd, ...(input !== undefined ? ["--noflush"] : [])], {
        input,
        encoding: "utf8",
      });
      assert.equal(r.status, 0, `${cmd}: ${r.stderr}\n${input ?? ""}`);
      return r.stdout;
    };
    try {
      let edited = 0;
      // Each step inserts or deletes a rule somewhere (a policy joining or
      // leaving an endpoint chain looks like that), or replaces the chain.
      const step = fc.record({
        op: fc.constantFrom("insert", "delete", "replace"),
        at: fc.nat(),
        body: fc.nat(BODIES.length - 1),
        fresh: fc.array(fc.nat(BODIES.length - 1), { maxLength: 10 }),
      });
      let current: number[] = [];
      fc.assert(
        fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), (steps) => {
          for (const { op, at, body, fresh } of steps) {
            const next = [...current];
            if (op === "insert") next.splice(at % (next.length + 1), 0, body);
            else if (op === "delete" && next.length) next.splice(at % next.length, 1);
            else if (op === "replace") next.splice(0, next.length, ...fresh);
            const want = renderChain({ name: "cali-test", rules: next.map((i) => BODIES[i]) });
            const have = parseSave(inNs(`iptables-${mode}-save`)).get("filter");
            const { main } = planTable("filter", tableState([want]), have);
            if (/^-[DI] /m.test(main)) edited++;
            if (main) inNs(`iptables-${mode}-restore`, main);
            const after = parseSave(inNs(`iptables-${mode}-save`)).get("filter")!;
            assert.deepEqual(
              after.chains.get("cali-test")!.rules.map((r) => r.text),
              want.rules.map((r) => r.text),
            );
            current = next;
          }
        }),
        { numRuns: 8, seed: 7 },
      );
      assert.ok(edited > 5, `only ${edited} transitions were in-place edits`);
    } finally {
      deleteNetns(ns);
    }
  });
}
