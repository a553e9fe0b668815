// JSON helpers and the label and field selectors of LIST and WATCH.
import { ApiError, statusObject } from "./status.js";
import type { KObject } from "./types.js";

// ---------------------------------------------------------------------------------------------------------------
// Small JSON helpers

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function randomSuffix(n = 5): string {
  const chars = "bcdfghjklmnpqrstvwxz2456789";
  let s = "";
  for (let i = 0; i < n; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

/** Read a dotted path such as "spec.nodeName" ("metadata.labels.app" works too). */
function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------------------------
// Selectors

export type LabelReq =
  | { op: "=" | "!="; key: string; value: string }
  | { op: "in" | "notin"; key: string; values: string[] }
  | { op: "exists" | "!exists"; key: string };

/** Parse a label selector: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`, comma-separated. */
export function parseLabelSelector(sel: string): LabelReq[] {
  const reqs: LabelReq[] = [];
  // Split on commas that are not inside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of sel) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  for (const raw of parts) {
    const p = raw.trim();
    if (!p) continue;
    const setOp = p.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/);
    const eqOp = p.match(/^([^!=\s]+)\s*(!=|==|=)\s*(\S*)$/);
    const notExists = p.match(/^!\s*(\S+)$/);
    if (setOp) {
      reqs.push({
        op: setOp[2] as "in" | "notin",
        key: setOp[1]!,
        values: setOp[3]!
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== ""),
      });
    } else if (eqOp) {
      reqs.push({ op: eqOp[2] === "!=" ? "!=" : "=", key: eqOp[1]!, value: eqOp[3]! });
    } else if (notExists) {
      reqs.push({ op: "!exists", key: notExists[1]! });
    } else if (/^\S+$/.test(p)) {
      reqs.push({ op: "exists", key: p });
    } else {
      throw new ApiError(statusObject(400, "BadRequest", `unable to parse requirement: ${p}`));
    }
  }
  return reqs;
}

function labelsMatch(reqs: LabelReq[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case "=":
        return has && l[r.key] === r.value;
      case "!=":
        return !has || l[r.key] !== r.value;
      case "in":
        return has && r.values.includes(l[r.key]!);
      case "notin":
        return !has || !r.values.includes(l[r.key]!);
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
    return false;
  });
}

export interface FieldReq {
  path: string;
  op: "=" | "!=";
  value: string;
}

/** Parse a field selector: `spec.nodeName=x`, `metadata.name==x`, `status.phase!=Failed`, comma-separated. */
export function parseFieldSelector(sel: string): FieldReq[] {
  const reqs: FieldReq[] = [];
  for (const raw of sel.split(",")) {
    const p = raw.trim();
    if (!p) continue;
    const m = p.match(/^([^!=]+)(!=|==|=)(.*)$/);
    if (!m) throw new ApiError(statusObject(400, "BadRequest", `invalid field selector: ${p}`));
    reqs.push({ path: m[1]!.trim(), op: m[2] === "!=" ? "!=" : "=", value: m[3]!.trim() });
  }
  return reqs;
}

function fieldsMatch(reqs: FieldReq[], obj: KObject): boolean {
  return reqs.every((r) => {
    const v = getPath(obj, r.path);
    const s = v === undefined || v === null ? "" : String(v);
    return r.op === "=" ? s === r.value : s !== r.value;
  });
}

export interface Filter {
  namespace?: string;
  labels: LabelReq[];
  fields: FieldReq[];
}

export function matches(f: Filter, obj: KObject): boolean {
  if (f.namespace !== undefined && (obj.metadata?.namespace ?? "") !== f.namespace) return false;
  return labelsMatch(f.labels, obj.metadata?.labels) && fieldsMatch(f.fields, obj);
}
