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

import type { Kind } from "../../src/model/resource.js";
import { parseCidr } from "./cidr.js";

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

const show = (v: unknown) => JSON.stringify(v);

export function dns1123Label(v: unknown, what: string): Problem {
  if (typeof v === "string" && v.length <= 63 && DNS1123_LABEL.test(v)) return undefined;
  return `${what} ${show(v)} is not a DNS-1123 label (lower-case alphanumerics and '-', at most 63)`;
}

export function dns1123Subdomain(v: unknown, what: string): Problem {
  if (typeof v === "string" && v.length <= 253 && DNS1123_SUBDOMAIN.test(v)) return undefined;
  return `${what} ${show(v)} is not a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.', at most 253)`;
}

function dns1035Label(v: unknown, what: string): Problem {
  if (typeof v === "string" && v.length <= 63 && DNS1035_LABEL.test(v)) return undefined;
  return `${what} ${show(v)} is not a DNS-1035 label (starts with a letter; lower-case alphanumerics and '-', at most 63)`;
}

export function labelKey(k: unknown, what: string): Problem {
  const bad = `${what}: label key ${show(k)} is invalid`;
  if (typeof k !== "string") return bad;
  const slash = k.indexOf("/");
  const name = slash < 0 ? k : k.slice(slash + 1);
  if (slash >= 0 && dns1123Subdomain(k.slice(0, slash), "prefix")) return `${bad} (bad prefix)`;
  if (name.length > 63 || !LABEL_NAME.test(name)) return bad;
  return undefined;
}

export function labelValue(v: unknown, what: string): Problem {
  if (typeof v === "string" && (v === "" || (v.length <= 63 && LABEL_NAME.test(v)))) return undefined;
  return `${what}: label value ${show(v)} is invalid`;
}

function labels(l: unknown, what: string): Problem {
  if (l === undefined || l === null) return undefined;
  if (typeof l !== "object" || Array.isArray(l)) return `${what} must be a map`;
  for (const [k, v] of Object.entries(l)) {
    const p = labelKey(k, what) ?? labelValue(typeof v === "number" || typeof v === "boolean" ? String(v) : v, what);
    if (p) return p;
  }
  return undefined;
}

/** IANA_SVC_NAME: a named port (at most 15, a letter somewhere, no "--"). */
export function portName(v: unknown, what: string): Problem {
  if (typeof v === "string" && v.length <= 15 && IANA_SVC_NAME.test(v) && /[a-z]/.test(v) && !v.includes("--"))
    return undefined;
  return `${what}: port name ${show(v)} is not an IANA service name`;
}

function portNumber(v: unknown, what: string): Problem {
  if (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 65535) return undefined;
  return `${what}: invalid port ${show(v)} (1-65535)`;
}

function protocol(v: unknown, what: string): Problem {
  if (v === undefined || PROTOCOLS.includes(v as string)) return undefined;
  return `${what}: protocol ${show(v)} is not one of ${PROTOCOLS.join(", ")}`;
}

function cidr(v: unknown, what: string): Problem {
  if (typeof v !== "string") return `${what}: CIDR ${show(v)} is not a string`;
  try {
    parseCidr(v);
    return undefined;
  } catch (e) {
    return `${what}: ${(e as Error).message}`;
  }
}

/** The first problem of a list of checks (each may be undefined). */
const first = (...ps: Problem[]): Problem => ps.find((p) => p !== undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function labelSelector(s: unknown, what: string): Problem {
  if (s === undefined || s === null) return undefined;
  const sel = s as { matchLabels?: unknown; matchExpressions?: unknown };
  const p = labels(sel.matchLabels, `${what}.matchLabels`);
  if (p) return p;
  for (const [i, e] of list(sel.matchExpressions).entries()) {
    const at = `${what}.matchExpressions[${i}]`;
    const r = (e ?? {}) as { key?: unknown; operator?: unknown; values?: unknown };
    const q = first(
      labelKey(r.key, at),
      SELECTOR_OPERATORS.includes(r.operator as string) ? undefined : `${at}: unknown operator ${show(r.operator)}`,
      ...list(r.values).map((v) => labelValue(v, at)),
    );
    if (q) return q;
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

const CLUSTER_SCOPED: ReadonlySet<Kind> = new Set([
  "Namespace",
  "Node",
  "IPPool",
  "BlockAffinity",
  "FelixConfiguration",
]);

/** The first reason the API server would refuse `obj` of `kind`, or undefined. */
export function validateObject(kind: Kind, obj: unknown): Problem {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return `${kind} is not an object`;
  const o = obj as { metadata?: { name?: unknown; namespace?: unknown; labels?: unknown }; spec?: unknown };
  const m = o.metadata ?? {};
  return first(
    objectName(kind, m.name),
    CLUSTER_SCOPED.has(kind) || m.namespace === undefined ? undefined : dns1123Label(m.namespace, "metadata.namespace"),
    labels(m.labels, "metadata.labels"),
    spec(kind, obj as Record<string, unknown>),
  );
}

function spec(kind: Kind, o: Record<string, unknown>): Problem {
  const s = (o.spec ?? {}) as Record<string, unknown>;
  switch (kind) {
    case "Pod":
      return pod(s);
    case "NetworkPolicy":
      return networkPolicyPlacement(s);
    case "Service":
      return portNames(s.ports, "spec.ports");
    case "EndpointSlice":
      return portNames(o.ports, "ports");
    case "Node":
      return first(
        s.podCIDR === undefined ? undefined : cidr(s.podCIDR, "spec.podCIDR"),
        ...list(s.podCIDRs).map((c, i) => cidr(c, `spec.podCIDRs[${i}]`)),
      );
    default:
      return undefined;
  }
}

function pod(s: Record<string, unknown>): Problem {
  const opt = (v: unknown, what: string) => (v === undefined || v === "" ? undefined : dns1123Subdomain(v, what));
  const p = first(
    opt(s.nodeName, "spec.nodeName"),
    opt(s.serviceAccountName, "spec.serviceAccountName"),
    opt(s.serviceAccount, "spec.serviceAccount"),
  );
  if (p) return p;
  for (const [i, c] of list(s.containers).entries()) {
    for (const [j, port] of list((c as { ports?: unknown })?.ports).entries()) {
      const at = `spec.containers[${i}].ports[${j}]`;
      const cp = (port ?? {}) as { name?: unknown; containerPort?: unknown; protocol?: unknown };
      const q = first(
        cp.name === undefined ? undefined : portName(cp.name, at),
        portNumber(cp.containerPort, at),
        protocol(cp.protocol, at),
      );
      if (q) return q;
    }
  }
  return undefined;
}

/** What places a policy: its podSelector and policyTypes. */
function networkPolicyPlacement(s: Record<string, unknown>): Problem {
  return first(
    labelSelector(s.podSelector, "spec.podSelector"),
    ...list(s.policyTypes).map((t, i) =>
      POLICY_TYPES.includes(t as string)
        ? undefined
        : `spec.policyTypes[${i}]: unknown type ${show(t)} (Ingress or Egress)`,
    ),
  );
}

/**
 * A NetworkPolicy's rules (peers' selectors and ipBlocks, ports). A policy
 * whose rules are invalid is still placed, with no rules: what it selects
 * stays isolated rather than opened up.
 */
export function validatePolicyRules(spec: unknown): Problem {
  const s = (spec ?? {}) as Record<string, unknown>;
  for (const dir of ["ingress", "egress"] as const) {
    for (const [i, r] of list(s[dir]).entries()) {
      const rule = (r ?? {}) as { from?: unknown; to?: unknown; ports?: unknown };
      const at = `spec.${dir}[${i}]`;
      for (const [j, peer] of list(dir === "ingress" ? rule.from : rule.to).entries()) {
        const q = policyPeer(peer, `${at}.${dir === "ingress" ? "from" : "to"}[${j}]`);
        if (q) return q;
      }
      for (const [j, port] of list(rule.ports).entries()) {
        const q = policyPort(port, `${at}.ports[${j}]`);
        if (q) return q;
      }
    }
  }
  return undefined;
}

function policyPeer(peer: unknown, at: string): Problem {
  const p = (peer ?? {}) as { podSelector?: unknown; namespaceSelector?: unknown; ipBlock?: unknown };
  const block = p.ipBlock as { cidr?: unknown; except?: unknown } | undefined;
  return first(
    labelSelector(p.podSelector, `${at}.podSelector`),
    labelSelector(p.namespaceSelector, `${at}.namespaceSelector`),
    block ? cidr(block.cidr, `${at}.ipBlock.cidr`) : undefined,
    ...list(block?.except).map((c, k) => cidr(c, `${at}.ipBlock.except[${k}]`)),
  );
}

function policyPort(port: unknown, at: string): Problem {
  const p = (port ?? {}) as { protocol?: unknown; port?: unknown; endPort?: unknown };
  const numeric = typeof p.port === "number";
  return first(
    protocol(p.protocol, at),
    p.port === undefined ? undefined : numeric ? portNumber(p.port, at) : portName(p.port, at),
    p.endPort === undefined
      ? undefined
      : !numeric
        ? `${at}: endPort needs a numeric port`
        : (portNumber(p.endPort, `${at}.endPort`) ??
          ((p.endPort as number) < (p.port as number)
            ? `${at}: endPort ${p.endPort} is below port ${p.port}`
            : undefined)),
  );
}

/**
 * Service and EndpointSlice port names (DNS-1123 labels, or empty): they
 * reach chain comments. Numbers, protocols and target ports are checked per
 * port by services/convert.ts, which drops just the bad port.
 */
function portNames(ports: unknown, what: string): Problem {
  for (const [i, port] of list(ports).entries()) {
    const name = (port as { name?: unknown } | null)?.name;
    const q = name === undefined || name === null || name === "" ? undefined : dns1123Label(name, `${what}[${i}].name`);
    if (q) return q;
  }
  return undefined;
}
