// kube-proxy's nft-only objects (model/nft-objects.ts) as nft writes and
// lists them: a verdict map's type line and its elements `key : verdict`
// (`10.96.0.10 . udp . 53 : goto nat-service-…`), an affinity set's
// `flags dynamic,timeout` declaration. The view keeps map elements in this
// same text, so a map diffs like a set: an endpoint change is a few elements.

import type { MapVerdict, NftObjectState, VerdictMapState } from "../model/nft-objects.js";
import { mapElementText, type NftMapElement, type NftSetKey, setDeclText } from "./commands.js";
import { NftElementError, nftAddress } from "./sets.js";

/** What the syncer compares an object by (with its elements, for a map). */
export interface NftObjectSpec {
  readonly name: string;
  readonly kind: "map" | "set";
  /** As `nft list` prints it: `ipv4_addr . inet_proto . inet_service : verdict`, `ipv4_addr`. */
  readonly type: string;
  /** An affinity set's timeout; undefined for a map. */
  readonly timeout?: number;
}

const NAME = /^[A-Za-z][A-Za-z0-9_./-]{0,254}$/;

function checkName(name: string): string {
  if (!NAME.test(name)) throw new NftElementError(`nft object name ${JSON.stringify(name)}`);
  return name;
}

export function nftObjectSpec(o: NftObjectState): NftObjectSpec {
  const addr = o.family === 4 ? "ipv4_addr" : "ipv6_addr";
  if (o.kind === "affinitySet") {
    if (!Number.isInteger(o.timeoutSeconds) || o.timeoutSeconds < 1) {
      throw new NftElementError(`affinity set ${o.name}: timeout ${o.timeoutSeconds}`);
    }
    return { name: checkName(o.name), kind: "set", type: addr, timeout: o.timeoutSeconds };
  }
  if (o.kind === "addressSet") return { name: checkName(o.name), kind: "set", type: addr };
  const key = o.key === "daddr.proto.dport" ? `${addr} . inet_proto . inet_service` : "inet_proto . inet_service";
  return { name: checkName(o.name), kind: "map", type: `${key} : verdict` };
}

const PROTO_PORT = /^(tcp|udp|sctp):(\d{1,5})$/;

/** A map key written as an ipset member (`10.0.0.1,tcp:80`, `tcp:80`) as nft writes it. */
export function mapKeyText(key: string, m: Pick<VerdictMapState, "key" | "family">): string {
  const [first, second, ...rest] = key.split(",");
  const pp = PROTO_PORT.exec(m.key === "proto.dport" ? first : (second ?? ""));
  if (!pp || Number(pp[2]) > 65535 || rest.length > 0 || (m.key === "proto.dport") !== (second === undefined)) {
    throw new NftElementError(`${JSON.stringify(key)} is not a key of a ${m.key} map`);
  }
  const tail = `${pp[1]} . ${Number(pp[2])}`;
  return m.key === "proto.dport" ? tail : `${nftAddress(first, m.family, false)} . ${tail}`;
}

/** A map element's verdict naming its nft chain (chain X of table T is `T-X`), the name checked. */
export function nftVerdict(v: MapVerdict, m: Pick<VerdictMapState, "table">): NftMapElement["verdict"] {
  return v.kind === "drop" ? v : { kind: v.kind, chain: checkName(`${m.table}-${v.chain}`) };
}

export function verdictText(v: MapVerdict, m: Pick<VerdictMapState, "table">): string {
  const x = nftVerdict(v, m);
  return x.kind === "drop" ? "drop" : `${x.kind} ${x.chain}`;
}

const cache = new WeakMap<NftObjectState, ReadonlySet<string>>();
const mapCache = new WeakMap<VerdictMapState, ReadonlyMap<string, NftMapElement>>();

/** A map's elements by their `key : verdict` text (the view's), as commands write them (cached per snapshot object). */
export function vmapElements(o: VerdictMapState): ReadonlyMap<string, NftMapElement> {
  let out = mapCache.get(o);
  if (!out) {
    const m = new Map<string, NftMapElement>();
    for (const [k, v] of o.elements) {
      const e: NftMapElement = { key: mapKeyText(k, o), verdict: nftVerdict(v, o) };
      m.set(mapElementText(e), e);
    }
    out = m;
    mapCache.set(o, out);
  }
  return out;
}

/** A map's elements as `key : verdict` texts, an address set's addresses (cached per snapshot object); none for an affinity set. */
export function nftObjectElements(o: NftObjectState): ReadonlySet<string> {
  if (o.kind === "affinitySet") return EMPTY;
  let out = cache.get(o);
  if (!out) {
    out =
      o.kind === "vmap"
        ? new Set(vmapElements(o).keys())
        : new Set([...o.elements].map((e) => nftAddress(e, o.family, false)));
    cache.set(o, out);
  }
  return out;
}

const EMPTY: ReadonlySet<string> = new Set();

/** The key of a `key : verdict` element (what `delete element` names). */
export const elementKey = (e: string) => {
  const at = e.indexOf(" : ");
  return at < 0 ? e : e.slice(0, at);
};

/** nft's time format, as it lists a set's timeout: `3h`, `1m40s`, `1d`. */
export function nftDuration(seconds: number): string {
  const parts: string[] = [];
  let s = seconds;
  for (const [unit, n] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${unit}`);
      s %= n;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return parts.join("");
}

/** A map's key (its type without ` : verdict`), or a set's. */
export function objectKey(spec: NftObjectSpec): NftSetKey {
  return { type: spec.kind === "map" ? spec.type.slice(0, -" : verdict".length) : spec.type, interval: false };
}

/** The declaration body of `add set|map … { … }` (flat form). */
export function objectDeclText(spec: NftObjectSpec): string {
  // nft gives a set that an `update` statement fills a size of 65535 anyway: declared, it lists back the same.
  return spec.kind === "map" ? `type ${spec.type};` : setDeclText(objectKey(spec), spec.timeout);
}

/** The object as a block of `nft list`'s nested form. */
export function objectBlock(spec: NftObjectSpec, elements: readonly string[]): string {
  const head = `\t${spec.kind} ${checkName(spec.name)} {\n\t\ttype ${spec.type}\n`;
  const extra =
    spec.timeout === undefined
      ? ""
      : `\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\ttimeout ${nftDuration(spec.timeout)}\n`;
  // As nft prints them: two IPv4 addresses a line, anything longer one a line.
  const perLine = spec.type === "ipv4_addr" ? 2 : 1;
  const lines: string[] = [];
  for (let i = 0; i < elements.length; i += perLine) lines.push(elements.slice(i, i + perLine).join(", "));
  const elems = lines.length ? `\t\telements = { ${lines.join(",\n\t\t\t     ")} }\n` : "";
  return `${head}${extra}${elems}\t}\n`;
}

/** The family's desired objects, sorted by name. */
export function familyObjects(
  objects: Readonly<Record<string, NftObjectState>> | undefined,
  family: 4 | 6,
): NftObjectState[] {
  return Object.values(objects ?? {})
    .filter((o) => o.family === family)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
