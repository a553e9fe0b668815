// Drop logging (dropNflogGroup): every drop on the policy path is preceded by
// an NFLOG rule with the same match whose prefix names its origin (conntrack
// INVALID and the encapsulation guards excepted: not policy decisions), and the
// prefix reads back to the same origin; off by default (no NFLOG rule at all).

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { dropPrefix, parseDropPrefix } from "../../calc-graph/rules/drop-log.js";
import { chainList } from "../../model/tables.js";
import { readManifestDir } from "../../src/datastore/manifests.js";
import { GOLDEN_DIR } from "../golden-cases.js";

const CASE = join(GOLDEN_DIR, "..", "trace", "cases", "tiers");

describe("drop logging", () => {
  it("prefixes read back to their origin, and fit NFLOG's 64 bytes", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("P", "T", "R", "U"),
        fc.constantFrom("I", "E", "-"),
        fc.nat(999),
        fc.stringMatching(/^cali-[a-z]{2,3}-[A-Za-z0-9_.:-]{1,20}$/),
        (owner, dir, index, chain) => {
          const o = { owner, dir, index: owner === "P" || owner === "T" ? index : 0, chain } as const;
          const p = dropPrefix(o);
          assert.ok(p.length < 64);
          assert.deepEqual(parseDropPrefix(p), o);
        },
      ),
    );
    assert.equal(parseDropPrefix("calico-packet: "), undefined);
  });

  it("off by default; on, an NFLOG rule with the drop's match precedes every policy-path drop", async () => {
    const { updates } = await readManifestDir(CASE);
    const off = new CalcGraph({ nodeName: "node1" }).apply(updates);
    const on = new CalcGraph({ nodeName: "node1", networkEnv: { dropNflogGroup: 5 } }).apply(updates);
    assert.ok(!chainList(off.iptables.ipv4.filter).some((c) => c.rules.some((r) => r.text.includes("NFLOG"))));
    let drops = 0;
    for (const c of chainList(on.iptables.ipv4.filter)) {
      if (!/^cali-(p[io]|[tf]w|from-wl|to-wl)/.test(c.name)) continue;
      c.rules.forEach((r, i) => {
        // Conntrack INVALID and the encapsulation guards are not policy decisions: not logged.
        if (!/-j DROP$/.test(r.text) || /INVALID|encapped/.test(r.text)) return;
        drops++;
        const before = c.rules[i - 1]?.text ?? "";
        const m = /--nflog-prefix "([^"]+)" --nflog-group 5$/.exec(before);
        assert.ok(m, `${c.name}#${i + 1}: no NFLOG rule before the drop`);
        assert.equal(parseDropPrefix(m[1])?.chain, c.name);
        // The same match: the texts agree once the hash comments and targets are cut.
        const matchOf = (t: string) => t.replace(/-m comment --comment "[^"]+" ?/g, "").replace(/ ?-j .*$/, "");
        assert.equal(matchOf(before), matchOf(r.text));
      });
    }
    assert.ok(drops >= 8, `${drops} drops checked`);
  });
});
