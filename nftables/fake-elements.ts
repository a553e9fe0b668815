// Set elements in the fake nftables: type checks as nft makes them (each
// field of a concatenation against its type), the canonical text nft keeps
// (`10.0.0.1/32` is `10.0.0.1`), the interval overlap the kernel refuses, and
// the JSON form of `nft -j list`.

import ipaddr from "ipaddr.js";
import { nftAddress } from "./sets.js";

export interface FakeSet {
  /** A map's ends in ` : verdict`; its elements are `key : verdict`. */
  type: string;
  interval: boolean;
  elements: Set<string>;
  /** A dynamic set's timeout, seconds. */
  timeout?: number;
}

const VERDICT = /^(?:(?:goto|jump) [A-Za-z0-9_./-]+|drop|accept|return|continue)$/;

/** A map element's canonical `key : verdict`, or its key alone (a `delete element`). */
export function checkMapElement(raw: string, s: FakeSet, family: string): { key: string; verdict?: string } {
  const keyType = s.type.slice(0, -" : verdict".length);
  const at = raw.indexOf(" : ");
  const key = checkElement(at < 0 ? raw : raw.slice(0, at), { ...s, type: keyType }, family);
  if (at < 0) return { key };
  const verdict = raw.slice(at + 3).trim();
  if (!VERDICT.test(verdict)) throw new Error(`Could not parse ${verdict} as a verdict`);
  return { key, verdict };
}

const PROTOS = new Set(["tcp", "udp", "sctp", "icmp", "icmpv6"]);

/** The element's canonical text, or throws as nft does for a value that does not fit the set's type. */
export function checkElement(raw: string, s: FakeSet, family: string): string {
  const types = s.type.split(" . ");
  const fields = raw.split(" . ").map((f) => f.trim());
  if (fields.length !== types.length) throw new Error(`element ${raw} does not match set type ${s.type}`);
  return fields
    .map((f, i) => {
      const t = types[i];
      if (t === "ipv4_addr" || t === "ipv6_addr") {
        const v = t === "ipv4_addr" ? 4 : 6;
        if ((v === 4) !== (family === "ip") && family !== "inet") throw new Error(`${t} in an ${family} table`);
        try {
          return nftAddress(f, v, s.interval);
        } catch (e) {
          throw new Error(`Could not resolve ${f} as ${t}: ${(e as Error).message}`);
        }
      }
      if (t === "inet_proto") {
        if (!PROTOS.has(f) && !/^\d{1,3}$/.test(f)) throw new Error(`Could not parse ${f} as inet_proto`);
        return f;
      }
      if (t === "inet_service") {
        if (!/^\d{1,5}$/.test(f) || Number(f) > 65535) throw new Error(`Could not parse ${f} as inet_service`);
        return String(Number(f));
      }
      throw new Error(`the fake does not know set type ${t}`);
    })
    .join(" . ");
}

function range(e: string): [bigint, bigint] {
  const [ip, len] = e.split("/");
  const a = ipaddr.parse(ip);
  const bits = a.kind() === "ipv4" ? 32 : 128;
  const start = a.toByteArray().reduce((n, b) => (n << 8n) | BigInt(b), 0n);
  const size = 1n << BigInt(bits - (len === undefined ? bits : Number(len)));
  return [start, start + size - 1n];
}

/** Another element of a one-field interval set that `e` overlaps, if any. */
export function overlaps(s: FakeSet, e: string, _family: string): string | undefined {
  if (!s.interval || s.type.includes(" . ")) return undefined;
  const [a, b] = range(e);
  for (const o of s.elements) {
    const [c, d] = range(o);
    if (a <= d && c <= b) return o;
  }
  return undefined;
}

/** An element as `nft -j list` writes it. */
export function toJsonElement(e: string): unknown {
  const field = (f: string): unknown => {
    if (/^\d+$/.test(f)) return Number(f);
    const [addr, len] = f.split("/");
    return len === undefined ? addr : { prefix: { addr, len: Number(len) } };
  };
  const fields = e.split(" . ");
  return fields.length === 1 ? field(e) : { concat: fields.map(field) };
}

/** A map element `key : verdict` as `nft -j list` writes it. */
export function toJsonMapElement(e: string): unknown {
  const at = e.indexOf(" : ");
  const [kind, target] = e.slice(at + 3).split(" ");
  return [toJsonElement(e.slice(0, at)), { [kind]: target === undefined ? null : { target } }];
}
