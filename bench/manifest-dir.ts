// A synthetic cluster as a directory of manifests, the way an operator would
// lay one out: one file per namespace (the Namespace and its ServiceAccounts),
// the nodes in one file, and each namespace's pods, policies and services
// (each Service with its EndpointSlice) in chunk files of a few dozen objects.
// A change rewrites only the files that hold the objects it touches, so a
// benchmark can time one change from the file write to the kernel.

import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { dump } from "js-yaml";
import type { KubeObject } from "../model/k8s.js";
import { type ResourceUpdate, resourceKey } from "../model/resource.js";

/** Objects per chunk file, by kind. */
const CHUNK: Record<string, number> = { Pod: 25, NetworkPolicy: 25, Service: 10, EndpointSlice: 10 };

export class ManifestDir {
  /** file (relative) → resource key → object, in insertion order. */
  private readonly files = new Map<string, Map<string, KubeObject>>();
  private readonly fileOf = new Map<string, string>();
  /** Objects assigned so far per (namespace, kind): picks the chunk of a new object. */
  private readonly assigned = new Map<string, number>();
  bytes = 0;

  constructor(
    readonly dir: string,
    initial: readonly ResourceUpdate[],
  ) {
    for (const u of initial) if (u.value) this.put(u);
    rmSync(dir, { recursive: true, force: true });
    for (const f of this.files.keys()) this.bytes += this.write(f);
  }

  get fileCount(): number {
    return this.files.size;
  }

  /**
   * Applies updates to the model and returns the files to rewrite with their
   * text, rendered now so a caller can time the write alone.
   */
  prepare(updates: readonly ResourceUpdate[]): { file: string; text: string }[] {
    const touched = new Set<string>();
    for (const u of updates) {
      const key = resourceKey(u);
      if (u.value) touched.add(this.put(u));
      else {
        const f = this.fileOf.get(key);
        if (f) {
          this.files.get(f)!.delete(key);
          this.fileOf.delete(key);
          touched.add(f);
        }
      }
    }
    return [...touched].map((file) => ({ file, text: this.render(file) }));
  }

  /**
   * Writes prepared files atomically (temp file + rename, as tools that write
   * manifests should), or in place with `inPlace` (the datastore before issue
   * 15 lost a file's events once it had been replaced by a rename).
   */
  commit(files: readonly { file: string; text: string }[], inPlace = false): void {
    for (const { file, text } of files) {
      const path = join(this.dir, file);
      if (inPlace) {
        writeFileSync(path, text);
        continue;
      }
      const tmp = join(dirname(path), `.${process.pid}.tmp`);
      writeFileSync(tmp, text);
      renameSync(tmp, path);
    }
  }

  private put(u: ResourceUpdate): string {
    const key = resourceKey(u);
    let f = this.fileOf.get(key);
    if (!f) {
      f = this.fileFor(u);
      this.fileOf.set(key, f);
      if (!this.files.has(f)) this.files.set(f, new Map());
    }
    this.files.get(f)!.set(key, u.value!);
    return f;
  }

  private fileFor(u: ResourceUpdate): string {
    switch (u.kind) {
      case "Namespace":
        return `namespaces/${u.name}.yaml`;
      case "ServiceAccount":
        return `namespaces/${u.namespace}.yaml`;
      case "Pod":
      case "NetworkPolicy": {
        const k = `${u.namespace}/${u.kind}`;
        const n = this.assigned.get(k) ?? 0;
        this.assigned.set(k, n + 1);
        const what = u.kind === "Pod" ? "pods" : "policies";
        return `${u.namespace}/${what}-${Math.floor(n / CHUNK[u.kind])}.yaml`;
      }
      case "Service":
      case "EndpointSlice": {
        // A Service and its slice (named after it) share a file.
        const svc =
          u.kind === "Service" ? u.name : (u.value?.metadata?.labels?.["kubernetes.io/service-name"] ?? u.name);
        const sk = resourceKey({ kind: "Service", namespace: u.namespace, name: svc });
        const known = this.fileOf.get(sk);
        if (known) return known;
        const k = `${u.namespace}/Service`;
        const n = this.assigned.get(k) ?? 0;
        this.assigned.set(k, n + 1);
        const f = `${u.namespace}/services-${Math.floor(n / CHUNK.Service)}.yaml`;
        this.fileOf.set(sk, f);
        return f;
      }
      default:
        return `cluster/${u.kind.toLowerCase()}s.yaml`;
    }
  }

  private render(file: string): string {
    const objs = [...(this.files.get(file)?.values() ?? [])];
    return objs.map((o) => dump(o, { noRefs: true, lineWidth: -1 })).join("---\n");
  }

  private write(file: string): number {
    const path = join(this.dir, file);
    mkdirSync(dirname(path), { recursive: true });
    const text = this.render(file);
    writeFileSync(path, text);
    return Buffer.byteLength(text);
  }
}
