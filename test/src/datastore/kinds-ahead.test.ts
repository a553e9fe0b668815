// test-runner: machine-free.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { holdsOnlyKinds } from "../../../src/datastore/kinds-ahead.js";

const NAT = new Set(["Service", "EndpointSlice"]);

describe("holdsOnlyKinds", () => {
  test("block YAML whose every top-level kind is one of the kinds", () => {
    assert.ok(holdsOnlyKinds("s.yaml", "apiVersion: v1\nkind: Service\n---\nkind: EndpointSlice\n", NAT));
    assert.ok(holdsOnlyKinds("s.YML", "kind: 'Service'  # quoted, a comment\r\nmetadata: {}\r\n", NAT));
  });

  test("anything else is read after: another kind, a List, no kind, JSON, a kind spelt another way", () => {
    assert.ok(!holdsOnlyKinds("m.yaml", "kind: Service\n---\nkind: Pod\n", NAT));
    assert.ok(!holdsOnlyKinds("l.yaml", "kind: List\nitems:\n- kind: Service\n", NAT));
    assert.ok(!holdsOnlyKinds("e.yaml", "", NAT));
    assert.ok(!holdsOnlyKinds("j.json", '{"kind": "Service"}', NAT));
    assert.ok(!holdsOnlyKinds("f.yaml", "kind: Service\n---\n{kind: Pod,\nkind: Pod}\nkind: Pod,\n", NAT));
  });
});
