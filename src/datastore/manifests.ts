// Manifest files → resource updates. Every *.yaml, *.yml and *.json file under
// a directory is read (multi-document YAML and `kind: List` included). A file
// that fails to parse is reported with its path and line and contributes
// nothing; the other files are unaffected.

import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import type { KubeObject } from "../../model/k8s.js";
import { CLUSTER_SCOPED_KINDS, isKind, type Kind, type ResourceUpdate, resourceKey } from "../../model/resource.js";
import { parseDocuments } from "./yaml-documents.js";

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/**
 * The apiVersions each kind is implemented for. Another group's kind of the
 * same name (`projectcalico.org/v3` NetworkPolicy, a future `v2` Service)
 * has other semantics and is never read as ours. A manifest without
 * apiVersion is taken as the kind's only version (generated fixtures omit it).
 */
const CALICO = ["projectcalico.org/v3", "crd.projectcalico.org/v1"];

const API_VERSIONS: Readonly<Record<Kind, readonly string[]>> = {
  Namespace: ["v1"],
  Pod: ["v1"],
  ServiceAccount: ["v1"],
  Node: ["v1"],
  Service: ["v1"],
  NetworkPolicy: ["networking.k8s.io/v1"],
  EndpointSlice: ["discovery.k8s.io/v1"],
  IPPool: ["projectcalico.org/v3", "crd.projectcalico.org/v1"],
  BlockAffinity: ["projectcalico.org/v3", "crd.projectcalico.org/v1"],
  FelixConfiguration: ["projectcalico.org/v3", "crd.projectcalico.org/v1"],
  Tier: CALICO,
  CalicoNetworkPolicy: CALICO,
  GlobalNetworkPolicy: CALICO,
  StagedNetworkPolicy: CALICO,
  StagedGlobalNetworkPolicy: CALICO,
  StagedKubernetesNetworkPolicy: CALICO,
  ClusterNetworkPolicy: ["policy.networking.k8s.io/v1alpha2"],
  HostEndpoint: CALICO,
  NetworkSet: CALICO,
  GlobalNetworkSet: CALICO,
};

/** Kinds the graph names differently from their manifests: Calico's NetworkPolicy (by apiVersion). */
function internalKind(kind: string, apiVersion: unknown): string | undefined {
  if (kind === "CalicoNetworkPolicy") return undefined; // our own name, never a manifest's kind
  if (kind === "NetworkPolicy" && CALICO.includes(String(apiVersion))) return "CalicoNetworkPolicy";
  return kind;
}

export interface ManifestProblem {
  readonly file: string;
  readonly line?: number;
  readonly message: string;
}

export interface ParsedManifests {
  readonly updates: ResourceUpdate[];
  readonly problems: ManifestProblem[];
  /** Kinds seen and ignored (not consumed by the graph), with their files. */
  readonly ignored: { file: string; line?: number; kind: string }[];
}

/** Parses one manifest file's text. Pure: the file name is only used in reports. */
export function parseManifestText(text: string, file: string): ParsedManifests {
  const out: ParsedManifests = { updates: [], problems: [], ignored: [] };
  const parsed = parseDocuments(text, file);
  // One broken document makes the whole file unreliable: use none of it.
  if (!parsed.ok) return { updates: [], problems: [{ file, line: parsed.line, message: parsed.message }], ignored: [] };
  for (const { value, line } of parsed.docs) {
    if (value === null || value === undefined) continue;
    collect(value, file, line, out);
  }
  return out;
}

function collect(value: unknown, file: string, line: number | undefined, out: ParsedManifests): void {
  if (typeof value !== "object" || Array.isArray(value) || value === null) {
    out.problems.push({ file, line, message: "manifest is not an object" });
    return;
  }
  const obj = value as KubeObject & { items?: unknown };
  if (typeof obj.kind === "string" && obj.kind.endsWith("List") && Array.isArray(obj.items)) {
    for (const item of obj.items) collect(item, file, line, out);
    return;
  }
  if (typeof obj.kind !== "string" || obj.kind === "") {
    out.problems.push({ file, line, message: "manifest has no kind" });
    return;
  }
  const kind = internalKind(obj.kind, obj.apiVersion);
  if (!isKind(kind)) {
    out.ignored.push({ file, line, kind: obj.kind });
    return;
  }
  if (obj.apiVersion !== undefined && !API_VERSIONS[kind].includes(String(obj.apiVersion))) {
    out.problems.push({
      file,
      line,
      message: `${obj.kind} of apiVersion ${JSON.stringify(obj.apiVersion)} is not implemented (only ${API_VERSIONS[kind].join(", ")}): skipped`,
    });
    return;
  }
  const name = obj.metadata?.name;
  if (typeof name !== "string" || name === "") {
    out.problems.push({ file, line, message: `${obj.kind} has no metadata.name` });
    return;
  }
  const namespace = CLUSTER_SCOPED_KINDS.has(kind) ? "" : String(obj.metadata?.namespace || "default");
  // Normalise the namespace into the object so conversion sees what we keyed.
  const value2 = CLUSTER_SCOPED_KINDS.has(kind) ? obj : { ...obj, metadata: { ...obj.metadata, namespace } };
  out.updates.push({ kind, namespace, name, value: value2, source: { file, line } });
}

/** Every manifest file under `dir`, recursively, sorted for determinism. */
export async function listManifestFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && MANIFEST_FILE.test(e.name) && !e.name.startsWith("."))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
}

/**
 * Reads a directory of manifests. A later definition of the same object
 * (same kind, namespace and name) replaces an earlier one and is reported.
 * Throws only when the directory itself cannot be read.
 */
export async function readManifestDir(dir: string): Promise<ParsedManifests> {
  const files = await listManifestFiles(dir);
  const all: ParsedManifests = { updates: [], problems: [], ignored: [] };
  const seen = new Map<string, ResourceUpdate>();
  for (const path of files) {
    const file = relative(process.cwd(), path) || path;
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      all.problems.push({ file, message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    const parsed = parseManifestText(text, file);
    all.problems.push(...parsed.problems);
    all.ignored.push(...parsed.ignored);
    for (const u of parsed.updates) {
      const key = resourceKey(u);
      const prev = seen.get(key);
      if (prev) {
        all.problems.push({
          file,
          line: u.source?.line,
          message: `${key} is also defined in ${prev.source?.file}:${prev.source?.line}; this definition wins`,
        });
      }
      seen.set(key, u);
    }
  }
  all.updates.push(...seen.values());
  return all;
}
