// networking.k8s.io/v1 NetworkPolicy → Calico policy (libcalico-go's
// K8sNetworkPolicyToCalico): order 1000 in tier `default`, named
// `knp.default.<name>`, one allow rule per (peer, protocol/port group), or,
// with several of both, one rule with a peer block and a port block.

import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from "../../model/k8s.js";
import type { PeerMatch, Policy, PolicyRule, PortMatch, PortRange, Protocol } from "../model.js";
import { policyKey } from "../model.js";
import { and, eq, has, type Selector } from "../selector/selector.js";
import { parseCidr } from "./cidr.js";
import { convertLabelSelector } from "./label-selector.js";
import { NAMESPACE_LABEL, NAMESPACE_PREFIX, ORCHESTRATOR_LABEL } from "./labels.js";
import { parseProtocol } from "./pod.js";

export const K8S_POLICY_ORDER = 1000;
export const K8S_POLICY_PREFIX = "knp.default.";
/** iptables multiport takes 15 ports; a range costs two. */
const MULTIPORT_SLOTS = 15;
const PROTOCOL_ORDER: readonly Protocol[] = ["tcp", "udp", "sctp"];

export interface ConvertedPolicy {
  readonly policy: Policy;
  /**
   * Set when a rule could not be converted: the policy then keeps its
   * selector and types but has no rules, so the pods it selects stay
   * isolated (fail closed) instead of being opened up.
   */
  readonly ruleError?: string;
}

type Peer = { selector: Selector } | { net: string; notNets: string[] } | undefined;
type PortGroup =
  | { protocol: Protocol; ports?: PortRange[]; namedPort?: undefined }
  | { protocol: Protocol; namedPort: string; ports?: undefined }
  | undefined;

/** Throws when the policy cannot be placed at all (no name, bad podSelector or policyTypes). */
export function networkPolicyToPolicy(np: NetworkPolicy): ConvertedPolicy {
  const namespace = np.metadata?.namespace || "default";
  const name = np.metadata?.name;
  if (!name) throw new Error("NetworkPolicy has no metadata.name");
  const spec = np.spec ?? {};
  const selector = and(
    eq(NAMESPACE_LABEL, namespace),
    eq(ORCHESTRATOR_LABEL, "k8s"),
    convertLabelSelector(spec.podSelector),
  );
  const { ingress, egress } = policyTypes(np);
  const id = { tier: "default", namespace, name: K8S_POLICY_PREFIX + name };
  const base = { id, key: policyKey(id), kind: "KubernetesNetworkPolicy" as const, order: K8S_POLICY_ORDER };
  try {
    const inbound = ingress ? convertRules(spec.ingress, "ingress", namespace, selector) : [];
    const outbound = egress ? convertRules(spec.egress, "egress", namespace, selector) : [];
    return { policy: { ...base, selector, ingress, egress, inbound, outbound } };
  } catch (e) {
    return {
      policy: { ...base, selector, ingress, egress, inbound: [], outbound: [] },
      ruleError: (e as Error).message,
    };
  }
}

/** policyTypes, defaulted as the API server does: Egress only when egress rules exist. */
function policyTypes(np: NetworkPolicy): { ingress: boolean; egress: boolean } {
  const types = np.spec?.policyTypes;
  if (types !== undefined && types !== null && !Array.isArray(types)) {
    throw new Error("spec.policyTypes must be a list");
  }
  if (types && types.length > 0) {
    for (const t of types) {
      if (t !== "Ingress" && t !== "Egress") throw new Error(`spec.policyTypes: unknown type ${JSON.stringify(t)}`);
    }
    return { ingress: types.includes("Ingress"), egress: types.includes("Egress") };
  }
  return { ingress: true, egress: (np.spec?.egress?.length ?? 0) > 0 };
}

function convertRules(
  rules: { from?: NetworkPolicyPeer[]; to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[] | undefined,
  dir: "ingress" | "egress",
  namespace: string,
  policySelector: Selector,
): PolicyRule[] {
  if (rules !== undefined && rules !== null && !Array.isArray(rules)) throw new Error(`spec.${dir} must be a list`);
  const out: PolicyRule[] = [];
  (rules ?? []).forEach((rule, i) => {
    const where = `spec.${dir}[${i}]`;
    const rawPeers = dir === "ingress" ? rule?.from : rule?.to;
    if (rawPeers !== undefined && rawPeers !== null && !Array.isArray(rawPeers)) {
      throw new Error(`${where}.${dir === "ingress" ? "from" : "to"} must be a list`);
    }
    const peers: Peer[] = rawPeers?.length
      ? rawPeers.map((p, j) => convertPeer(p, namespace, `${where} peer ${j}`))
      : [undefined];
    if (rule?.ports != null && !Array.isArray(rule.ports)) throw new Error(`${where}.ports must be a list`);
    const groups: PortGroup[] = rule?.ports?.length ? groupPorts(rule.ports, `${where}.ports`) : [undefined];
    if (peers.length > 1 && groups.length > 1) {
      out.push(makeBlockRule(dir, peers, groups, policySelector));
      return;
    }
    for (const peer of peers) {
      for (const group of groups) out.push(makeRule(dir, peer, group, policySelector));
    }
  });
  return out;
}

/**
 * Several peers and several port groups: one rule with a peer block and a
 * port block, so the rendered text grows with P + G, not P × G. An egress
 * named port then resolves over every endpoint (`all()`): the peer block
 * already restricts the destination, and `all()` sets are shared by every
 * policy instead of one set per peer.
 */
function makeBlockRule(
  dir: "ingress" | "egress",
  peers: readonly Peer[],
  groups: readonly PortGroup[],
  policySelector: Selector,
): PolicyRule {
  const namedPortSelector = dir === "ingress" ? policySelector : and();
  const anyPeer: PeerMatch[] = peers.map((peer) => {
    const { action: _, ...fields } = makeRule(dir, peer, undefined, policySelector);
    return fields;
  });
  const anyPort: PortMatch[] = groups.map((g) => {
    if (!g) throw new Error("a port block has only port groups");
    if (g.namedPort !== undefined) return { protocol: g.protocol, dstNamedPort: g.namedPort, namedPortSelector };
    return g.ports ? { protocol: g.protocol, dstPorts: g.ports } : { protocol: g.protocol };
  });
  return { action: "allow", anyPeer, anyPort };
}

function makeRule(dir: "ingress" | "egress", peer: Peer, group: PortGroup, policySelector: Selector): PolicyRule {
  const rule: {
    -readonly [K in keyof PolicyRule]: PolicyRule[K];
  } = { action: "allow" };
  if (group) {
    rule.protocol = group.protocol;
    if (group.ports) rule.dstPorts = group.ports;
  }
  const peerSel = peer && "selector" in peer ? peer.selector : undefined;
  if (peer && "net" in peer) {
    if (dir === "ingress") {
      rule.srcNets = [peer.net];
      if (peer.notNets.length) rule.srcNotNets = peer.notNets;
    } else {
      rule.dstNets = [peer.net];
      if (peer.notNets.length) rule.dstNotNets = peer.notNets;
    }
  }
  if (dir === "ingress" && peerSel) rule.srcSelector = peerSel;
  if (group?.namedPort !== undefined) {
    rule.dstNamedPort = group.namedPort;
    // The named-port set holds ip,port of the endpoints that can be the
    // destination: the policy's own pods for ingress, the peer's for egress
    // (so the peer selector folds into it).
    rule.namedPortSelector = dir === "ingress" ? policySelector : (peerSel ?? and());
  } else if (dir === "egress" && peerSel) {
    rule.dstSelector = peerSel;
  }
  return rule;
}

function convertPeer(peer: NetworkPolicyPeer, namespace: string, where: string): Peer {
  if (!peer || typeof peer !== "object") throw new Error(`${where}: must be an object`);
  const hasSel = peer.podSelector != null || peer.namespaceSelector != null;
  if (peer.ipBlock != null) {
    if (hasSel) throw new Error(`${where}: ipBlock cannot be combined with podSelector or namespaceSelector`);
    const cidr = parseCidr(String(peer.ipBlock.cidr ?? ""));
    const notNets: string[] = [];
    if (peer.ipBlock.except != null && !Array.isArray(peer.ipBlock.except)) {
      throw new Error(`${where}: ipBlock.except must be a list`);
    }
    for (const ex of peer.ipBlock.except ?? []) {
      const c = parseCidr(String(ex));
      if (c.version !== cidr.version) throw new Error(`${where}: except ${ex} is not in the family of ${cidr.text}`);
      notNets.push(c.text);
    }
    return { net: cidr.text, notNets: [...new Set(notNets)].sort() };
  }
  if (!hasSel) throw new Error(`${where}: needs podSelector, namespaceSelector or ipBlock`);
  const nsPart =
    peer.namespaceSelector == null
      ? eq(NAMESPACE_LABEL, namespace)
      : and(has(NAMESPACE_LABEL), convertLabelSelector(peer.namespaceSelector, NAMESPACE_PREFIX));
  // Pods only (libcalico-go's SelectorPod): a network set in a selected namespace is no pod, and
  // without this a tenant's NetworkSet (any nets) would pass as a peer of another namespace's policy.
  return { selector: and(nsPart, eq(ORCHESTRATOR_LABEL, "k8s"), convertLabelSelector(peer.podSelector)) };
}

function groupPorts(ports: NetworkPolicyPort[], where: string): PortGroup[] {
  if (!Array.isArray(ports)) throw new Error(`${where} must be a list`);
  const anyPort = new Set<Protocol>();
  const ranges = new Map<Protocol, PortRange[]>();
  const named = new Map<Protocol, Set<string>>();
  ports.forEach((p, i) => {
    const what = `${where}[${i}]`;
    if (!p || typeof p !== "object") throw new Error(`${what}: must be an object`);
    const protocol = parseProtocol(p.protocol, what);
    let port = p.port;
    if (typeof port === "string" && /^[0-9]+$/.test(port)) port = Number(port);
    if (port === undefined || port === null) {
      if (p.endPort != null) throw new Error(`${what}: endPort needs port`);
      anyPort.add(protocol);
    } else if (typeof port === "number") {
      const last = p.endPort ?? port;
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${what}: invalid port ${port}`);
      if (!Number.isInteger(last) || last < port || last > 65535) {
        throw new Error(`${what}: invalid endPort ${p.endPort} (must be ${port}..65535)`);
      }
      ranges.set(protocol, [...(ranges.get(protocol) ?? []), { first: port, last }]);
    } else if (typeof port === "string" && port !== "") {
      if (p.endPort != null) throw new Error(`${what}: endPort cannot be used with named port ${port}`);
      named.set(protocol, (named.get(protocol) ?? new Set()).add(port));
    } else {
      throw new Error(`${what}: invalid port ${JSON.stringify(port)}`);
    }
  });
  const groups: PortGroup[] = [];
  for (const protocol of PROTOCOL_ORDER) {
    if (anyPort.has(protocol)) {
      groups.push({ protocol });
      continue;
    }
    for (const chunk of chunkPorts(mergeRanges(ranges.get(protocol) ?? []))) groups.push({ protocol, ports: chunk });
    for (const n of [...(named.get(protocol) ?? [])].sort()) groups.push({ protocol, namedPort: n });
  }
  return groups;
}

/** Sorts and merges overlapping or adjacent ranges. */
export function mergeRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.first - b.first || a.last - b.last);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev && r.first <= prev.last + 1)
      out[out.length - 1] = { first: prev.first, last: Math.max(prev.last, r.last) };
    else out.push(r);
  }
  return out;
}

/** Splits a port list into chunks that fit one multiport match. */
export function chunkPorts(ranges: readonly PortRange[]): PortRange[][] {
  const chunks: PortRange[][] = [];
  let cur: PortRange[] = [];
  let slots = 0;
  for (const r of ranges) {
    const cost = r.first === r.last ? 1 : 2;
    if (slots + cost > MULTIPORT_SLOTS) {
      chunks.push(cur);
      cur = [];
      slots = 0;
    }
    cur.push(r);
    slots += cost;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}
