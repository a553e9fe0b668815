// IptablesLeftovers: the iptables tables are read at start (before this mode's nft tables are
// loaded, when a save of iptables-nft is cheap; src/kernel.ts hands the syncers that read), the
// first removal plans against it and saves nothing more, and a removal after it (a retry) reads again.

import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { IptablesLeftovers } from "../../src/mode-leftovers.js";

class CountingSaves extends FakeIptablesBackend {
  saves = 0;
  override async save(): Promise<string> {
    this.saves++;
    return super.save();
  }
}

test("IptablesLeftovers: read at start, the first removal saves nothing more; a later one reads again", async () => {
  const b = new CountingSaves(4, "nft");
  b.tables.get("filter")?.set("cali-FORWARD", { policy: "-", rules: ["-j ACCEPT"] });
  const t = new TableSyncer(b);
  t.adopt(await b.save());
  const leftovers = new IptablesLeftovers([t]);
  assert.equal(b.saves, 1);
  assert.equal(await leftovers.remove(), 1);
  assert.equal(b.saves, 1, "the removal used the view read at start");
  assert.equal(b.tables.get("filter")?.has("cali-FORWARD"), false);
  // Put back behind our back: a removal after the first one reads the kernel again.
  b.tables.get("filter")?.set("cali-FORWARD", { policy: "-", rules: [] });
  assert.equal(await leftovers.remove(), 1);
  assert.equal(b.saves, 2);
  assert.equal(b.tables.get("filter")?.has("cali-FORWARD"), false);
});
