// policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy → the graph's
// Policy, as Calico 3.32 enforces it: `tier: Admin` in the static tier
// `kube-admin` (order 1,000, before every other tier), `tier: Baseline` in
// `kube-baseline` (order 10,000,000, after `default`); both tiers end in Pass,
// so traffic no CNP decides goes on (Admin → NetworkPolicy and Calico tiers,
// Baseline → the namespace profile's allow). Within a tier, lower priority
// first; equal priorities are left to the implementation by the API, and go
// by name here (Felix's tie-break), so the order is deterministic.
//
// Rule actions Accept/Deny/Pass are Calico's Allow/Deny/Pass. A rule's peers
// are OR'ed (a peer block) and so are its protocols (a port block).
//
// Three ways an object can be wrong, three outcomes:
//   - it cannot be placed (tier, subject): thrown, the last valid version
//     stays in force (none: not enforced);
//   - it breaks the API's validation elsewhere (priority range, limits of 25
//     rules / peers / protocols / networks, ports, names, CEL rules): placed,
//     with a deny-all in both directions for its subject (fail closed);
//   - a peer sets no field we know (a newer CRD, or domainNames, which needs
//     DNS we do not have): the API's fail-closed rule — it matches nothing in
//     an Accept rule, and turns a Deny or Pass rule into deny-all. Reported.

import type { ClusterNetworkPolicy } from "../../model/cluster-network-policy.js";
import type { LabelSelector } from "../../model/k8s.js";
import type { PeerMatch, Policy, PolicyRule, PortMatch, PortRange, Protocol } from "../model.js";
import { ALL, and, has, type Selector } from "../selector/selector.js";
import { KUBE_ADMIN_TIER, KUBE_BASELINE_TIER } from "../tiers.js";
import { parseCidr } from "./cidr.js";
import { convertLabelSelector } from "./label-selector.js";
import { NAMESPACE_LABEL, NAMESPACE_PREFIX } from "./labels.js";
import { chunkPorts, mergeRanges } from "./network-policy.js";
import { labelSelector, portName } from "./validate.js";

/** The API's limits (MaxItems) on rules, peers, protocols and networks. */
export const CNP_MAX_ITEMS = 25;
const MAX_RULE_NAME = 100;
const MAX_CIDR_TEXT = 43;
const DOMAIN_NAME = /^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$/;
const PROTOCOLS: readonly Protocol[] = ["tcp", "udp", "sctp"];

/** Calico's policy name of a CNP (`kcnp.kube-admin.<name>`) and Felix's policy id, the chain-name key. */
export const clusterNetworkPolicyName = (tier: string, name: string) => `kcnp.${tier}.${name}`;
export const clusterNetworkPolicyKey = (tier: string, name: string) => `kcnp/${clusterNetworkPolicyName(tier, name)}`;

/** Resolves an egress `nodes` peer: the addresses of the nodes whose labels match. */
export type NodeAddresses = (nodeSelector: Selector) => readonly string[];

export interface ConvertedClusterNetworkPolicy {
  readonly policy: Policy;
  /** What was wrong or not enforced as written (the policy is still placed). */
  readonly problem?: string;
  /** True when a `nodes` peer was resolved: the policy must be converted again when nodes change. */
  readonly usesNodes: boolean;
}

/** Rule-level invalidity: the object is placed and fails closed. */
class Invalid extends Error {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v);

/** Throws when the policy cannot be placed (no valid tier or subject). */
export function clusterNetworkPolicyToPolicy(
  obj: ClusterNetworkPolicy,
  nodeAddresses: NodeAddresses = () => [],
): ConvertedClusterNetworkPolicy {
  const name = obj.metadata?.name;
  if (!name) throw new Error("ClusterNetworkPolicy has no metadata.name");
  const spec = obj.spec;
  if (!isObj(spec)) throw new Error("spec must be an object");
  const tier =
    spec.tier === "Admin" ? KUBE_ADMIN_TIER.name : spec.tier === "Baseline" ? KUBE_BASELINE_TIER.name : undefined;
  if (!tier) throw new Error(`spec.tier must be Admin or Baseline, not ${show(spec.tier)}`);
  const selector = subjectSelector(spec.subject);
  const id = { tier, namespace: "", name: clusterNetworkPolicyName(tier, name) };
  const base = { id, key: clusterNetworkPolicyKey(tier, name), kind: "ClusterNetworkPolicy" as const, selector };
  const ctx: Ctx = { policySelector: selector, nodeAddresses, notes: [], usesNodes: false };
  try {
    const order = priority(spec.priority);
    const ingress = ruleList(spec.ingress, "ingress").map((r, i) =>
      convertRule(r, "ingress", `spec.ingress[${i}]`, ctx),
    );
    const egress = ruleList(spec.egress, "egress").map((r, i) => convertRule(r, "egress", `spec.egress[${i}]`, ctx));
    const inbound = ingress.filter((r): r is PolicyRule => r !== undefined);
    const outbound = egress.filter((r): r is PolicyRule => r !== undefined);
    // A CNP with no rules in a direction does not affect that direction.
    const policy: Policy = {
      ...base,
      order,
      ingress: ingress.length > 0,
      egress: egress.length > 0,
      inbound,
      outbound,
    };
    const problem = ctx.notes.length ? ctx.notes.join("; ") : undefined;
    return { policy, usesNodes: ctx.usesNodes, ...(problem ? { problem } : {}) };
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    const p = typeof spec.priority === "number" && spec.priority >= 0 && spec.priority <= 1000 ? spec.priority : 0;
    const deny: PolicyRule[] = [{ action: "deny" }];
    const policy: Policy = { ...base, order: p, ingress: true, egress: true, inbound: deny, outbound: deny };
    return { policy, usesNodes: false, problem: `${e.message} (fails closed: its subject's traffic is denied)` };
  }
}

interface Ctx {
  readonly policySelector: Selector;
  readonly nodeAddresses: NodeAddresses;
  readonly notes: string[];
  usesNodes: boolean;
}

/** Pods of the namespaces a selector picks: namespace labels are the endpoints' `pcns.` labels. */
function namespacesSelector(sel: unknown, where: string): Selector {
  return and(has(NAMESPACE_LABEL), selector(sel, where, NAMESPACE_PREFIX));
}

function selector(sel: unknown, where: string, prefix = ""): Selector {
  if (sel !== undefined && sel !== null && !isObj(sel)) throw new Invalid(`${where} must be a label selector`);
  const bad = labelSelector(sel, where);
  if (bad) throw new Invalid(bad);
  try {
    return convertLabelSelector(sel as LabelSelector | undefined, prefix);
  } catch (e) {
    throw new Invalid(`${where}: ${(e as Error).message}`);
  }
}

/** Exactly one of namespaces, pods (ANDs its namespace and pod selectors). */
function podsOrNamespaces(v: Obj, where: string): Selector | undefined {
  if (v.namespaces != null) return namespacesSelector(v.namespaces, `${where}.namespaces`);
  if (v.pods == null) return undefined;
  if (!isObj(v.pods)) throw new Invalid(`${where}.pods must be an object`);
  if (v.pods.podSelector == null) throw new Invalid(`${where}.pods.podSelector is required`);
  return and(
    namespacesSelector(v.pods.namespaceSelector, `${where}.pods.namespaceSelector`),
    selector(v.pods.podSelector, `${where}.pods.podSelector`),
  );
}

function subjectSelector(subject: unknown): Selector {
  if (!isObj(subject)) throw new Error("spec.subject must be an object");
  const set = ["namespaces", "pods"].filter((k) => subject[k] != null);
  if (set.length !== 1) throw new Error(`spec.subject must set exactly one of namespaces, pods (has ${set.length})`);
  try {
    return podsOrNamespaces(subject, "spec.subject") ?? ALL;
  } catch (e) {
    throw new Error((e as Error).message);
  }
}

function priority(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 1000) {
    throw new Invalid(`spec.priority must be an integer from 0 to 1000, not ${show(v)}`);
  }
  return v;
}

function ruleList(v: unknown, dir: "ingress" | "egress"): Obj[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Invalid(`spec.${dir} must be a list`);
  if (v.length > CNP_MAX_ITEMS) throw new Invalid(`spec.${dir} has ${v.length} rules (at most ${CNP_MAX_ITEMS})`);
  return v.map((r, i) => {
    if (!isObj(r)) throw new Invalid(`spec.${dir}[${i}] must be an object`);
    return r;
  });
}

function items(v: unknown, where: string, min = 1): unknown[] {
  if (!Array.isArray(v)) throw new Invalid(`${where} must be a list`);
  if (v.length < min || v.length > CNP_MAX_ITEMS) {
    throw new Invalid(`${where} has ${v.length} items (${min} to ${CNP_MAX_ITEMS})`);
  }
  return v;
}

const ACTIONS = { Accept: "allow", Deny: "deny", Pass: "pass" } as const;

/** One CNP rule; undefined when it can match nothing (an Accept whose peers all fail closed). */
function convertRule(r: Obj, dir: "ingress" | "egress", where: string, ctx: Ctx): PolicyRule | undefined {
  if (r.name !== undefined && (typeof r.name !== "string" || r.name.length > MAX_RULE_NAME)) {
    throw new Invalid(`${where}.name must be a string of at most ${MAX_RULE_NAME} characters`);
  }
  const action = ACTIONS[r.action as keyof typeof ACTIONS];
  if (!Object.hasOwn(ACTIONS, String(r.action))) {
    throw new Invalid(`${where}.action must be Accept, Deny or Pass, not ${show(r.action)}`);
  }
  const field = dir === "ingress" ? "from" : "to";
  const rawPeers = items(r[field], `${where}.${field}`);
  const rawProtocols = r.protocols == null ? undefined : items(r.protocols, `${where}.protocols`);
  const peers = rawPeers.map((p, j) => convertPeer(p, dir, action, `${where}.${field}[${j}]`, ctx));
  const ports = rawProtocols ? convertProtocols(rawProtocols, dir, `${where}.protocols`, ctx) : undefined;
  const named = ports?.some((p) => p.dstNamedPort !== undefined) ?? false;
  if (named && peers.some((p) => p.kind === "ip")) {
    // The CRD's CEL rule: networks, nodes and domainNames have no named ports.
    throw new Invalid(`${where}: networks/nodes/domainNames peers cannot be used with destinationNamedPort`);
  }
  if (peers.some((p) => p.kind === "fail-closed")) {
    if (action !== "allow") return { action: "deny" };
  }
  const matches = peers.flatMap((p) => (p.kind === "fail-closed" ? [] : p.match));
  if (matches.length === 0) return undefined;
  const rule: PolicyRule = { action, ...(matches.length === 1 ? matches[0] : { anyPeer: matches }) };
  if (!ports) return rule;
  return ports.length === 1 ? { ...rule, ...ports[0] } : { ...rule, anyPort: ports };
}

/** A peer's alternatives: one per CIDR (the renderer matches one net per side), none when it matches nothing. */
type Peer = { kind: "pods" | "ip"; match: PeerMatch[] } | { kind: "fail-closed" };

const PEER_FIELDS = {
  ingress: ["namespaces", "pods"],
  egress: ["namespaces", "pods", "nodes", "networks", "domainNames"],
} as const;

function convertPeer(raw: unknown, dir: "ingress" | "egress", action: string, where: string, ctx: Ctx): Peer {
  if (!isObj(raw)) throw new Invalid(`${where} must be an object`);
  const set = PEER_FIELDS[dir].filter((k) => raw[k] != null);
  if (set.length > 1) throw new Invalid(`${where} must set exactly one field (has ${set.join(", ")})`);
  if (set.length === 0) {
    ctx.notes.push(`${where} sets no field this agent knows: it fails closed (${failClosed(action)})`);
    return { kind: "fail-closed" };
  }
  const sel = podsOrNamespaces(raw, where);
  if (sel) return { kind: "pods", match: [dir === "ingress" ? { srcSelector: sel } : { dstSelector: sel }] };
  const nets = (cidrs: readonly string[]): Peer => ({ kind: "ip", match: cidrs.map((n) => ({ dstNets: [n] })) });
  if (raw.networks != null) {
    const cidrs = items(raw.networks, `${where}.networks`).map((c, k) => network(c, `${where}.networks[${k}]`));
    if (new Set(cidrs).size !== cidrs.length) throw new Invalid(`${where}.networks lists a CIDR twice`);
    return nets([...new Set(cidrs.map((n) => parseCidr(n).text))].sort());
  }
  if (raw.nodes != null) {
    const nodeSel = selector(raw.nodes, `${where}.nodes`);
    ctx.usesNodes = true;
    return nets([...new Set(ctx.nodeAddresses(nodeSel))].sort());
  }
  // domainNames: valid only in Accept rules; matching names needs DNS snooping, which we do not have.
  const names = items(raw.domainNames, `${where}.domainNames`);
  for (const [k, n] of names.entries()) {
    if (typeof n !== "string" || !DOMAIN_NAME.test(n)) throw new Invalid(`${where}.domainNames[${k}] ${show(n)}`);
  }
  if (action !== "allow") throw new Invalid(`${where}.domainNames is only allowed in Accept rules`);
  ctx.notes.push(`${where}.domainNames is not implemented: the peer matches nothing`);
  return { kind: "ip", match: [] };
}

const failClosed = (action: string) => (action === "allow" ? "matches nothing" : "the rule denies all");

function network(v: unknown, where: string): string {
  if (typeof v !== "string" || v.length > MAX_CIDR_TEXT || !v.includes("/")) {
    throw new Invalid(`${where}: invalid CIDR ${show(v)}`);
  }
  try {
    parseCidr(v);
  } catch (e) {
    throw new Invalid(`${where}: ${(e as Error).message}`);
  }
  return v;
}

/** Protocols OR'ed: port numbers and ranges merged per protocol; a named port for each protocol. */
function convertProtocols(raw: unknown[], dir: "ingress" | "egress", where: string, ctx: Ctx): PortMatch[] {
  const ranges = new Map<Protocol, PortRange[]>();
  const named = new Set<string>();
  raw.forEach((p, i) => {
    const w = `${where}[${i}]`;
    if (!isObj(p)) throw new Invalid(`${w} must be an object`);
    const set = ["tcp", "udp", "sctp", "destinationNamedPort"].filter((k) => p[k] != null);
    if (set.length !== 1) throw new Invalid(`${w} must set exactly one of tcp, udp, sctp, destinationNamedPort`);
    if (p.destinationNamedPort != null) {
      const bad = portName(p.destinationNamedPort, `${w}.destinationNamedPort`);
      if (bad) throw new Invalid(bad);
      named.add(p.destinationNamedPort as string);
      return;
    }
    const proto = set[0] as Protocol;
    const attrs = p[proto];
    if (!isObj(attrs) || !isObj(attrs.destinationPort)) throw new Invalid(`${w}.${proto}.destinationPort is required`);
    ranges.set(proto, [
      ...(ranges.get(proto) ?? []),
      portOrRange(attrs.destinationPort, `${w}.${proto}.destinationPort`),
    ]);
  });
  const out: PortMatch[] = [];
  for (const protocol of PROTOCOLS) {
    for (const chunk of chunkPorts(mergeRanges(ranges.get(protocol) ?? []))) out.push({ protocol, dstPorts: chunk });
  }
  // A named port names a container port of any protocol: one alternative per protocol. Ingress: the
  // subject's own ports; egress: any endpoint's (the peer block already restricts the destination).
  const namedPortSelector = dir === "ingress" ? ctx.policySelector : ALL;
  for (const name of [...named].sort()) {
    for (const protocol of PROTOCOLS) out.push({ protocol, dstNamedPort: name, namedPortSelector });
  }
  return out;
}

function portOrRange(v: Obj, where: string): PortRange {
  const set = ["number", "range"].filter((k) => v[k] != null);
  if (set.length !== 1) throw new Invalid(`${where} must set exactly one of number, range`);
  const port = (n: unknown, w: string): number => {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65535) {
      throw new Invalid(`${w}: invalid port ${show(n)} (1-65535)`);
    }
    return n;
  };
  if (v.number != null) {
    const n = port(v.number, `${where}.number`);
    return { first: n, last: n };
  }
  if (!isObj(v.range)) throw new Invalid(`${where}.range must be an object`);
  const first = port(v.range.start, `${where}.range.start`);
  const last = port(v.range.end, `${where}.range.end`);
  if (first >= last) throw new Invalid(`${where}.range: start ${first} must be less than end ${last}`);
  return { first, last };
}
