// One projectcalico.org/v3 rule → the graph's PolicyRule, as libcalico-go's
// update processors (RuleAPIV3ToBackend, GetEntityRuleSelector) and Felix's
// renderer read it:
//   - a namespaced policy's rule selectors are scoped to its namespace unless
//     they give a namespaceSelector; notSelector is not scoped (Calico);
//   - namespaceSelector / serviceAccounts.selector match the pcns.* / pcsa.*
//     labels; serviceAccounts.names the projectcalico.org/serviceaccount label;
//   - several nets are alternatives (a peer block), notNets all excluded;
//   - ports: numbers, "first:last" ranges and named ports; named source ports
//     and more than 15 source port slots are not supported (the rule is
//     refused, which isolates what the policy selects).
// Throws an Error naming the field on anything invalid.

import type { CalicoEntityRule, CalicoRule } from "../../model/calico.js";
import type {
  IcmpMatch,
  IpVersion,
  PeerMatch,
  PolicyRule,
  PortMatch,
  PortRange,
  RuleAction,
  RuleProtocol,
} from "../model.js";
import { isPortProtocol } from "../model.js";
import { parseSelector } from "../selector/parse.js";
import { prefixSelector } from "../selector/prefix.js";
import { ALL, and, eq, inSet, type Selector } from "../selector/selector.js";
import { parseCidr } from "./cidr.js";
import { NAMESPACE_LABEL, NAMESPACE_PREFIX, SERVICE_ACCOUNT_LABEL, SERVICE_ACCOUNT_PREFIX } from "./labels.js";
import { mergeRanges } from "./network-policy.js";

const ACTIONS: Readonly<Record<string, RuleAction>> = { allow: "allow", deny: "deny", pass: "pass", log: "log" };
const PROTOCOL_NAMES: Readonly<Record<string, RuleProtocol>> = {
  tcp: "tcp",
  udp: "udp",
  sctp: "sctp",
  icmp: "icmp",
  icmpv6: "icmpv6",
  udplite: "udplite",
};
const PROTOCOL_NUMBERS: Readonly<Record<number, RuleProtocol>> = {
  1: "icmp",
  6: "tcp",
  17: "udp",
  58: "icmpv6",
  132: "sctp",
  136: "udplite",
};
/** iptables multiport takes 15 slots; a range takes two. */
const MULTIPORT_SLOTS = 15;
const NAMED_PORT = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface RuleContext {
  /** The policy's namespace; "" for a global policy. */
  readonly namespace: string;
  /** What the policy selects: the destination of an ingress rule's named ports. */
  readonly policySelector: Selector;
}

/** Parses a selector field ("" or absent: undefined). */
export function selectorField(v: unknown, where: string): Selector | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new Error(`${where} must be a string`);
  try {
    return parseSelector(v);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}

export function convertCalicoRule(
  raw: CalicoRule,
  dir: "ingress" | "egress",
  ctx: RuleContext,
  where: string,
): PolicyRule {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new Error(`${where}: must be an object`);
  const action = ACTIONS[String(raw.action ?? "").toLowerCase()];
  if (!action) throw new Error(`${where}.action: must be Allow, Deny, Pass or Log, not ${JSON.stringify(raw.action)}`);
  if (raw.http != null) throw new Error(`${where}.http: HTTP matches need an L7 proxy (not supported)`);
  const rule: Mutable<PolicyRule> = { action };
  const ipVersion = raw.ipVersion == null ? undefined : Number(raw.ipVersion);
  if (ipVersion !== undefined) {
    if (ipVersion !== 4 && ipVersion !== 6) throw new Error(`${where}.ipVersion: must be 4 or 6`);
    rule.ipVersion = ipVersion;
  }
  const protocol = protocolField(raw.protocol, `${where}.protocol`);
  const notProtocol = protocolField(raw.notProtocol, `${where}.notProtocol`);
  if (protocol !== undefined) rule.protocol = protocol;
  if (notProtocol !== undefined) {
    if (protocol !== undefined) throw new Error(`${where}: protocol and notProtocol cannot both be set`);
    rule.notProtocol = notProtocol;
  }
  const icmp = icmpField(raw.icmp, protocol, ipVersion, `${where}.icmp`);
  const notIcmp = icmpField(raw.notICMP, protocol, ipVersion, `${where}.notICMP`);
  if (icmp) rule.icmp = icmp;
  if (notIcmp) rule.notIcmp = notIcmp;

  const src = entity(raw.source, ctx, ipVersion, `${where}.source`);
  const dst = entity(raw.destination, ctx, ipVersion, `${where}.destination`);
  if (src.selector) rule.srcSelector = src.selector;
  if (src.notSelector) rule.srcNotSelector = src.notSelector;
  if (dst.selector) rule.dstSelector = dst.selector;
  if (dst.notSelector) rule.dstNotSelector = dst.notSelector;
  peerAlternatives(rule, src, dst);

  // Ports need a port protocol (Calico's validator); named ones one with named-port sets.
  const anyPorts = [src, dst].some((e) => e.ports.length || e.notPorts.length || e.named.length || e.notNamed.length);
  if (anyPorts && !(isPortProtocol(protocol) || protocol === "udplite")) {
    throw new Error(`${where}: ports need protocol TCP, UDP, SCTP or UDPLite`);
  }
  if (src.named.length || src.notNamed.length) {
    throw new Error(`${where}.source: named source ports are not supported`);
  }
  if (src.ports.length) {
    const ranges = mergeRanges(src.ports);
    if (slots(ranges) > MULTIPORT_SLOTS) throw new Error(`${where}.source.ports: more than 15 port slots`);
    rule.srcPorts = ranges;
  }
  if (src.notPorts.length) rule.srcNotPorts = mergeRanges(src.notPorts);
  if (dst.notPorts.length) rule.dstNotPorts = mergeRanges(dst.notPorts);
  // Named destination ports resolve over what can be the destination.
  const namedPortSelector = dir === "ingress" ? and(ctx.policySelector, dst.selector ?? ALL) : (dst.selector ?? ALL);
  if (dst.notNamed.length) {
    if (!isPortProtocol(protocol)) throw new Error(`${where}.destination.notPorts: named ports need TCP, UDP or SCTP`);
    rule.dstNotNamedPorts = [...new Set(dst.notNamed)].sort();
    rule.namedPortSelector = namedPortSelector;
  }
  destinationPorts(rule, dst, protocol, namedPortSelector);
  return rule;
}

interface Entity {
  readonly selector?: Selector;
  readonly notSelector?: Selector;
  readonly nets: readonly string[];
  readonly notNets: readonly string[];
  readonly ports: readonly PortRange[];
  readonly notPorts: readonly PortRange[];
  readonly named: readonly string[];
  readonly notNamed: readonly string[];
}

function entity(raw: CalicoEntityRule | null | undefined, ctx: RuleContext, v: number | undefined, where: string) {
  const e = raw ?? {};
  if (typeof e !== "object" || Array.isArray(e)) throw new Error(`${where}: must be an object`);
  if (e.services != null) throw new Error(`${where}.services: service matches are not supported`);
  const selector = selectorField(e.selector, `${where}.selector`);
  const notSelector = selectorField(e.notSelector, `${where}.notSelector`);
  const nsSelector = selectorField(e.namespaceSelector, `${where}.namespaceSelector`);
  const sa = serviceAccounts(e.serviceAccounts, `${where}.serviceAccounts`);
  // GetEntityRuleSelector: the namespace part joins whenever any selector is given.
  const nsPart = nsSelector
    ? prefixSelector(nsSelector, NAMESPACE_PREFIX, true)
    : ctx.namespace
      ? eq(NAMESPACE_LABEL, ctx.namespace)
      : undefined;
  const own = [sa, selector].filter((s): s is Selector => s !== undefined);
  const scoped = nsPart && (own.length > 0 || notSelector !== undefined || nsSelector !== undefined);
  const parts = scoped ? [nsPart, ...own] : own;
  const ports = portList(e.ports, `${where}.ports`);
  const notPorts = portList(e.notPorts, `${where}.notPorts`);
  const out: Entity = {
    ...(parts.length ? { selector: and(...parts) } : {}),
    ...(notSelector ? { notSelector } : {}),
    nets: netList(e.nets, v, `${where}.nets`),
    notNets: netList(e.notNets, v, `${where}.notNets`),
    ports: ports.ranges,
    notPorts: notPorts.ranges,
    named: ports.named,
    notNamed: notPorts.named,
  };
  return out;
}

function serviceAccounts(raw: CalicoEntityRule["serviceAccounts"], where: string): Selector | undefined {
  if (raw == null) return undefined;
  if (typeof raw !== "object" || Array.isArray(raw)) throw new Error(`${where}: must be an object`);
  const sel = selectorField(raw.selector, `${where}.selector`);
  const names = raw.names == null ? [] : raw.names;
  if (!Array.isArray(names)) throw new Error(`${where}.names: must be a list`);
  for (const n of names) if (typeof n !== "string" || n === "") throw new Error(`${where}.names: ${JSON.stringify(n)}`);
  const parts: Selector[] = [];
  if (sel) parts.push(prefixSelector(sel, SERVICE_ACCOUNT_PREFIX));
  if (names.length) parts.push(inSet(SERVICE_ACCOUNT_LABEL, names as string[]));
  return parts.length ? and(...parts) : undefined;
}

/** Nets as alternatives: a rule with several on a side, or nets on both sides, gets a peer block. */
function peerAlternatives(rule: Mutable<PolicyRule>, src: Entity, dst: Entity): void {
  const srcAlts: PeerMatch[] = src.nets.length ? src.nets.map((n) => ({ srcNets: [n] })) : [{}];
  const dstAlts: PeerMatch[] = dst.nets.length ? dst.nets.map((n) => ({ dstNets: [n] })) : [{}];
  const notNets: PeerMatch = {
    ...(src.notNets.length ? { srcNotNets: src.notNets } : {}),
    ...(dst.notNets.length ? { dstNotNets: dst.notNets } : {}),
  };
  const alts = srcAlts.flatMap((s) => dstAlts.map((d) => ({ ...s, ...d, ...notNets })));
  if (alts.length === 1) Object.assign(rule, alts[0]);
  else rule.anyPeer = alts;
}

/** Numeric chunks and named ports: one group goes on the rule, several make a port block. */
function destinationPorts(
  rule: Mutable<PolicyRule>,
  dst: Entity,
  protocol: RuleProtocol | undefined,
  namedPortSelector: Selector,
): void {
  const groups: PortMatch[] = [];
  for (const chunk of chunkPorts(mergeRanges(dst.ports))) groups.push({ protocol, dstPorts: chunk });
  for (const name of [...new Set(dst.named)].sort()) {
    if (!isPortProtocol(protocol)) throw new Error(`named port ${name} needs protocol TCP, UDP or SCTP`);
    groups.push({ protocol, dstNamedPort: name, namedPortSelector });
  }
  if (groups.length === 1) Object.assign(rule, groups[0]);
  else if (groups.length > 1) rule.anyPort = groups;
}

function protocolField(v: unknown, where: string): RuleProtocol | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : /^[0-9]+$/.test(String(v)) ? Number(v) : undefined;
  if (n !== undefined) {
    if (!Number.isInteger(n) || n < 1 || n > 255) throw new Error(`${where}: protocol number must be 1-255`);
    return PROTOCOL_NUMBERS[n] ?? n;
  }
  const named = typeof v === "string" ? PROTOCOL_NAMES[v.toLowerCase()] : undefined;
  if (!named) throw new Error(`${where}: must be TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255, not ${show(v)}`);
  return named;
}

function icmpField(
  raw: CalicoRule["icmp"],
  protocol: RuleProtocol | undefined,
  ipVersion: number | undefined,
  where: string,
): IcmpMatch | undefined {
  if (raw == null) return undefined;
  if (protocol !== "icmp" && protocol !== "icmpv6") throw new Error(`${where}: needs protocol ICMP or ICMPv6`);
  if ((protocol === "icmp" && ipVersion === 6) || (protocol === "icmpv6" && ipVersion === 4)) {
    throw new Error(`${where}: protocol ${protocol} does not match ipVersion ${ipVersion}`);
  }
  const type = raw.type == null ? undefined : Number(raw.type);
  const code = raw.code == null ? undefined : Number(raw.code);
  if (type === undefined) {
    if (code !== undefined) throw new Error(`${where}.code: needs a type`);
    throw new Error(`${where}: needs a type`);
  }
  if (!Number.isInteger(type) || type < 0 || type > 254) throw new Error(`${where}.type: must be 0-254`);
  if (code !== undefined && (!Number.isInteger(code) || code < 0 || code > 255)) {
    throw new Error(`${where}.code: must be 0-255`);
  }
  return code === undefined ? { type } : { type, code };
}

function netList(v: unknown, ipVersion: number | undefined, where: string): string[] {
  if (v == null) return [];
  if (!Array.isArray(v)) throw new Error(`${where}: must be a list`);
  const out = v.map((n, i) => {
    // Calico takes a bare address as its /32 or /128.
    const text = String(n);
    const c = parseCidr(text.includes("/") ? text : `${text}/${text.includes(":") ? 128 : 32}`);
    if (ipVersion !== undefined && c.version !== (ipVersion as IpVersion)) {
      throw new Error(`${where}[${i}]: ${text} is not IPv${ipVersion}`);
    }
    return c.text;
  });
  return [...new Set(out)].sort();
}

function portList(v: unknown, where: string): { ranges: PortRange[]; named: string[] } {
  const out = { ranges: [] as PortRange[], named: [] as string[] };
  if (v == null) return out;
  if (!Array.isArray(v)) throw new Error(`${where}: must be a list`);
  v.forEach((p, i) => {
    const text = String(p);
    const m = /^([0-9]+)(?::([0-9]+))?$/.exec(text);
    if (typeof p === "number" || m) {
      const first = Number(m?.[1] ?? p);
      const last = Number(m?.[2] ?? first);
      if (!Number.isInteger(first) || first < 0 || last > 65535 || last < first) {
        throw new Error(`${where}[${i}]: ${show(p)} is not a port or range in 0-65535`);
      }
      out.ranges.push({ first, last });
    } else if (typeof p === "string" && p.length <= 15 && NAMED_PORT.test(p) && /[a-z]/.test(p)) {
      out.named.push(p);
    } else {
      throw new Error(`${where}[${i}]: ${show(p)} is not a port, a "first:last" range or a port name`);
    }
  });
  return out;
}

const slots = (ranges: readonly PortRange[]) => ranges.reduce((n, r) => n + (r.first === r.last ? 1 : 2), 0);

function chunkPorts(ranges: readonly PortRange[]): PortRange[][] {
  const chunks: PortRange[][] = [];
  let cur: PortRange[] = [];
  for (const r of ranges) {
    if (slots(cur) + (r.first === r.last ? 1 : 2) > MULTIPORT_SLOTS) {
      chunks.push(cur);
      cur = [];
    }
    cur.push(r);
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}

const show = (v: unknown) => JSON.stringify(v);
