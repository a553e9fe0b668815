// Reads an `nft -f` script into commands for the fake: the flat form
// (`add rule ip calico <chain> <statement>`, one command a line) and the
// nested form (`table ip calico { set … { … } chain … { … } }`, one item a
// line, elements possibly over several lines). As nft does with the nested
// form, a table block's sets and chains are declared before any rule and any
// element, so rules may jump forward to chains declared later in the block.

export type ScriptCommand = { line: number; family: string; table: string } & (
  | { op: "add table" | "delete table" | "flush table" }
  /** `add map` too (its type ends in ` : verdict`); `timeout`: a dynamic set's, in seconds. */
  | { op: "add set"; name: string; type: string; interval: boolean; timeout?: number }
  | { op: "delete set" | "flush chain" | "delete chain"; name: string }
  | { op: "add element" | "delete element"; name: string; elements: string[] }
  | { op: "add chain"; name: string; base?: { type: string; hook: string; priority: number; policy: string } }
  | { op: "add rule"; name: string; text: string }
  | { op: "delete rule"; name: string; handle: number }
);

const PRIORITIES: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, srcnat: 100 };

function fail(line: number, msg: string): Error {
  return Object.assign(new Error(`line ${line}: syntax error: ${msg}`), { line });
}

/** `type filter hook forward priority filter; policy accept;` */
function baseSpec(text: string, line: number) {
  const m = /^type (\w+) hook (\w+) priority (-?\w+)(?: ([+-]) (\d+))?;(?: policy (\w+);)?$/.exec(text.trim());
  if (!m) throw fail(line, `bad chain spec ${text}`);
  // A named priority with an offset (`dstnat + 3`), as nft prints one within 10 of the name.
  const offset = m[4] === undefined ? 0 : (m[4] === "-" ? -1 : 1) * Number(m[5]);
  const priority = (m[3] in PRIORITIES ? PRIORITIES[m[3]] : Number(m[3])) + offset;
  if (!Number.isInteger(priority)) throw fail(line, `bad priority ${m[3]}`);
  return { type: m[1], hook: m[2], priority, policy: m[6] ?? "accept" };
}

function setSpec(body: string, line: number): { type: string; interval: boolean; timeout?: number } {
  const type = /type ([^;]+?)\s*(;|$)/.exec(body)?.[1];
  if (!type) throw fail(line, "set without a type");
  const t = /timeout ([0-9dhms]+)\s*(;|$)/.exec(body)?.[1];
  const timeout = t === undefined ? undefined : seconds(t, line);
  return { type, interval: /flags interval/.test(body), ...(timeout !== undefined ? { timeout } : {}) };
}

/** nft's time text (`10800s`, `3h`, `1m40s`) in seconds. */
function seconds(text: string, line: number): number {
  const units: Record<string, number> = { d: 86400, h: 3600, m: 60, s: 1 };
  let total = 0;
  const rest = text.replace(/(\d+)([dhms])/g, (_, n, u) => {
    total += Number(n) * units[u];
    return "";
  });
  if (rest !== "") throw fail(line, `bad time ${text}`);
  return total;
}

function elementList(text: string, line: number): string[] {
  const m = /^\{(.*)\}$/s.exec(text.trim());
  if (!m) throw fail(line, `bad element list ${text.slice(0, 80)}`);
  return m[1]
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
}

export function parseScript(script: string): ScriptCommand[] {
  const lines = script.split("\n");
  const out: ScriptCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const text = lines[i].trim();
    if (text === "" || text.startsWith("#")) continue;
    const table = /^table (ip6?|inet) (\S+) \{$/.exec(text);
    if (table) {
      i = nestedTable(lines, i, table[1], table[2], out);
      continue;
    }
    const m = /^(add|delete|flush) (table|set|map|element|chain|rule) (ip6?|inet) (\S+)(?: (\S+))?(?: (.*))?$/.exec(
      text,
    );
    if (!m) throw fail(line, text.slice(0, 120));
    const [, verb, what, family, tbl, name = "", rest = ""] = m;
    // A map is a set whose type ends in ` : verdict` (nft keeps both in one namespace).
    const op = `${verb} ${what === "map" ? "set" : what}` as ScriptCommand["op"];
    const base = { line, family, table: tbl };
    if (what === "table") out.push({ ...base, op: op as "add table" });
    else if (op === "add set") out.push({ ...base, op, name, ...setSpec(rest, line) });
    else if (what === "element")
      out.push({ ...base, op: op as "add element", name, elements: elementList(rest, line) });
    else if (op === "add chain") {
      const spec = /^\{(.*)\}$/.exec(rest.trim())?.[1];
      out.push({ ...base, op, name, base: spec ? baseSpec(spec, line) : undefined });
    } else if (op === "add rule") out.push({ ...base, op, name, text: rest });
    else if (op === "delete rule") {
      const h = /^handle (\d+)$/.exec(rest);
      if (!h) throw fail(line, "delete rule needs a handle");
      out.push({ ...base, op, name, handle: Number(h[1]) });
    } else if (op === "delete set" || op === "flush chain" || op === "delete chain") out.push({ ...base, op, name });
    else throw fail(line, `unsupported ${op}`);
  }
  return out;
}

/** Reads a nested table block starting at `start`; returns the index of its closing line. */
function nestedTable(lines: string[], start: number, family: string, table: string, out: ScriptCommand[]): number {
  const decls: ScriptCommand[] = [{ line: start + 1, family, table, op: "add table" }];
  const later: ScriptCommand[] = [];
  let i = start + 1;
  for (; i < lines.length; i++) {
    const line = i + 1;
    const text = lines[i].trim();
    if (text === "") continue;
    if (text === "}") {
      out.push(...decls, ...later);
      return i;
    }
    const block = /^(set|map|chain) (\S+) \{$/.exec(text);
    if (!block) throw fail(line, `unexpected ${text.slice(0, 80)}`);
    const [, kind, name] = block;
    const body: { line: number; text: string }[] = [];
    for (i++; i < lines.length && lines[i].trim() !== "}"; i++) body.push({ line: i + 1, text: lines[i].trim() });
    if (kind === "set" || kind === "map") {
      const joined = body.map((b) => b.text).join(" ");
      const elems = /elements = (\{.*\})/s.exec(joined)?.[1];
      decls.push({
        line,
        family,
        table,
        op: "add set",
        name,
        // One property a line (`type …`, `flags …`): as the flat form's `type …; flags …;`.
        ...setSpec(
          body
            .filter((b) => /^(type|flags|timeout) /.test(b.text))
            .map((b) => `${b.text};`)
            .join(" "),
          line,
        ),
      });
      if (elems) later.push({ line, family, table, op: "add element", name, elements: elementList(elems, line) });
      continue;
    }
    const first = body[0]?.text ?? "";
    const spec = first.startsWith("type ") ? baseSpec(first, body[0].line) : undefined;
    decls.push({ line, family, table, op: "add chain", name, base: spec });
    for (const r of spec ? body.slice(1) : body)
      later.push({ line: r.line, family, table, op: "add rule", name, text: r.text });
  }
  throw fail(start + 1, `table ${table} not closed`);
}
