// Value parsers for FelixConfiguration fields and FELIX_* variables, with
// Felix's spellings: a FelixConfiguration writes `Drop`, the environment
// `DROP`; both mean the same (Felix compares case-insensitively). Each parser
// returns undefined for "not set" and throws a message naming the field.

import { parseIp } from "../conversion/cidr.js";
import { unsafeRegexReason } from "../network/safe-regex.js";
import { MARK_BITS_NEEDED } from "../rules/marks.js";

export type Parser<T> = (field: string, v: unknown) => T | undefined;

const unset = (v: unknown) => v === undefined || v === null || v === "";

export const bool: Parser<boolean> = (field, v) => {
  if (unset(v)) return undefined;
  if (typeof v === "boolean") return v;
  if (/^(true|1|yes|on)$/i.test(String(v))) return true;
  if (/^(false|0|no|off)$/i.test(String(v))) return false;
  throw new Error(`${field} must be true or false, not ${JSON.stringify(v)}`);
};

export function int(min: number, max: number): Parser<number> {
  return (field, v) => {
    if (unset(v)) return undefined;
    const n = typeof v === "number" ? v : Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`${field} must be an integer in ${min}..${max}, not ${JSON.stringify(v)}`);
    return n;
  };
}

/** FELIX_LOGPREFIX: Felix's character set (it goes inside a quoted iptables argument), at most 27 characters. */
export const logPrefix: Parser<string> = (field, v) => {
  if (unset(v)) return undefined;
  const s = String(v);
  if (!/^[A-Za-z0-9%: /_.-]{1,27}$/.test(s)) {
    throw new Error(`${field} must be 1-27 of A-Z a-z 0-9 % : / _ . - and space, not ${JSON.stringify(v)}`);
  }
  return s;
};

/** One of `values`, matched case-insensitively, returned as spelled in `values`. */
export function oneOf<T extends string>(...values: T[]): Parser<T> {
  return (field, v) => {
    if (unset(v)) return undefined;
    const hit = values.find((x) => x.toLowerCase() === String(v).trim().toLowerCase());
    if (!hit) throw new Error(`${field} must be ${values.join(", ")}, not ${JSON.stringify(v)}`);
    return hit;
  };
}

export const pattern: Parser<string> = (field, v) => {
  if (unset(v)) return undefined;
  try {
    new RegExp(String(v));
  } catch (e) {
    throw new Error(`${field} is not a valid regular expression: ${(e as Error).message}`);
  }
  // Tenants cannot write these, but a pattern that backtracks would freeze every link event: linear-time only.
  const why = unsafeRegexReason(String(v));
  if (why) throw new Error(`${field} is refused as a regular expression: ${why}`);
  return String(v);
};

/** A 32-bit mark mask, hex (`0xffff0000`) or decimal; never zero (Felix: non-zero, die-on-fail). */
export const markMask: Parser<number> = (field, v) => {
  if (unset(v)) return undefined;
  const s = String(v).trim();
  const n = /^0x[0-9a-f]{1,8}$/i.test(s) ? Number.parseInt(s.slice(2), 16) : /^[0-9]+$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff)
    throw new Error(`${field} must be a non-zero 32-bit mask such as 0xffff0000, not ${JSON.stringify(v)}`);
  const bits = n.toString(2).replace(/0/g, "").length;
  if (bits < MARK_BITS_NEEDED)
    throw new Error(`${field} ${JSON.stringify(v)} has ${bits} bits; felix-ts needs at least ${MARK_BITS_NEEDED}`);
  return n;
};

/** An IPv4 address (Felix's `ipv4` parameter type). */
export const ipv4: Parser<string> = (field, v) => {
  if (unset(v)) return undefined;
  let ip: ReturnType<typeof parseIp>;
  try {
    ip = parseIp(String(v).trim());
  } catch {
    throw new Error(`${field} must be an IPv4 address, not ${JSON.stringify(v)}`);
  }
  if (ip.version !== 4) throw new Error(`${field} must be an IPv4 address, not ${JSON.stringify(v)}`);
  return ip.text;
};

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/** `N` or `N:M` (numorstring.Port), 1..65535, min ≤ max. */
export const portRange: Parser<PortRange> = (field, v) => {
  if (unset(v)) return undefined;
  const m = /^\s*(\d{1,5})(?:\s*:\s*(\d{1,5}))?\s*$/.exec(String(v));
  const min = m ? Number(m[1]) : NaN;
  const max = m?.[2] !== undefined ? Number(m[2]) : min;
  if (!m || min < 1 || max > 65535 || min > max)
    throw new Error(`${field} must be a port or a range like 32768:65535, not ${JSON.stringify(v)}`);
  return { min, max };
};

/** A list of port ranges (Felix's `portrange-list`): a YAML list or a comma-separated string, e.g. `30000:32767`. */
export const portRangeList: Parser<PortRange[]> = (field, v) => {
  if (unset(v)) return undefined;
  const items = (Array.isArray(v) ? v.map(String) : String(v).split(",")).map((x) => x.trim()).filter((x) => x);
  if (items.length === 0) return undefined;
  return items.map((x) => portRange(field, x.replace("-", ":"))!);
};

/**
 * Felix's FeatureDetectOverride (`keyvaluelist`): `Name=true|false,...`;
 * each value is read as a boolean (`auto` or empty: not overridden).
 */
export const featureOverrides: Parser<Record<string, boolean>> = (field, v) => {
  if (unset(v)) return undefined;
  const out: Record<string, boolean> = {};
  for (const part of String(v).split(",")) {
    if (!part.trim()) continue;
    const m = /^\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*([^=]*?)\s*$/.exec(part);
    if (!m) throw new Error(`${field}: ${JSON.stringify(part)} is not Name=value`);
    if (m[2] === "" || m[2].toLowerCase() === "auto") continue;
    out[m[1]] = bool(`${field} ${m[1]}`, m[2])!;
  }
  return out;
};

// An interface name as iptables takes it after -o: up to 15 characters, `+` a trailing wildcard.
const IFACE = /^[a-zA-Z0-9_.:-]{1,15}\+?$/;

/** One interface name (Felix's `iface-param`). */
export const iface: Parser<string> = (field, v) => {
  if (unset(v)) return undefined;
  const s = String(v).trim();
  if (!IFACE.test(s) || s.length > 15) throw new Error(`${field} is not an interface name: ${JSON.stringify(v)}`);
  return s;
};

/** A comma-separated list of interface name prefixes (Felix's `iface-list`), no wildcards. */
export const ifaceList: Parser<string[]> = (field, v) => {
  if (unset(v)) return undefined;
  const items = String(v)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (items.length === 0) return undefined;
  for (const s of items) {
    if (!/^[a-zA-Z0-9_.-]{1,14}$/.test(s)) throw new Error(`${field}: ${JSON.stringify(s)} is not an interface prefix`);
  }
  return items;
};

/**
 * A comma-separated list of interface names or `/regex/`s (Felix's
 * `iface-list-regexp`); each becomes an anchored regular expression source.
 */
export const ifaceRegexpList: Parser<string[]> = (field, v) => {
  if (unset(v)) return undefined;
  const out: string[] = [];
  for (const raw of String(v).split(",")) {
    const s = raw.trim();
    if (s === "") continue;
    if (s.length > 2 && s.startsWith("/") && s.endsWith("/")) out.push(pattern(field, s.slice(1, -1))!);
    else if (/^[a-zA-Z0-9_.:-]{1,15}$/.test(s)) out.push(`^${s.replace(/\./g, "\\.")}$`);
    else throw new Error(`${field}: ${JSON.stringify(s)} is neither an interface name nor a /regex/`);
  }
  return out;
};
