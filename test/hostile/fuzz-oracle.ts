// What the fuzz test checks a rendered dataplane against, computed from the
// input objects alone (not from the graph's indexes): which addresses a
// selector may put into an IP set, and the structural rules every restore
// text must keep.

import { parseIp } from "../../calc-graph/conversion/cidr.js";
import { BUILTIN_NAMESPACES } from "../../calc-graph/converter.js";
import type { IpSetSpec } from "../../calc-graph/ipsets/ids.js";
import { matches } from "../../calc-graph/selector/selector.js";

// biome-ignore lint/suspicious/noExplicitAny: hostile input has any shape
type Doc = Record<string, any>;

const str = (v: unknown) => String(v);
const labelsOf = (d: Doc): Record<string, string> => {
  const l = d?.metadata?.labels;
  if (!l || typeof l !== "object") return {};
  return Object.fromEntries(Object.entries(l).map(([k, v]) => [k, str(v)]));
};
const prefixed = (p: string, l: Record<string, string>) =>
  Object.fromEntries(Object.entries(l).map(([k, v]) => [p + k, v]));

/**
 * Every label set a pod may carry, for each version of its namespace and
 * service account in the input (or none: an unknown or invalid one). Labels a
 * pod claims under the profile prefixes (`pcns.`, `pcsa.`) never count: only
 * the namespace and service account may supply them.
 */
function podLabelSets(pod: Doc, docs: readonly Doc[]): Map<string, string>[] {
  const ns = pod.metadata?.namespace || "default";
  const sa = pod.spec?.serviceAccountName || pod.spec?.serviceAccount || "default";
  const nsProfile = (l: Record<string, string>) => ({
    ...prefixed("pcns.", { ...l, "kubernetes.io/metadata.name": ns }),
    "pcns.projectcalico.org/name": ns,
  });
  const saProfile = (l: Record<string, string>) => ({ ...prefixed("pcsa.", l), "pcsa.projectcalico.org/name": sa });
  // Kubernetes' built-in namespaces and every namespace's `default` account exist unlisted.
  const nsVersions: Record<string, string>[] = [{}, ...(BUILTIN_NAMESPACES.includes(ns) ? [nsProfile({})] : [])];
  const saVersions: Record<string, string>[] = [{}, ...(sa === "default" ? [saProfile({})] : [])];
  for (const d of docs) {
    if (d.kind === "Namespace" && d.metadata?.name === ns) nsVersions.push(nsProfile(labelsOf(d)));
    if (d.kind === "ServiceAccount" && (d.metadata?.namespace || "default") === ns && d.metadata?.name === sa) {
      saVersions.push(saProfile(labelsOf(d)));
    }
  }
  const own = Object.fromEntries(Object.entries(labelsOf(pod)).filter(([k]) => !/^pc(ns|sa)\./.test(k)));
  const out: Map<string, string>[] = [];
  for (const n of nsVersions) {
    for (const s of saVersions) {
      const l = new Map(Object.entries({ ...n, ...s, ...own }));
      l.set("projectcalico.org/namespace", ns);
      l.set("projectcalico.org/orchestrator", "k8s");
      if (sa.length < 63) l.set("projectcalico.org/serviceaccount", sa);
      out.push(l);
    }
  }
  return out;
}

function podIps(pod: Doc, v: 4 | 6): string[] {
  const raw = new Set<unknown>([...(pod.status?.podIPs ?? []).map((p: Doc) => p?.ip), pod.status?.podIP]);
  const out: string[] = [];
  for (const r of raw) {
    if (!r) continue;
    try {
      const ip = parseIp(str(r));
      if (ip.version === v) out.push(ip.text);
    } catch {
      // not an address: the graph drops the pod
    }
  }
  return out;
}

/** The members an IP set of this spec may hold in family `v`: a superset of the truth, never more. */
export function allowedMembers(spec: IpSetSpec, v: 4 | 6, docs: readonly Doc[]): Set<string> {
  const out = new Set<string>();
  for (const pod of docs.filter((d) => d.kind === "Pod")) {
    if (!podLabelSets(pod, docs).some((l) => matches(spec.selector, l))) continue;
    for (const ip of podIps(pod, v)) {
      if (spec.kind === "selector") {
        out.add(ip);
        continue;
      }
      for (const c of pod.spec?.containers ?? []) {
        for (const p of c?.ports ?? []) {
          const proto = p?.protocol == null ? "tcp" : str(p.protocol).toLowerCase();
          if (p?.name === spec.port && proto === spec.protocol) out.add(`${ip},${proto}:${Number(p.containerPort)}`);
        }
      }
    }
  }
  return out;
}

/** Problems with the structure of an iptables-restore text: stray lines, undeclared chains, unknown sets. */
export function restoreTextProblems(text: string, sets: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const declared = new Map<string, Set<string>>();
  let table = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) {
      table = line.slice(1);
      declared.set(table, new Set());
    } else if (line.startsWith(":")) declared.get(table)?.add(line.slice(1).split(" ")[0]);
  }
  table = "";
  for (const line of text.split("\n")) {
    if (line === "" || line === "COMMIT" || line.startsWith(":")) continue;
    if (line.startsWith("*")) {
      table = line.slice(1);
      continue;
    }
    if (!line.startsWith("-A ") && !line.startsWith("-I ")) {
      problems.push(`stray line ${JSON.stringify(line)}`);
      continue;
    }
    const chains = declared.get(table) ?? new Set();
    const known = (c: string) => chains.has(c) || /^[A-Z]+$/.test(c);
    const chain = line.split(" ")[1];
    if (!known(chain)) problems.push(`rule in undeclared chain ${chain} (${table})`);
    for (const m of line.matchAll(/ -[jg] (\S+)/g))
      if (!known(m[1])) problems.push(`jump to missing chain ${m[1]} (${table})`);
    for (const m of line.matchAll(/--match-set (\S+)/g))
      if (!sets.has(m[1])) problems.push(`match on missing set ${m[1]}`);
  }
  return problems;
}
