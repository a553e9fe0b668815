// test-runner: machine-free.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { holdsNoneOfKinds } from "../../../src/datastore/kinds-ahead.js";

const NAT = new Set(["Service", "EndpointSlice"]);
const none = (text: string, path = "f.yaml") => holdsNoneOfKinds(path, text, NAT);

describe("holdsNoneOfKinds", () => {
  test("block YAML whose every document names another kind on a root line", () => {
    assert.ok(none("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\nkind: 'Namespace'  # quoted\n"));
    assert.ok(none("# c\n---\r\nkind: Pod\r\nspec:\r\n  x: 1\r\n...\n", "f.YML"));
    assert.ok(none(""), "an empty file holds nothing");
  });

  test("anything that could hold one of the kinds is not proven: read ahead", () => {
    assert.ok(!none("kind: Pod\n---\nkind: Service\n"), "one of the kinds");
    assert.ok(!none("kind: PodList\nitems:\n- kind: Service\n"), "a List");
    assert.ok(!none('{"kind": "Pod"}', "f.json"), "JSON");
    assert.ok(!none("kind: Pod\n---\n{kind: Service}\n"), "a flow document");
    assert.ok(!none("kind: Pod\n--- {kind: Service}\n"), "content after a marker");
    assert.ok(!none('"kind": Service\nkind: Pod\n'), "a quoted key");
    assert.ok(!none("kind: Pod\n---\n  kind: Service\n"), "an indented root mapping");
    assert.ok(!none("kind: Pod\nkind: Service\n"), "two kind lines in a document");
    assert.ok(!none('kind: Pod\nnote: "x\nkind: Pod\ny"\n'), "a kind line inside a quoted scalar");
    assert.ok(!none("kind:\n  Service\n"), "the kind on the next line");
    assert.ok(!none("kind: !!str Service\n"), "a tag");
    assert.ok(!none("%YAML 1.2\n---\nkind: Pod\n"), "a directive");
    assert.ok(!none("apiVersion: v1\nmetadata: {}\n"), "a document without a kind");
    assert.ok(!none("kind: Pod\n\tkind: Service\n"), "a tab at column 0");
  });
});
