// The fake nftables refuses what nft and the kernel refuse, and a refused
// script changes nothing (fake-vs-real.test.ts checks the same scripts on the
// real nft).

import assert from "node:assert/strict";
import { test } from "node:test";
import { NftError } from "../../nftables/backend.js";
import { FakeNftBackend } from "../../nftables/fake-backend.js";
import { parseNftJson } from "../../nftables/view.js";

const T = "ip calico";

async function loaded(): Promise<FakeNftBackend> {
  const nft = new FakeNftBackend("ip");
  await nft.transact(
    [
      `add table ${T}`,
      `add set ${T} s { type ipv4_addr; flags interval; }`,
      `add element ${T} s { 10.0.0.0/24, 10.1.0.1 }`,
      `add chain ${T} a`,
      `add chain ${T} b`,
      `add rule ${T} a ip saddr @s jump b comment "cali:r1"`,
      "",
    ].join("\n"),
  );
  return nft;
}

async function refused(nft: FakeNftBackend, script: string, why: RegExp): Promise<void> {
  const before = await nft.list();
  await assert.rejects(nft.transact(script), (e) => e instanceof NftError && why.test(e.message));
  assert.equal(await nft.list(), before, "a refused transaction changed nothing");
}

test("a jump to a missing chain fails the whole transaction", async () => {
  const nft = await loaded();
  await refused(nft, `add chain ${T} c\nadd rule ${T} c jump nowhere comment "cali:x"\n`, /chain nowhere/);
  assert.equal(nft.rules("c"), undefined, "chain c from the same transaction is not there");
});

test("a rule may jump to a chain only once it is declared, in the flat form", async () => {
  const nft = await loaded();
  await refused(nft, `add chain ${T} c\nadd rule ${T} c jump d comment "cali:x"\nadd chain ${T} d\n`, /chain d/);
});

test("the nested form declares every chain before any rule", async () => {
  const nft = new FakeNftBackend("ip");
  await nft.transact(`table ip calico {\n\tchain a {\n\t\tjump b comment "cali:x"\n\t}\n\n\tchain b {\n\t}\n}\n`);
  assert.deepEqual(nft.rules("a"), ['jump b comment "cali:x"']);
});

test("deleting a chain or a set still referenced is refused; after the referring rules are flushed it passes", async () => {
  const nft = await loaded();
  await refused(nft, `delete chain ${T} b\n`, /busy/);
  await refused(nft, `delete set ${T} s\n`, /busy/);
  await nft.transact(`flush chain ${T} a\ndelete chain ${T} b\ndelete set ${T} s\n`);
  const view = parseNftJson((await nft.list())!);
  assert.deepEqual([...view.chains.keys()], ["a"]);
  assert.equal(view.sets.size, 0);
});

test("elements must fit the set's type", async () => {
  const nft = await loaded();
  await nft.transact(`add set ${T} p { type ipv4_addr . inet_proto . inet_service; }\n`);
  await refused(nft, `add element ${T} s { fd00::1 }\n`, /fd00::1/);
  await refused(nft, `add element ${T} s { 10.0.0.1 . tcp . 80 }\n`, /does not match/);
  await refused(nft, `add element ${T} p { 10.0.0.1 . tcp . 70000 }\n`, /inet_service/);
  await refused(nft, `add element ${T} p { 10.0.0.0/24 . tcp . 80 }\n`, /prefix/);
  await nft.transact(`add element ${T} p { 10.0.0.1 . tcp . 80 }\n`);
});

test("an interval set refuses overlapping elements; a hash set refuses prefixes", async () => {
  const nft = await loaded();
  await refused(nft, `add element ${T} s { 10.0.0.5 }\n`, /overlaps/);
  await refused(nft, `add element ${T} s { 10.0.0.0/8 }\n`, /overlaps/);
  await nft.transact(`add element ${T} s { 10.0.0.0/24, 10.1.0.1/32 }\n`); // present already: accepted
  await nft.transact(`add set ${T} h { type ipv4_addr; }\n`);
  await refused(nft, `add element ${T} h { 10.0.0.0/24 }\n`, /prefix/);
});

test("deleting an element that is not there fails; re-adding a set with another type fails", async () => {
  const nft = await loaded();
  await refused(nft, `delete element ${T} s { 10.9.9.9 }\n`, /No such/);
  await refused(nft, `add set ${T} s { type ipv4_addr; }\n`, /exists/);
  await nft.transact(`add set ${T} s { type ipv4_addr; flags interval; }\n`);
});

test("a base chain's policy may change, its hook may not", async () => {
  const nft = await loaded();
  const spec = "type filter hook forward priority filter;";
  await nft.transact(`add chain ${T} f { ${spec} policy accept; }\n`);
  await nft.transact(`add chain ${T} f { ${spec} policy drop; }\n`);
  assert.equal(parseNftJson((await nft.list())!).chains.get("f")?.base?.policy, "drop");
  await refused(nft, `add chain ${T} f { type filter hook input priority filter; policy accept; }\n`, /hook/);
});

test("the listing gives the view: hash comments in order, elements in script form", async () => {
  const nft = await loaded();
  await nft.transact(
    `add set ${T} p { type ipv4_addr . inet_proto . inet_service; }\nadd element ${T} p { 10.0.0.1 . tcp . 80 }\n`,
  );
  const view = parseNftJson((await nft.list())!);
  assert.deepEqual(view.chains.get("a")?.hashes, ["r1"]);
  assert.deepEqual([...view.sets.get("s")!.elements], ["10.0.0.0/24", "10.1.0.1"]);
  assert.deepEqual([...view.sets.get("p")!.elements], ["10.0.0.1 . tcp . 80"]);
  assert.equal(await new FakeNftBackend("ip6").list(), undefined, "no ip6 table");
});
