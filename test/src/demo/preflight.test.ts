import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { demoPreflight, type Machine } from "../../../src/demo/preflight.js";

const ok: Machine = { platform: "linux", uid: 0, has: () => true, python: "/usr/bin/python3" };

describe("demo preflight", () => {
  it("passes on a Linux machine with root and every tool", () => {
    assert.deepEqual(demoPreflight(ok), []);
  });

  it("asks for root first", () => {
    assert.deepEqual(demoPreflight({ ...ok, uid: 1000, has: () => false }), [
      "needs root to create network namespaces: run with sudo",
    ]);
  });

  it("names each missing tool and the Debian packages to install", () => {
    const missing = new Set(["ipset", "iptables-legacy-restore", "iptables-legacy-save"]);
    assert.deepEqual(demoPreflight({ ...ok, has: (c) => !missing.has(c), python: undefined }), [
      "ipset not found (IP sets for selectors)",
      "iptables-legacy-restore not found (the agent's rules)",
      "iptables-legacy-save not found (the agent's rules)",
      "python3 not found (the demo's pods run a small python TCP/UDP server)",
      "install with: apt-get install -y ipset iptables python3",
    ]);
    assert.match(demoPreflight({ ...ok, has: (c) => c !== "ip" }).at(-1)!, /apt-get install -y iproute2$/);
  });
});
