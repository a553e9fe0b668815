// Calico label selectors: the AST, its evaluation, and its canonical text.
//
// Every selector the graph uses (policy selectors, rule peers, namespace
// selectors) is one of these. The canonical text is Calico's selector syntax;
// it names IP sets (its hash is the set id), so it must be deterministic.

export type Labels = ReadonlyMap<string, string>;

export type Selector =
  | { readonly op: "all" }
  /** Calico's global(): true wherever it is evaluated; in a namespace selector it means "not namespaced". */
  | { readonly op: "global" }
  | { readonly op: "has"; readonly key: string }
  | { readonly op: "eq"; readonly key: string; readonly value: string }
  | { readonly op: "neq"; readonly key: string; readonly value: string }
  | { readonly op: "in"; readonly key: string; readonly values: readonly string[] }
  | { readonly op: "notin"; readonly key: string; readonly values: readonly string[] }
  | { readonly op: StringOp; readonly key: string; readonly value: string }
  | { readonly op: "not"; readonly sel: Selector }
  | { readonly op: "and"; readonly sels: readonly Selector[] }
  | { readonly op: "or"; readonly sels: readonly Selector[] };

export type StringOp = "contains" | "startswith" | "endswith";

export const ALL: Selector = { op: "all" };
export const GLOBAL: Selector = { op: "global" };

export const has = (key: string): Selector => ({ op: "has", key });
export const eq = (key: string, value: string): Selector => ({ op: "eq", key, value });
export const neq = (key: string, value: string): Selector => ({ op: "neq", key, value });
export const inSet = (key: string, values: readonly string[]): Selector => ({
  op: "in",
  key,
  values: [...new Set(values)].sort(),
});
export const notIn = (key: string, values: readonly string[]): Selector => ({
  op: "notin",
  key,
  values: [...new Set(values)].sort(),
});
export const not = (sel: Selector): Selector => ({ op: "not", sel });
export const contains = (key: string, value: string): Selector => ({ op: "contains", key, value });
export const startsWith = (key: string, value: string): Selector => ({ op: "startswith", key, value });
export const endsWith = (key: string, value: string): Selector => ({ op: "endswith", key, value });

/** AND of the given selectors; `all()` terms drop out, nested ANDs flatten. */
export function and(...sels: Selector[]): Selector {
  const flat: Selector[] = [];
  for (const s of sels) {
    if (s.op === "all") continue;
    if (s.op === "and") flat.push(...s.sels);
    else flat.push(s);
  }
  if (flat.length === 0) return ALL;
  if (flat.length === 1) return flat[0];
  return { op: "and", sels: flat };
}

/** OR of the given selectors; an `all()` term makes the whole OR `all()`. */
export function or(...sels: Selector[]): Selector {
  const flat: Selector[] = [];
  for (const s of sels) {
    if (s.op === "all") return ALL;
    if (s.op === "or") flat.push(...s.sels);
    else flat.push(s);
  }
  if (flat.length === 0) return ALL;
  if (flat.length === 1) return flat[0];
  return { op: "or", sels: flat };
}

/**
 * Calico semantics: `k != v` and `k not in {…}` also match when k is absent.
 */
export function matches(sel: Selector, labels: Labels): boolean {
  switch (sel.op) {
    case "all":
    case "global":
      return true;
    case "has":
      return labels.has(sel.key);
    case "contains":
      return labels.get(sel.key)?.includes(sel.value) ?? false;
    case "startswith":
      return labels.get(sel.key)?.startsWith(sel.value) ?? false;
    case "endswith":
      return labels.get(sel.key)?.endsWith(sel.value) ?? false;
    case "eq":
      return labels.get(sel.key) === sel.value;
    case "neq":
      return labels.get(sel.key) !== sel.value;
    case "in": {
      const v = labels.get(sel.key);
      return v !== undefined && sel.values.includes(v);
    }
    case "notin": {
      const v = labels.get(sel.key);
      return v === undefined || !sel.values.includes(v);
    }
    case "not":
      return !matches(sel.sel, labels);
    case "and":
      // Loops, not every/some: no closure per evaluation (hundreds of thousands at start-up).
      for (const s of sel.sels) if (!matches(s, labels)) return false;
      return true;
    case "or":
      for (const s of sel.sels) if (matches(s, labels)) return true;
      return false;
  }
}

/** The label keys whose values can change the selector's result. */
export function mentionedKeys(sel: Selector, into: Set<string> = new Set()): Set<string> {
  switch (sel.op) {
    case "all":
    case "global":
      break;
    case "has":
    case "contains":
    case "startswith":
    case "endswith":
    case "eq":
    case "neq":
    case "in":
    case "notin":
      into.add(sel.key);
      break;
    case "not":
      mentionedKeys(sel.sel, into);
      break;
    case "and":
    case "or":
      for (const s of sel.sels) mentionedKeys(s, into);
      break;
  }
  return into;
}

/**
 * Every label a match must carry, for the label index to choose the most
 * selective one: `key` with one of `values` (`k == v`, `k in {…}`), or with
 * any value (values undefined).
 */
export function requiredLabels(sel: Selector): { key: string; values?: readonly string[] }[] {
  if (sel.op === "and") return sel.sels.flatMap(requiredLabels);
  // `k in {a, b}`: its values' items, never more than every item carrying k.
  if (sel.op === "in" && sel.values.length > 1) return [{ key: sel.key, values: sel.values }];
  const r = requiredLabel(sel);
  if (!r) return [];
  return r.value === undefined ? [{ key: r.key }] : [{ key: r.key, values: [r.value] }];
}

/**
 * A label every match must carry, as `key=value` (preferred) or `key`, or
 * undefined when no single label is required. The label index files selectors
 * under it so a new endpoint is only tested against selectors it can match.
 */
export function requiredLabel(sel: Selector): { key: string; value?: string } | undefined {
  switch (sel.op) {
    case "eq":
      return { key: sel.key, value: sel.value };
    case "has":
    case "contains":
    case "startswith":
    case "endswith":
      return { key: sel.key };
    case "in":
      return sel.values.length === 1 ? { key: sel.key, value: sel.values[0] } : { key: sel.key };
    case "and": {
      let keyOnly: { key: string } | undefined;
      for (const s of sel.sels) {
        const r = requiredLabel(s);
        if (r?.value !== undefined) return r;
        if (r && !keyOnly) keyOnly = r;
      }
      return keyOnly;
    }
    default:
      return undefined;
  }
}

// The canonical text must be injective: it names IP sets, and two selectors
// sharing a text would share a set (a crafted value could put one policy's
// peers into another's set). Values are '…' when they hold no ', else "…"
// when they hold no ", and keys are bare when made of label-key characters,
// as Calico writes them; anything else is `$` + a JSON string (escaped), a
// form Calico cannot write, which parse.ts reads back. Every token then ends
// unambiguously, and Calico-writable selectors keep their text (and set names).
const BARE_KEY = /^[A-Za-z0-9._/-]+$/;

function quote(v: string): string {
  if (!v.includes("'")) return `'${v}'`;
  if (!v.includes('"')) return `"${v}"`;
  return `$${JSON.stringify(v)}`;
}

function keyText(k: string): string {
  return BARE_KEY.test(k) ? k : `$${JSON.stringify(k)}`;
}

function setText(values: readonly string[]): string {
  return `{${values.map(quote).join(", ")}}`;
}

/** Canonical Calico selector text. */
export function selectorText(sel: Selector): string {
  switch (sel.op) {
    case "all":
      return "all()";
    case "global":
      return "global()";
    case "contains":
      return `${keyText(sel.key)} contains ${quote(sel.value)}`;
    case "startswith":
      return `${keyText(sel.key)} starts with ${quote(sel.value)}`;
    case "endswith":
      return `${keyText(sel.key)} ends with ${quote(sel.value)}`;
    case "has":
      return `has(${keyText(sel.key)})`;
    case "eq":
      return `${keyText(sel.key)} == ${quote(sel.value)}`;
    case "neq":
      return `${keyText(sel.key)} != ${quote(sel.value)}`;
    case "in":
      return `${keyText(sel.key)} in ${setText(sel.values)}`;
    case "notin":
      return `${keyText(sel.key)} not in ${setText(sel.values)}`;
    case "not":
      return sel.sel.op === "has" || sel.sel.op === "all" || sel.sel.op === "global"
        ? `!${selectorText(sel.sel)}`
        : `!(${selectorText(sel.sel)})`;
    case "and":
      return sel.sels.map(wrap).join(" && ");
    case "or":
      return sel.sels.map(wrap).join(" || ");
  }
}

function wrap(sel: Selector): string {
  return sel.op === "and" || sel.op === "or" ? `(${selectorText(sel)})` : selectorText(sel);
}
