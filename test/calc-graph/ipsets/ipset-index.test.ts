// IpSetIndex.members: what a snapshot gets for a set. Unchanged, the old
// object; changed, a new MemberSet that shares the old one's untouched
// buckets when the old one is what the index last handed out; anything
// else, a fresh set of the current members.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { selectorSet } from "../../../calc-graph/ipsets/ids.js";
import { IpSetIndex } from "../../../calc-graph/ipsets/ipset-index.js";
import { parseSelector } from "../../../calc-graph/selector/parse.js";
import { MemberSet } from "../../../model/member-set.js";

const ip = (i: number) => `10.64.${i >> 8}.${i & 255}`;

function pod(i: number, app: string) {
  return { ipv4Nets: [`${ip(i)}/32`], ipv6Nets: [], labels: { app }, profileIds: [] };
}

function filled(n: number): { index: IpSetIndex; id: string } {
  const index = new IpSetIndex();
  const spec = selectorSet(parseSelector("app == 'web'"));
  index.addRef(spec);
  for (let i = 0; i < n; i++) index.updateEndpoint(`pod-${i}`, pod(i, "web"));
  return { index, id: spec.id };
}

describe("IpSetIndex.members", () => {
  it("one pod leaving a set of thousands: the next set shares all but one bucket with the last", () => {
    const { index, id } = filled(3000);
    const first = index.members(id, 4);
    assert.equal(first.size, 3000);
    index.updateEndpoint("pod-17", pod(17, "db"));
    const second = index.members(id, 4, first);
    assert.equal(second.size, 2999);
    assert.equal(second.has(ip(17)), false);
    assert.ok(first instanceof MemberSet && second instanceof MemberSet);
    assert.equal(MemberSet.sharedBuckets(first, second), MemberSet.sharedBuckets(first, first) - 1);
    // Unchanged since: the very same object.
    assert.equal(index.members(id, 4, second), second);
  });

  it("a change undone before the next snapshot gives the old object back", () => {
    const { index, id } = filled(400);
    const first = index.members(id, 4);
    index.updateEndpoint("pod-3", pod(3, "db"));
    index.updateEndpoint("pod-3", pod(3, "web"));
    assert.equal(index.members(id, 4, first), first);
  });

  it("an old set it did not hand out last is compared member by member, then rebuilt when it differs", () => {
    const { index, id } = filled(300);
    index.members(id, 4);
    const foreign = new Set(Array.from({ length: 300 }, (_, i) => ip(i)));
    assert.equal(index.members(id, 4, foreign), foreign);
    const other = new Set([ip(1)]);
    const rebuilt = index.members(id, 4, other);
    assert.notEqual(rebuilt, other);
    assert.deepEqual([...rebuilt].sort(), [...foreign].sort());
  });
});
