import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseSelector } from "../../../calc-graph/selector/parse.js";
import {
  ALL,
  and,
  contains,
  endsWith,
  eq,
  GLOBAL,
  has,
  inSet,
  type Labels,
  matches,
  mentionedKeys,
  neq,
  not,
  notIn,
  or,
  requiredLabel,
  type Selector,
  selectorText,
  startsWith,
} from "../../../calc-graph/selector/selector.js";

const labels = (obj: Record<string, string>): Labels => new Map(Object.entries(obj));

describe("matches", () => {
  const l = labels({ app: "web", tier: "frontend" });

  it("all() matches everything, including no labels", () => {
    assert.equal(matches(ALL, l), true);
    assert.equal(matches(ALL, labels({})), true);
  });

  it("has", () => {
    assert.equal(matches(has("app"), l), true);
    assert.equal(matches(has("role"), l), false);
    assert.equal(matches(has("app"), labels({ app: "" })), true);
  });

  it("== and !=", () => {
    assert.equal(matches(eq("app", "web"), l), true);
    assert.equal(matches(eq("app", "db"), l), false);
    assert.equal(matches(eq("role", "web"), l), false);
    assert.equal(matches(neq("app", "web"), l), false);
    assert.equal(matches(neq("app", "db"), l), true);
  });

  it("!= matches when the key is absent", () => {
    assert.equal(matches(neq("role", "x"), l), true);
  });

  it("in and not in", () => {
    assert.equal(matches(inSet("app", ["db", "web"]), l), true);
    assert.equal(matches(inSet("app", ["db"]), l), false);
    assert.equal(matches(inSet("role", ["web"]), l), false);
    assert.equal(matches(inSet("app", []), l), false);
    assert.equal(matches(notIn("app", ["db", "web"]), l), false);
    assert.equal(matches(notIn("app", ["db"]), l), true);
  });

  it("not in matches when the key is absent", () => {
    assert.equal(matches(notIn("role", ["x"]), l), true);
  });

  it("!, && and ||", () => {
    assert.equal(matches(not(has("role")), l), true);
    assert.equal(matches(and(eq("app", "web"), eq("tier", "frontend")), l), true);
    assert.equal(matches(and(eq("app", "web"), eq("tier", "backend")), l), false);
    assert.equal(matches(or(eq("app", "db"), eq("tier", "frontend")), l), true);
    assert.equal(matches(or(eq("app", "db"), eq("tier", "backend")), l), false);
  });
});

describe("Calico's string operators and global()", () => {
  const l = new Map([
    ["app", "frontend-v2"],
    ["tier", "web"],
  ]);
  for (const [text, want] of [
    ["app contains 'end-v'", true],
    ["app contains 'backend'", false],
    ["app starts with 'front'", true],
    ["app starts with 'end'", false],
    ["app ends with '-v2'", true],
    ["app ends with 'front'", false],
    ["missing contains ''", false],
    ["missing starts with ''", false],
    ["!has(missing) && has(app)", true],
    ["!has(app)", false],
    ["global()", true],
    ["tier not in {'db', 'cache'}", true],
    ["app in {'frontend-v2'} && tier == 'web'", true],
    ["(app starts with 'x' || tier ends with 'eb') && !(tier contains 'x')", true],
  ] as const) {
    it(text, () => {
      const sel = parseSelector(text);
      assert.equal(matches(sel, l), want);
      // The canonical text parses back to the same selector.
      assert.deepEqual(parseSelector(selectorText(sel)), sel);
    });
  }
  it("canonical texts", () => {
    assert.equal(selectorText(parseSelector('a  starts   with "x"')), "a starts with 'x'");
    assert.equal(selectorText(parseSelector("global() && a ends with 'y'")), "global() && a ends with 'y'");
    assert.equal(selectorText(not(GLOBAL)), "!global()");
  });
});

describe("constructors", () => {
  it("and() flattens, drops all() and collapses", () => {
    assert.deepEqual(and(), ALL);
    assert.deepEqual(and(ALL, has("a")), has("a"));
    assert.deepEqual(and(and(has("a"), has("b")), has("c")), {
      op: "and",
      sels: [has("a"), has("b"), has("c")],
    });
  });

  it("or() flattens and is absorbed by all()", () => {
    assert.deepEqual(or(has("a"), ALL), ALL);
    assert.deepEqual(or(has("a")), has("a"));
    assert.deepEqual(or(or(has("a"), has("b")), has("c")), {
      op: "or",
      sels: [has("a"), has("b"), has("c")],
    });
  });

  it("sets are deduplicated and sorted", () => {
    assert.deepEqual(inSet("k", ["b", "a", "b"]), { op: "in", key: "k", values: ["a", "b"] });
    assert.deepEqual(notIn("k", ["z", "y"]), { op: "notin", key: "k", values: ["y", "z"] });
  });
});

describe("selectorText", () => {
  const cases: [Selector, string][] = [
    [ALL, "all()"],
    [has("app"), "has(app)"],
    [eq("app", "web"), "app == 'web'"],
    [neq("app", "web"), "app != 'web'"],
    [eq("msg", "it's"), `msg == "it's"`],
    [eq("msg", 'say "hi"'), `msg == 'say "hi"'`],
    [inSet("k", ["b", "a"]), "k in {'a', 'b'}"],
    [notIn("k", ["a"]), "k not in {'a'}"],
    [inSet("k", []), "k in {}"],
    [not(has("a")), "!has(a)"],
    [not(ALL), "!all()"],
    [not(eq("a", "b")), "!(a == 'b')"],
    [not(and(has("a"), has("b"))), "!(has(a) && has(b))"],
    [and(has("a"), or(has("b"), has("c"))), "has(a) && (has(b) || has(c))"],
    [or(and(has("a"), has("b")), has("c")), "(has(a) && has(b)) || has(c)"],
    [and(eq("projectcalico.org/namespace", "default"), has("x")), "projectcalico.org/namespace == 'default' && has(x)"],
  ];
  for (const [sel, text] of cases) {
    it(text, () => assert.equal(selectorText(sel), text));
  }
});

describe("mentionedKeys", () => {
  it("collects every key once", () => {
    const sel = or(and(eq("a", "1"), not(has("b"))), inSet("c", ["x"]), notIn("a", ["y"]), neq("d", "z"));
    assert.deepEqual([...mentionedKeys(sel)].sort(), ["a", "b", "c", "d"]);
  });

  it("all() mentions nothing", () => {
    assert.equal(mentionedKeys(ALL).size, 0);
  });

  it("adds into the given set", () => {
    const into = new Set(["z"]);
    assert.equal(mentionedKeys(has("a"), into), into);
    assert.deepEqual([...into].sort(), ["a", "z"]);
  });
});

describe("requiredLabel", () => {
  it("eq gives key and value", () => {
    assert.deepEqual(requiredLabel(eq("a", "1")), { key: "a", value: "1" });
  });
  it("has gives the key", () => {
    assert.deepEqual(requiredLabel(has("a")), { key: "a" });
  });
  it("single-valued in gives key and value; multi-valued only the key", () => {
    assert.deepEqual(requiredLabel(inSet("a", ["1"])), { key: "a", value: "1" });
    assert.deepEqual(requiredLabel(inSet("a", ["1", "2"])), { key: "a" });
  });
  it("and prefers a key=value term over a key-only term", () => {
    assert.deepEqual(requiredLabel(and(has("a"), eq("b", "2"))), { key: "b", value: "2" });
    assert.deepEqual(requiredLabel(and(neq("x", "1"), has("a"), has("c"))), { key: "a" });
  });
  it("nothing is required for all(), !=, not in, !, ||", () => {
    assert.equal(requiredLabel(ALL), undefined);
    assert.equal(requiredLabel(neq("a", "1")), undefined);
    assert.equal(requiredLabel(notIn("a", ["1"])), undefined);
    assert.equal(requiredLabel(not(has("a"))), undefined);
    assert.equal(requiredLabel(or(eq("a", "1"), eq("a", "2"))), undefined);
    assert.equal(requiredLabel(and(neq("a", "1"), not(has("b")))), undefined);
  });
});

describe("parseSelector: valid input", () => {
  const cases: [string, Selector][] = [
    ["", ALL],
    ["   \t\n", ALL],
    ["all()", ALL],
    [" all ( ) ", ALL],
    ["has(app)", has("app")],
    ["has( app )", has("app")],
    ["!has(app)", not(has("app"))],
    ["! ! has(app)", not(not(has("app")))],
    ["app == 'web'", eq("app", "web")],
    ['app=="web"', eq("app", "web")],
    ["app != 'web'", neq("app", "web")],
    ['app!="web"', neq("app", "web")],
    ['msg == "it\'s"', eq("msg", "it's")],
    ["msg == 'say \"hi\"'", eq("msg", 'say "hi"')],
    ["a == ''", eq("a", "")],
    ["a == ' spaced  out '", eq("a", " spaced  out ")],
    ["a == '&& || ( ) { } , !'", eq("a", "&& || ( ) { } , !")],
    ["k in {'b', \"a\"}", inSet("k", ["a", "b"])],
    ["k in{'a','a'}", inSet("k", ["a"])],
    ["k in {}", inSet("k", [])],
    ["k in { 'a', }", inSet("k", ["a"])],
    ["k not in {'a'}", notIn("k", ["a"])],
    ["k not\tin{'a'}", notIn("k", ["a"])],
    ["projectcalico.org/namespace == 'x'", eq("projectcalico.org/namespace", "x")],
    ["k8s-app_v1.2/x == 'y'", eq("k8s-app_v1.2/x", "y")],
    ["a == '1' && b == '2'", and(eq("a", "1"), eq("b", "2"))],
    ["a == '1' || b == '2'", or(eq("a", "1"), eq("b", "2"))],
    ["has(a) && has(b) || has(c)", or(and(has("a"), has("b")), has("c"))],
    ["has(a) || has(b) && has(c)", or(has("a"), and(has("b"), has("c")))],
    ["has(a) && (has(b) || has(c))", and(has("a"), or(has("b"), has("c")))],
    ["(has(a) && has(b)) && has(c)", and(has("a"), has("b"), has("c"))],
    ["((has(a)))", has("a")],
    ["all() && has(a)", has("a")],
    ["all() || has(a)", ALL],
    ["!all()", not(ALL)],
    ["!(a == 'b' && has(c))", not(and(eq("a", "b"), has("c")))],
    // Calico: `!` negates the whole following term.
    ["!a == 'b'", not(eq("a", "b"))],
    ["!k in {'x'} && has(y)", and(not(inSet("k", ["x"])), has("y"))],
    // Keywords are ordinary keys where a key is expected.
    ["has == 'x'", eq("has", "x")],
    ["all in {'x'}", inSet("all", ["x"])],
    ["in in {'x'}", inSet("in", ["x"])],
    ["not not in {'x'}", notIn("not", ["x"])],
    ["global != 'x'", neq("global", "x")],
    ["has(in)", has("in")],
  ];
  for (const [text, want] of cases) {
    it(JSON.stringify(text), () => assert.deepEqual(parseSelector(text), want));
  }
});

describe("parseSelector: syntax errors", () => {
  const cases: [string, number, string][] = [
    ["has(", 4, "expected a label key"],
    ["has()", 4, "expected a label key"],
    ["has(a", 5, "expected ')'"],
    ["has(a b)", 6, "expected ')'"],
    ["all(", 4, "expected ')'"],
    ["a", 1, "expected '==', '!=', 'in', 'not in', 'contains', 'starts with' or 'ends with'"],
    ["a = 'b'", 2, "expected '==', '!=', 'in', 'not in', 'contains', 'starts with' or 'ends with'"],
    ["a notin {'b'}", 2, "expected '==', '!=', 'in', 'not in', 'contains', 'starts with' or 'ends with'"],
    ["a not {'b'}", 2, "expected '==', '!=', 'in', 'not in', 'contains', 'starts with' or 'ends with'"],
    ["a == b", 5, "expected a quoted string"],
    ["a == ", 5, "expected a quoted string"],
    ["a == 'b", 7, "expected closing '"],
    ['a == "b', 7, 'expected closing "'],
    ["a in 'b'", 5, "expected '{'"],
    ["a in {'b' 'c'}", 10, "expected ',' or '}'"],
    ["a in {'b'", 9, "expected ',' or '}'"],
    ["a in {,}", 6, "expected a quoted string"],
    ["== 'a'", 0, "expected a label key, 'has(', 'all()', '!' or '('"],
    ["has(a) &&", 9, "expected a label key"],
    ["has(a) && || has(b)", 10, "expected a label key"],
    ["has(a) & has(b)", 7, "expected '&&', '||' or end of input"],
    ["has(a) has(b)", 7, "expected '&&', '||' or end of input"],
    ["(has(a)", 7, "expected ')', '&&' or '||'"],
    ["has(a))", 6, "expected '&&', '||' or end of input"],
    ["()", 1, "expected a label key"],
    ["!", 1, "expected a label key"],
    ["a == 'b' c", 9, "expected '&&', '||' or end of input"],
    ["a starts 'b'", 2, "expected '==', '!=', 'in', 'not in', 'contains', 'starts with' or 'ends with'"],
    ["a ends width 'b'", 2, "expected '==', '!=', 'in', 'not in', 'contains', 'starts with' or 'ends with'"],
    ["a contains b", 11, "expected a quoted string"],
    ["global(", 7, "expected ')'"],
  ];
  for (const [text, offset, expected] of cases) {
    it(JSON.stringify(text), () => {
      assert.throws(
        () => parseSelector(text),
        (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.ok(err.message.includes(expected), `message ${JSON.stringify(err.message)} lacks ${expected}`);
          assert.ok(
            err.message.includes(`at offset ${offset},`),
            `message ${JSON.stringify(err.message)} lacks offset ${offset}`,
          );
          return true;
        },
      );
    });
  }
});

// --- Property tests -------------------------------------------------------

const keyArb = fc.oneof(
  fc.constantFrom(
    "a",
    "b",
    "app",
    "projectcalico.org/namespace",
    "in",
    "not",
    "has",
    "all",
    "global",
    "contains",
    "starts",
    "ends",
  ),
  fc.stringMatching(/^[A-Za-z0-9._/-]{1,10}$/),
);
// Calico strings have no escapes, so a value cannot contain both quote kinds.
const valueArb = fc
  .oneof(
    fc.constantFrom("", "x", "y", "a b", "it's", 'say "hi"', "{'a', 'b'}", "&& || !"),
    fc.string({ maxLength: 8 }),
    fc.string({ maxLength: 8, unit: "grapheme" }),
  )
  .filter((v) => !(v.includes("'") && v.includes('"')));

const selectorArb: fc.Arbitrary<Selector> = fc.letrec<{ sel: Selector }>((tie) => ({
  sel: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(ALL),
    keyArb.map(has),
    fc.tuple(keyArb, valueArb).map(([k, v]) => eq(k, v)),
    fc.tuple(keyArb, valueArb).map(([k, v]) => neq(k, v)),
    fc.tuple(keyArb, valueArb).map(([k, v]) => contains(k, v)),
    fc.tuple(keyArb, valueArb).map(([k, v]) => startsWith(k, v)),
    fc.tuple(keyArb, valueArb).map(([k, v]) => endsWith(k, v)),
    fc.constant(GLOBAL),
    fc.tuple(keyArb, fc.array(valueArb, { maxLength: 3 })).map(([k, vs]) => inSet(k, vs)),
    fc.tuple(keyArb, fc.array(valueArb, { maxLength: 3 })).map(([k, vs]) => notIn(k, vs)),
    tie("sel").map(not),
    fc.array(tie("sel"), { maxLength: 4 }).map((ss) => and(...ss)),
    fc.array(tie("sel"), { maxLength: 4 }).map((ss) => or(...ss)),
  ),
})).sel;

const labelsArb: fc.Arbitrary<Labels> = fc
  .array(fc.tuple(keyArb, valueArb), { maxLength: 6 })
  .map((entries) => new Map(entries));

describe("properties", () => {
  it("parseSelector(selectorText(s)) has the same canonical text and structure", () => {
    fc.assert(
      fc.property(selectorArb, (s) => {
        const text = selectorText(s);
        const parsed = parseSelector(text);
        assert.equal(selectorText(parsed), text);
        assert.deepEqual(parsed, s);
      }),
      { numRuns: 1000 },
    );
  });

  it("parseSelector(selectorText(s)) evaluates like s", () => {
    fc.assert(
      fc.property(selectorArb, fc.array(labelsArb, { minLength: 1, maxLength: 5 }), (s, maps) => {
        const parsed = parseSelector(selectorText(s));
        for (const l of maps) assert.equal(matches(parsed, l), matches(s, l));
      }),
      { numRuns: 1000 },
    );
  });

  it("labels outside mentionedKeys do not change the result", () => {
    fc.assert(
      fc.property(selectorArb, labelsArb, keyArb, fc.option(valueArb), (s, l, k, v) => {
        fc.pre(!mentionedKeys(s).has(k));
        const changed = new Map(l);
        if (v === null) changed.delete(k);
        else changed.set(k, v);
        assert.equal(matches(s, changed), matches(s, l));
      }),
      { numRuns: 1000 },
    );
  });

  it("every match carries the requiredLabel", () => {
    fc.assert(
      fc.property(selectorArb, labelsArb, (s, l) => {
        const req = requiredLabel(s);
        if (req === undefined || !matches(s, l)) return;
        assert.ok(l.has(req.key));
        if (req.value !== undefined) assert.equal(l.get(req.key), req.value);
      }),
      { numRuns: 1000 },
    );
  });

  it("parseSelector either succeeds or throws an Error naming an offset", () => {
    const junk = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc
        .array(
          fc.constantFrom(
            "a",
            "b",
            " ",
            "==",
            "!=",
            "!",
            "&&",
            "||",
            "(",
            ")",
            "{",
            "}",
            ",",
            "'x'",
            '"y"',
            "in",
            "not",
            "has(",
            "all()",
          ),
          { maxLength: 12 },
        )
        .map((parts) => parts.join("")),
    );
    fc.assert(
      fc.property(junk, (text) => {
        try {
          parseSelector(text);
        } catch (err) {
          assert.ok(err instanceof Error);
          assert.match(err.message, /at offset \d+, found /);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
