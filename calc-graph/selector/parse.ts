// Parser for Calico's label selector syntax (projectcalico.org/v3 selectors).
//
//   or      := and ("||" and)*
//   and     := unary ("&&" unary)*
//   unary   := "!" unary | primary
//   primary := "(" or ")" | "all()" | "has(" key ")"
//            | key ("==" | "!=") string
//            | key ("in" | "not" "in") "{" [string ("," string)* [","]] "}"
//            | key ("contains" | "starts" "with" | "ends" "with") string
//            | "global()"
//
// As in Calico, `!` negates the whole following term, so `!a == 'x'` means
// `!(a == 'x')`. Strings are '…' or "…" with no escapes. Whitespace may
// appear between any two tokens. The empty selector is `all()`.
//
// Beyond Calico: a key or string may also be `$` + a JSON string, the form
// selectorText uses for what Calico cannot write (a value holding both quote
// kinds, a key with other characters), so the canonical text always parses
// back to the same selector.
//
// Results are built with the constructors from selector.ts, so they come out
// normalised (nested ANDs/ORs flattened, `all()` absorbed, sets sorted).

import {
  ALL,
  and,
  contains,
  endsWith,
  eq,
  GLOBAL,
  has,
  inSet,
  neq,
  not,
  notIn,
  or,
  type Selector,
  startsWith,
} from "./selector.js";

const KEY_CHAR = /[A-Za-z0-9._/-]/;
const SPACE = /\s/;

/** Parses Calico selector text; throws an Error naming the offset on bad syntax. */
export function parseSelector(text: string): Selector {
  let pos = 0;

  const fail = (expected: string): never => {
    const found = pos < text.length ? JSON.stringify(text[pos]) : "end of input";
    throw new Error(`invalid selector ${JSON.stringify(text)}: expected ${expected} at offset ${pos}, found ${found}`);
  };
  const skipSpace = (): void => {
    while (pos < text.length && SPACE.test(text[pos])) pos++;
  };
  const peek = (token: string): boolean => {
    skipSpace();
    return text.startsWith(token, pos);
  };
  const accept = (token: string): boolean => {
    if (!peek(token)) return false;
    pos += token.length;
    return true;
  };
  const expect = (token: string, expected = `'${token}'`): void => {
    if (!accept(token)) fail(expected);
  };
  /** A maximal run of label-key characters (possibly empty). */
  const word = (): string => {
    skipSpace();
    const start = pos;
    while (pos < text.length && KEY_CHAR.test(text[pos])) pos++;
    return text.slice(start, pos);
  };
  /** `$"…"`: a JSON string (at pos, after spaces). */
  const escaped = (): string => {
    let end = pos + 2;
    while (end < text.length && text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
    if (text[pos + 1] !== '"' || end >= text.length) fail('a JSON string after "$"');
    try {
      const v = JSON.parse(text.slice(pos + 1, end + 1)) as string;
      pos = end + 1;
      return v;
    } catch {
      return fail("a valid JSON string");
    }
  };
  /** A label key: a word, or `$"…"`; `escapedKey` tells the second (never a keyword). */
  let escapedKey = false;
  const keyWord = (): string => {
    skipSpace();
    escapedKey = text[pos] === "$";
    return escapedKey ? escaped() : word();
  };
  const key = (): string => {
    const k = keyWord();
    return k !== "" || escapedKey ? k : fail("a label key");
  };

  const literal = (): string => {
    skipSpace();
    if (text[pos] === "$") return escaped();
    const quote = text[pos];
    if (quote !== "'" && quote !== '"') fail("a quoted string");
    const end = text.indexOf(quote, pos + 1);
    if (end < 0) {
      pos = text.length;
      fail(`closing ${quote}`);
    }
    const value = text.slice(pos + 1, end);
    pos = end + 1;
    return value;
  };

  const stringSet = (): string[] => {
    expect("{");
    const values: string[] = [];
    if (accept("}")) return values;
    do values.push(literal());
    while (accept(",") && !peek("}"));
    expect("}", "',' or '}'");
    return values;
  };

  const orExpr = (): Selector => {
    const terms = [andExpr()];
    while (accept("||")) terms.push(andExpr());
    return or(...terms);
  };

  const andExpr = (): Selector => {
    const terms = [unary()];
    while (accept("&&")) terms.push(unary());
    return and(...terms);
  };

  const unary = (): Selector => (accept("!") ? not(unary()) : primary());

  const primary = (): Selector => {
    if (accept("(")) {
      const sel = orExpr();
      expect(")", "')', '&&' or '||'");
      return sel;
    }
    skipSpace();
    const name = keyWord();
    const keyword = !escapedKey;
    if (name === "" && keyword) fail("a label key, 'has(', 'all()', '!' or '('");
    if (keyword && name === "all" && accept("(")) {
      expect(")");
      return ALL;
    }
    if (keyword && name === "has" && accept("(")) {
      const k = key();
      expect(")");
      return has(k);
    }
    if (keyword && name === "global" && accept("(")) {
      expect(")");
      return GLOBAL;
    }
    if (accept("==")) return eq(name, literal());
    if (accept("!=")) return neq(name, literal());
    skipSpace();
    const opStart = pos;
    const op = word();
    if (op === "in") return inSet(name, stringSet());
    if (op === "not" && word() === "in") return notIn(name, stringSet());
    if (op === "contains") return contains(name, literal());
    if (op === "starts" && word() === "with") return startsWith(name, literal());
    if (op === "ends" && word() === "with") return endsWith(name, literal());
    pos = opStart;
    return fail("'==', '!=', 'in', 'not in', 'contains', 'starts with' or 'ends with'");
  };

  skipSpace();
  if (pos === text.length) return ALL;
  const sel = orExpr();
  skipSpace();
  if (pos < text.length) fail("'&&', '||' or end of input");
  return sel;
}
