import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { convertLabelSelector } from "../../../calc-graph/conversion/label-selector.js";
import { ALL, and, eq, has, inSet, matches, neq, not, selectorText } from "../../../calc-graph/selector/selector.js";
import type { LabelSelector } from "../../../model/k8s.js";

const text = (sel: LabelSelector | undefined | null, prefix?: string) =>
  selectorText(convertLabelSelector(sel, prefix));

describe("convertLabelSelector", () => {
  it("absent or empty selects everything", () => {
    assert.deepEqual(convertLabelSelector(undefined), ALL);
    assert.deepEqual(convertLabelSelector(null), ALL);
    assert.deepEqual(convertLabelSelector({}), ALL);
    assert.deepEqual(convertLabelSelector({ matchLabels: {}, matchExpressions: [] }), ALL);
    assert.deepEqual(convertLabelSelector({ matchLabels: null as unknown as Record<string, string> }), ALL);
  });

  it("matchLabels → equalities, sorted by key", () => {
    assert.deepEqual(convertLabelSelector({ matchLabels: { b: "2", a: "1" } }), and(eq("a", "1"), eq("b", "2")));
    assert.equal(text({ matchLabels: { app: "web" } }), "app == 'web'");
  });

  it("stringifies matchLabels values", () => {
    assert.equal(text({ matchLabels: { n: 1 as unknown as string } }), "n == '1'");
  });

  it("matchExpressions operators", () => {
    const sel = convertLabelSelector({
      matchExpressions: [
        { key: "x", operator: "In", values: ["q", "p", "p"] },
        { key: "y", operator: "NotIn", values: ["z"] },
        { key: "e", operator: "Exists" },
        { key: "d", operator: "DoesNotExist" },
      ],
    });
    // Sorted by text; a one-value NotIn is `!=`.
    assert.deepEqual(sel, and(not(has("d")), has("e"), inSet("x", ["p", "q"]), neq("y", "z")));
    assert.equal(selectorText(sel), "!has(d) && has(e) && x in {'p', 'q'} && y != 'z'");
  });

  it("matchLabels and matchExpressions are ANDed, terms sorted", () => {
    assert.equal(
      text({ matchLabels: { app: "web" }, matchExpressions: [{ key: "tier", operator: "Exists" }] }),
      "app == 'web' && has(tier)",
    );
  });

  it("equal selectors written differently have one text (so they share one IP set)", () => {
    const selectors: LabelSelector[] = [
      { matchLabels: { app: "web", tier: "fe" } },
      { matchLabels: { tier: "fe" }, matchExpressions: [{ key: "app", operator: "In", values: ["web"] }] },
      {
        matchExpressions: [
          { key: "tier", operator: "In", values: ["fe", "fe"] },
          { key: "app", operator: "In", values: ["web"] },
        ],
      },
      { matchLabels: { app: "web", tier: "fe" }, matchExpressions: [{ key: "app", operator: "In", values: ["web"] }] },
    ];
    assert.deepEqual(new Set(selectors.map((s) => text(s))), new Set(["app == 'web' && tier == 'fe'"]));
    assert.equal(
      text({ matchExpressions: [{ key: "a", operator: "NotIn", values: ["1"] }] }),
      text({ matchExpressions: [{ key: "a", operator: "NotIn", values: ["1", "1"] }] }),
    );
  });

  it("the prefix goes on every key", () => {
    assert.equal(
      text(
        {
          matchLabels: { team: "a" },
          matchExpressions: [
            { key: "env", operator: "In", values: ["prod"] },
            { key: "x", operator: "NotIn", values: ["1"] },
            { key: "e", operator: "Exists" },
            { key: "d", operator: "DoesNotExist" },
          ],
        },
        "pcns.",
      ),
      "!has(pcns.d) && has(pcns.e) && pcns.env == 'prod' && pcns.team == 'a' && pcns.x != '1'",
    );
  });

  it("evaluates as Kubernetes does (NotIn and DoesNotExist match absent keys)", () => {
    const sel = convertLabelSelector({
      matchLabels: { app: "web" },
      matchExpressions: [
        { key: "env", operator: "NotIn", values: ["dev"] },
        { key: "canary", operator: "DoesNotExist" },
      ],
    });
    const l = (o: Record<string, string>) => new Map(Object.entries(o));
    assert.equal(matches(sel, l({ app: "web" })), true);
    assert.equal(matches(sel, l({ app: "web", env: "prod" })), true);
    assert.equal(matches(sel, l({ app: "web", env: "dev" })), false);
    assert.equal(matches(sel, l({ app: "web", canary: "" })), false);
    assert.equal(matches(sel, l({ app: "db" })), false);
  });

  it("rejects malformed selectors", () => {
    const bad: [unknown, RegExp][] = [
      ["app=web", /label selector must be an object/],
      [{ matchLabels: "app=web" }, /matchLabels must be a map/],
      [{ matchExpressions: { key: "a" } }, /matchExpressions must be a list/],
      [{ matchExpressions: [{ operator: "Exists" }] }, /has no key/],
      [{ matchExpressions: [{ key: "", operator: "Exists" }] }, /has no key/],
      [{ matchExpressions: [null] }, /has no key/],
      [{ matchExpressions: [{ key: "a", operator: "In" }] }, /a In needs values/],
      [{ matchExpressions: [{ key: "a", operator: "In", values: [] }] }, /a In needs values/],
      [{ matchExpressions: [{ key: "a", operator: "NotIn" }] }, /a NotIn needs values/],
      [{ matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] }, /a Exists takes no values/],
      [{ matchExpressions: [{ key: "a", operator: "DoesNotExist", values: ["x"] }] }, /a DoesNotExist takes no values/],
      [{ matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }] }, /a: unknown operator "Gt"/],
      [{ matchExpressions: [{ key: "a", operator: "in", values: ["1"] }] }, /unknown operator "in"/],
      [{ matchExpressions: [{ key: "a" }] }, /unknown operator/],
    ];
    for (const [sel, re] of bad) {
      assert.throws(() => convertLabelSelector(sel as LabelSelector), re, JSON.stringify(sel));
    }
  });
});
