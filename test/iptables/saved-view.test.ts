import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSave, type SavedChain } from "../../iptables/save-parser.js";
import { builtinChains, outsideJumpTo } from "../../iptables/saved-view.js";
import { tableState } from "../../model/tables.js";

const SAVE = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
:cali-a - [0:0]
:cali-b - [0:0]
:cali-c - [0:0]
:cali-d - [0:0]
-A INPUT -m comment --comment "cali:abcdefghijklmnop" -j cali-a
-A INPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL -j cali-b
-A cali-a -m comment --comment "cali:qrstuvwxyz012345" -j cali-c
-A cali-c -j cali-d
COMMIT
`;

/** A chain map that counts passes over all of its chains. */
class CountingMap extends Map<string, SavedChain> {
  scans = 0;
  override values() {
    this.scans++;
    return super.values();
  }
  override entries() {
    this.scans++;
    return super.entries();
  }
  override [Symbol.iterator]() {
    this.scans++;
    return super[Symbol.iterator]();
  }
}

test("a removed chain that a rule without our hash jumps to is found; ours (hashed) and desired chains do not count", () => {
  const have = parseSave(SAVE).get("filter")!;
  const none = tableState();
  assert.equal(outsideJumpTo(have, none, ["cali-b"]), true, "KUBE-FIREWALL jumps to it");
  assert.equal(outsideJumpTo(have, none, ["cali-c"]), false, "only our hashed rule jumps to it");
  assert.equal(outsideJumpTo(have, none, ["cali-d"]), true, "an older rule of ours without a hash");
  assert.equal(outsideJumpTo(have, none, ["cali-c", "cali-d"]), false, "its only jumper goes too");
  assert.equal(outsideJumpTo(have, none, ["cali-b", "KUBE-FIREWALL"]), true, "INPUT jumps to KUBE-FIREWALL");
  const wantsFirewall = tableState([{ name: "KUBE-FIREWALL", rules: [] }]);
  assert.equal(outsideJumpTo(have, wantsFirewall, ["cali-b"]), false, "a desired chain is rewritten");
  // The view changes after a write (the chain holding the jump is gone): the index is checked against it.
  have.chains.delete("KUBE-FIREWALL");
  assert.equal(outsideJumpTo(have, none, ["cali-b"]), false);
});

test("the view is scanned once per read, not on every plan: a one-chain change costs O(change)", () => {
  const parsed = parseSave(SAVE).get("filter")!;
  const chains = new CountingMap(parsed.chains);
  const have = { name: "filter", chains };
  chains.scans = 0;
  assert.equal(outsideJumpTo(have, tableState(), ["cali-b"]), true);
  const afterFirst = chains.scans;
  for (let i = 0; i < 5; i++) assert.equal(outsideJumpTo(have, tableState(), ["cali-b"]), true);
  assert.equal(chains.scans, afterFirst, "later plans look up the index");
  assert.deepEqual(
    builtinChains(chains).map((c) => c.name),
    ["INPUT", "FORWARD", "OUTPUT"],
  );
  assert.equal(chains.scans, afterFirst, "built-in chains are looked up by name");
});
