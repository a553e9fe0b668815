// The fake link monitor's event semantics (the real one is exercised in a
// throwaway netns by test/routes/route-reconciler.test.ts).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FakeLinkMonitor, type LinkEvent } from "../../ifaces/link-monitor.js";

describe("link monitor (fake)", () => {
  test("initial state from start(), then added/changed/removed events; renames are removed+added", async () => {
    const m = new FakeLinkMonitor([
      { name: "lo", up: true },
      { name: "eth0", up: true },
    ]);
    const events: string[] = [];
    let completed = false;
    m.events.subscribe({
      next: (e: LinkEvent) => events.push(`${e.event} ${e.name} ${e.up ? "up" : "down"}`),
      complete: () => {
        completed = true;
      },
    });
    const initial = await m.start();
    assert.deepEqual(
      initial.map((s) => [s.name, s.up]),
      [
        ["lo", true],
        ["eth0", true],
      ],
    );
    assert.deepEqual(events, []);
    m.addLink("cali1");
    m.setLinkUp("cali1", true);
    m.setLinkUp("cali1", true); // no change, no event
    m.rename("cali1", "cali2");
    m.removeLink("cali2");
    assert.deepEqual(events, [
      "added cali1 down",
      "changed cali1 up",
      "removed cali1 down",
      "added cali2 up",
      "removed cali2 down",
    ]);
    assert.deepEqual(
      (await m.list()).map((s) => s.name),
      ["lo", "eth0"],
    );
    m.stop();
    assert.equal(completed, true);
  });
});
