// Validation of input objects as the Kubernetes API server would validate
// them, before any conversion: names (DNS-1123 labels and subdomains, DNS-1035
// for Services), label keys and values, selector operators, port numbers and
// names, protocols, CIDRs. The file datastore has no API server in front of
// it, and names reach chain names, comments and IP set ids: a newline in a
// namespace name would otherwise inject restore commands. Both datastores feed
// the converter, which calls this for every object (one rule set for both).
//
// Returns the first problem found, or undefined when the object is valid.
// Only fields the agent reads are checked; unknown fields are not our business.

import { CLUSTER_SCOPED_KINDS, type Kind } from "../../model/resource.js";
import { parseCidr } from "./cidr.js";
import { ValidMemo } from "./valid-memo.js";
import { hostEndpointSpec, networkSetSpec } from "./validate-hosts.js";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** A label key's name part and a label value (when not empty). */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const PROTOCOLS = ["TCP", "UDP", "SCTP"];
const SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"];
const POLICY_TYPES = ["Ingress", "Egress"];

/** Each check returns the problem or undefined. */
type Problem = string | undefined;
/** Where in the object: built only when there is a problem to report (valid objects allocate no text). */
type Where = string | (() => string);

const show = (v: unknown) => JSON.stringify(v);
const at = (w: Where) => (typeof w === "string" ? w : w());

const LABELS = new ValidMemo((v) => v.length <= 63 && DNS1123_LABEL.test(v));
const SUBDOMAINS = new ValidMemo((v) => v.length <= 253 && DNS1123_SUBDOMAIN.test(v));
const LABEL_VALUES = new ValidMemo((v) => v === "" || (v.length <= 63 && LABEL_NAME.test(v)));
const LABEL_KEYS = new ValidMemo((k) => {
  const slash = k.indexOf("/");
  const name = slash < 0 ? k : k.slice(slash + 1);
  return (slash < 0 || SUBDOMAINS.has(k.slice(0, slash))) && name.length <= 63 && LABEL_NAME.test(name);
});

export function dns1123Label(v: unknown, what: Where): Problem {
  if (typeof v === "string" && LABELS.has(v)) return undefined;
  return `${at(what)} ${show(v)} is not a DNS-1123 label (lower-case alphanumerics and '-', at most 63)`;
}

export function dns1123Subdomain(v: unknown, what: Where): Problem {
  if (typeof v === "string" && SUBDOMAINS.has(v)) return undefined;
  return `${at(what)} ${show(v)} is not a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.', at most 253)`;
}

function dns1035Label(v: unknown, what: Where): Problem {
  if (typeof v === "string" && v.length <= 63 && DNS1035_LABEL.test(v)) return undefined;
  return `${at(what)} ${show(v)} is not a DNS-1035 label (starts with a letter; lower-case alphanumerics and '-', at most 63)`;
}

export function labelKey(k: unknown, what: Where): Problem {
  if (typeof k === "string" && LABEL_KEYS.has(k)) return undefined;
  const slash = typeof k === "string" ? k.indexOf("/") : -1;
  const badPrefix = slash >= 0 && !SUBDOMAINS.has((k as string).slice(0, slash));
  return `${at(what)}: label key ${show(k)} is invalid${badPrefix ? " (bad prefix)" : ""}`;
}

export function labelValue(v: unknown, what: Where): Problem {
  if (typeof v === "string" && LABEL_VALUES.has(v)) return undefined;
  return `${at(what)}: label value ${show(v)} is invalid`;
}

function labels(l: unknown, what: Where): Problem {
  if (l === undefined || l === null) return undefined;
  if (typeof l !== "object" || Array.isArray(l)) return `${at(what)} must be a map`;
  for (const k in l) {
    const v = (l as Record<string, unknown>)[k];
    const p = labelKey(k, what) ?? labelValue(typeof v === "number" || typeof v === "boolean" ? String(v) : v, what);
    if (p) return p;
  }
  return undefined;
}

/** IANA_SVC_NAME: a named port (at most 15, a letter somewhere, no "--"). */
export function portName(v: unknown, what: Where): Problem {
  if (typeof v === "string" && v.length <= 15 && IANA_SVC_NAME.test(v) && /[a-z]/.test(v) && !v.includes("--"))
    return undefined;
  return `${at(what)}: port name ${show(v)} is not an IANA service name`;
}

function portNumber(v: unknown, what: Where): Problem {
  if (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 65535) return undefined;
  return `${at(what)}: invalid port ${show(v)} (1-65535)`;
}

function protocol(v: unknown, what: Where): Problem {
  if (v === undefined || PROTOCOLS.includes(v as string)) return undefined;
  return `${at(what)}: protocol ${show(v)} is not one of ${PROTOCOLS.join(", ")}`;
}

function cidr(v: unknown, what: Where): Problem {
  if (typeof v !== "string") return `${at(what)}: CIDR ${show(v)} is not a string`;
  try {
    parseCidr(v);
    return undefined;
  } catch (e) {
    return `${at(what)}: ${(e as Error).message}`;
  }
}

const list = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);
const sub =
  (w: Where, tail: string): Where =>
  () =>
    `${at(w)}${tail}`;

export function labelSelector(s: unknown, what: Where): Problem {
  if (s === undefined || s === null) return undefined;
  const sel = s as { matchLabels?: unknown; matchExpressions?: unknown };
  const p = labels(sel.matchLabels, sub(what, ".matchLabels"));
  if (p) return p;
  const exprs = list(sel.matchExpressions);
  for (let i = 0; i < exprs.length; i++) {
    const w = sub(what, `.matchExpressions[${i}]`);
    const r = (exprs[i] ?? {}) as { key?: unknown; operator?: unknown; values?: unknown };
    const q =
      labelKey(r.key, w) ??
      (SELECTOR_OPERATORS.includes(r.operator as string)
        ? undefined
        : `${at(w)}: unknown operator ${show(r.operator)}`);
    if (q) return q;
    for (const v of list(r.values)) {
      const bad = labelValue(v, w);
      if (bad) return bad;
    }
  }
  return undefined;
}

function objectName(kind: Kind, name: unknown): Problem {
  switch (kind) {
    case "Namespace":
      return dns1123Label(name, "metadata.name");
    case "Service":
      return dns1035Label(name, "metadata.name");
    default:
      return dns1123Subdomain(name, "metadata.name");
  }
}

/** The first reason the API server would refuse `obj` of `kind`, or undefined. */
export function validateObject(kind: Kind, obj: unknown): Problem {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return `${kind} is not an object`;
  const o = obj as { metadata?: { name?: unknown; namespace?: unknown; labels?: unknown }; spec?: unknown };
  const m = o.metadata ?? {};
  return (
    objectName(kind, m.name) ??
    (CLUSTER_SCOPED_KINDS.has(kind) || m.namespace === undefined
      ? undefined
      : dns1123Label(m.namespace, "metadata.namespace")) ??
    labels(m.labels, "metadata.labels") ??
    spec(kind, obj as Record<string, unknown>)
  );
}

function spec(kind: Kind, o: Record<string, unknown>): Problem {
  const s = (o.spec ?? {}) as Record<string, unknown>;
  switch (kind) {
    case "Pod":
      return pod(s);
    case "NetworkPolicy":
    case "StagedKubernetesNetworkPolicy":
      return networkPolicyPlacement(s);
    case "Service":
      return portNames(s.ports, "spec.ports");
    case "EndpointSlice":
      return portNames(o.ports, "ports");
    case "Node": {
      const cidrs = list(s.podCIDRs);
      for (let i = 0; i < cidrs.length; i++) {
        const q = cidr(cidrs[i], () => `spec.podCIDRs[${i}]`);
        if (q) return q;
      }
      return s.podCIDR === undefined ? undefined : cidr(s.podCIDR, "spec.podCIDR");
    }
    case "HostEndpoint":
      return hostEndpointSpec(s);
    case "NetworkSet":
    case "GlobalNetworkSet":
      return networkSetSpec(s);
    default:
      return undefined;
  }
}

function pod(s: Record<string, unknown>): Problem {
  const opt = (v: unknown, what: string) => (v === undefined || v === "" ? undefined : dns1123Subdomain(v, what));
  const p =
    opt(s.nodeName, "spec.nodeName") ??
    opt(s.serviceAccountName, "spec.serviceAccountName") ??
    opt(s.serviceAccount, "spec.serviceAccount");
  if (p) return p;
  const containers = list(s.containers);
  for (let i = 0; i < containers.length; i++) {
    const ports = list((containers[i] as { ports?: unknown } | null)?.ports);
    for (let j = 0; j < ports.length; j++) {
      const w = () => `spec.containers[${i}].ports[${j}]`;
      const cp = (ports[j] ?? {}) as { name?: unknown; containerPort?: unknown; protocol?: unknown };
      const q =
        (cp.name === undefined ? undefined : portName(cp.name, w)) ??
        portNumber(cp.containerPort, w) ??
        protocol(cp.protocol, w);
      if (q) return q;
    }
  }
  return undefined;
}

/** What places a policy: its podSelector and policyTypes. */
function networkPolicyPlacement(s: Record<string, unknown>): Problem {
  const p = labelSelector(s.podSelector, "spec.podSelector");
  if (p) return p;
  const types = list(s.policyTypes);
  for (let i = 0; i < types.length; i++) {
    if (!POLICY_TYPES.includes(types[i] as string)) {
      return `spec.policyTypes[${i}]: unknown type ${show(types[i])} (Ingress or Egress)`;
    }
  }
  return undefined;
}

/**
 * A NetworkPolicy's rules (peers' selectors and ipBlocks, ports). A policy
 * whose rules are invalid is still placed, with no rules: what it selects
 * stays isolated rather than opened up.
 */
export function validatePolicyRules(spec: unknown): Problem {
  const s = (spec ?? {}) as Record<string, unknown>;
  for (const dir of ["ingress", "egress"] as const) {
    const rules = list(s[dir]);
    for (let i = 0; i < rules.length; i++) {
      const rule = (rules[i] ?? {}) as { from?: unknown; to?: unknown; ports?: unknown };
      const peers = list(dir === "ingress" ? rule.from : rule.to);
      for (let j = 0; j < peers.length; j++) {
        const q = policyPeer(peers[j], () => `spec.${dir}[${i}].${dir === "ingress" ? "from" : "to"}[${j}]`);
        if (q) return q;
      }
      const ports = list(rule.ports);
      for (let j = 0; j < ports.length; j++) {
        const q = policyPort(ports[j], () => `spec.${dir}[${i}].ports[${j}]`);
        if (q) return q;
      }
    }
  }
  return undefined;
}

function policyPeer(peer: unknown, w: Where): Problem {
  const p = (peer ?? {}) as { podSelector?: unknown; namespaceSelector?: unknown; ipBlock?: unknown };
  const q =
    labelSelector(p.podSelector, sub(w, ".podSelector")) ??
    labelSelector(p.namespaceSelector, sub(w, ".namespaceSelector"));
  if (q || !p.ipBlock) return q;
  const block = p.ipBlock as { cidr?: unknown; except?: unknown };
  const bad = cidr(block.cidr, sub(w, ".ipBlock.cidr"));
  if (bad) return bad;
  const except = list(block.except);
  for (let k = 0; k < except.length; k++) {
    const e = cidr(except[k], sub(w, `.ipBlock.except[${k}]`));
    if (e) return e;
  }
  return undefined;
}

function policyPort(port: unknown, w: Where): Problem {
  const p = (port ?? {}) as { protocol?: unknown; port?: unknown; endPort?: unknown };
  const numeric = typeof p.port === "number";
  const q =
    protocol(p.protocol, w) ??
    (p.port === undefined ? undefined : numeric ? portNumber(p.port, w) : portName(p.port, w));
  if (q || p.endPort === undefined) return q;
  if (!numeric) return `${at(w)}: endPort needs a numeric port`;
  return (
    portNumber(p.endPort, sub(w, ".endPort")) ??
    ((p.endPort as number) < (p.port as number) ? `${at(w)}: endPort ${p.endPort} is below port ${p.port}` : undefined)
  );
}

/**
 * Service and EndpointSlice port names (DNS-1123 labels, or empty): they
 * reach chain comments. Numbers, protocols and target ports are checked per
 * port by services/convert.ts, which drops just the bad port.
 */
function portNames(ports: unknown, what: string): Problem {
  const all = list(ports);
  for (let i = 0; i < all.length; i++) {
    const name = (all[i] as { name?: unknown } | null)?.name;
    if (name === undefined || name === null || name === "") continue;
    const q = dns1123Label(name, () => `${what}[${i}].name`);
    if (q) return q;
  }
  return undefined;
}
