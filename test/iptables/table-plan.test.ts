import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderChain, renderTable } from "../../iptables/render.js";
import { planTable } from "../../iptables/table-plan.js";
import { Actions, NO_MATCH, rule } from "../../model/rule.js";
import { tableState } from "../../model/tables.js";

// Three chains, each jumping to the next: a restore must declare all before any rule names one.
const table = () =>
  tableState(
    ["cali-a", "cali-b", "cali-c"].map((name, i, all) =>
      renderChain({ name, rules: [rule(NO_MATCH, i + 1 < all.length ? Actions.jump(all[i + 1]) : Actions.accept)] }),
    ),
  );
const declared = (text: string) => text.split("\n").filter((l) => l.startsWith(":"));
const ruleChains = (text: string) => text.split("\n").flatMap((l) => (l.startsWith("-A ") ? [l.split(" ")[1]] : []));

describe("restore input's declaration order", () => {
  test("a table's plan declares its chains descending (libiptc's fast insert), its rules come ascending", () => {
    const text = planTable("filter", table(), undefined).main;
    assert.deepEqual(declared(text), [":cali-c - [0:0]", ":cali-b - [0:0]", ":cali-a - [0:0]"]);
    assert.deepEqual(ruleChains(text), ["cali-a", "cali-b", "cali-c"]);
  });

  test("felix-dump's text keeps name order; the floor's (restoreOrder) declares as the syncer does", () => {
    assert.deepEqual(declared(renderTable("filter", table())), [
      ":cali-a - [0:0]",
      ":cali-b - [0:0]",
      ":cali-c - [0:0]",
    ]);
    const floor = renderTable("filter", table(), { restoreOrder: true });
    assert.deepEqual(declared(floor), declared(planTable("filter", table(), undefined).main));
    assert.deepEqual(ruleChains(floor), ["cali-a", "cali-b", "cali-c"]);
  });
});
