// The Kubernetes datastore: list-watch of every kind the graph consumes, as
// the same stream of resource-update batches the file datastore produces.
//
//   - In-sync barrier (Felix's): nothing is emitted until every kind has
//     completed its first LIST; the first batch is then the whole cluster.
//   - After that, watch events are coalesced (per object, last one wins) into
//     small batches.
//   - On 410 Gone the client's informer relists and diffs against its cache,
//     so only real differences come out: no flapping, no window where policy
//     disappears.
//   - Any other failure (connection reset, API server down) stops the
//     client's informer for good; we restart it ourselves with exponential
//     backoff and jitter. It resumes from its last resourceVersion (or
//     relists on 410), again emitting only the difference. A stop flag guards
//     against restart loops after shutdown.
//   - Calico's CRDs (IPPool, BlockAffinity, FelixConfiguration, HostEndpoint,
//     NetworkSet, GlobalNetworkSet) are optional:
//     a 404 on their LIST means "not installed", which counts as listed and
//     empty for the barrier; they are looked for again every
//     `crdRetryMs` and flow in as additions once installed.

import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Observable } from "rxjs";
import type { KubeObject } from "../../model/k8s.js";
import { type Kind, type ResourceUpdate, resourceKey } from "../../model/resource.js";
import { rawList } from "./raw-list.js";

interface KindSpec {
  readonly kind: Kind;
  /** The collection path, for LIST and WATCH. */
  readonly path: string;
  readonly clusterScoped?: boolean;
  /** A CRD that may not be installed (404): empty until it is. */
  readonly optional?: boolean;
}

/** What is watched. */
export const WATCHED: readonly KindSpec[] = [
  { kind: "Namespace", path: "/api/v1/namespaces", clusterScoped: true },
  { kind: "ServiceAccount", path: "/api/v1/serviceaccounts" },
  { kind: "Pod", path: "/api/v1/pods" },
  { kind: "NetworkPolicy", path: "/apis/networking.k8s.io/v1/networkpolicies" },
  { kind: "Node", path: "/api/v1/nodes", clusterScoped: true },
  { kind: "Service", path: "/api/v1/services" },
  { kind: "EndpointSlice", path: "/apis/discovery.k8s.io/v1/endpointslices" },
  { kind: "IPPool", path: "/apis/crd.projectcalico.org/v1/ippools", clusterScoped: true, optional: true },
  {
    kind: "BlockAffinity",
    path: "/apis/crd.projectcalico.org/v1/blockaffinities",
    clusterScoped: true,
    optional: true,
  },
  {
    kind: "FelixConfiguration",
    path: "/apis/crd.projectcalico.org/v1/felixconfigurations",
    clusterScoped: true,
    optional: true,
  },
  ...calicoPolicyKinds(),
  { kind: "HostEndpoint", path: "/apis/crd.projectcalico.org/v1/hostendpoints", clusterScoped: true, optional: true },
  { kind: "NetworkSet", path: "/apis/crd.projectcalico.org/v1/networksets", optional: true },
  {
    kind: "GlobalNetworkSet",
    path: "/apis/crd.projectcalico.org/v1/globalnetworksets",
    clusterScoped: true,
    optional: true,
  },
  // network-policy-api's CRD: optional too (a cluster without it has no ClusterNetworkPolicies).
  {
    kind: "ClusterNetworkPolicy",
    path: "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies",
    clusterScoped: true,
    optional: true,
  },
];

/** Calico's policy CRDs: optional like the other Calico kinds (a missing CRD is empty, looked for again). */
function calicoPolicyKinds(): KindSpec[] {
  const crd = (kind: Kind, plural: string, clusterScoped: boolean): KindSpec => ({
    kind,
    path: `/apis/crd.projectcalico.org/v1/${plural}`,
    ...(clusterScoped ? { clusterScoped } : {}),
    optional: true,
  });
  return [
    crd("Tier", "tiers", true),
    crd("CalicoNetworkPolicy", "networkpolicies", false),
    crd("GlobalNetworkPolicy", "globalnetworkpolicies", true),
    crd("StagedNetworkPolicy", "stagednetworkpolicies", false),
    crd("StagedGlobalNetworkPolicy", "stagedglobalnetworkpolicies", true),
    crd("StagedKubernetesNetworkPolicy", "stagedkubernetesnetworkpolicies", false),
  ];
}

/** In-cluster config by default; a kubeconfig file when given (flag or KUBECONFIG). */
export function loadKubeConfig(kubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const file = kubeconfig ?? env.KUBECONFIG;
  if (file) kc.loadFromFile(file);
  else kc.loadFromCluster();
  if (!kc.getCurrentCluster())
    throw new Error(`no cluster in ${file ? `kubeconfig ${file}` : "the in-cluster config"}`);
  return kc;
}

export interface KubernetesDatastoreOptions {
  readonly kubeConfig: k8s.KubeConfig;
  readonly log: Logger;
  /** Quiet time that closes a batch of watch events (default 5 ms). */
  readonly batchMs?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** How often to look again for an optional CRD that was not installed (default 30 s). */
  readonly crdRetryMs?: number;
  /** Called on every (re)start, error and resync, for metrics. */
  readonly onEvent?: (e: { kind: Kind; what: "restart" | "error" | "synced" }) => void;
}

/** Our own copy: the informer's cache must not share objects with the graph. */
function plain(obj: k8s.KubernetesObject): KubeObject {
  return structuredClone(obj) as KubeObject;
}

class KindWatcher {
  readonly informer: k8s.Informer<k8s.KubernetesObject> & k8s.ObjectCache<k8s.KubernetesObject>;
  synced = false;
  /** An optional CRD found not installed (404). */
  private absent = false;
  private stopped = false;
  private failed = false;
  private backoff: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: KindSpec,
    kc: k8s.KubeConfig,
    private readonly o: KubernetesDatastoreOptions,
    private readonly onSynced: () => void,
    onChange: (u: ResourceUpdate) => void,
  ) {
    this.backoff = o.minBackoffMs ?? 200;
    this.informer = k8s.makeInformer(kc, spec.path, () => rawList(kc, spec.path));
    // The client's informer can deliver events after stop() (a watch it
    // reopened by itself is not aborted): ignore everything once stopped.
    const emit = (obj: k8s.KubernetesObject, deleted: boolean) => {
      if (this.synced && !this.stopped) onChange(this.toUpdate(obj, deleted));
    };
    this.informer.on("add", (obj) => emit(obj, false));
    this.informer.on("update", (obj) => emit(obj, false));
    this.informer.on("delete", (obj) => emit(obj, true));
    this.informer.on("error", (err: unknown) => {
      if (this.stopped) return;
      this.failed = true;
      const e = err as { message?: string; code?: number | string; statusCode?: number };
      if (this.notInstalled(e)) return;
      this.o.log.warn(
        { kind: spec.kind, err: e?.message ?? String(err), code: e?.code ?? e?.statusCode },
        "watch failed; restarting",
      );
      this.o.onEvent?.({ kind: spec.kind, what: "error" });
      this.scheduleRestart();
    });
  }

  /** Starts (or restarts) the informer; a failure schedules another try. */
  run(): void {
    this.start().catch((e: Error) => {
      if (this.stopped) return;
      this.failed = true;
      if (this.notInstalled(e as { statusCode?: number })) return;
      this.o.log.warn({ kind: this.spec.kind, err: e.message }, "list-watch failed; retrying");
      this.scheduleRestart();
    });
  }

  toUpdate(obj: k8s.KubernetesObject, deleted: boolean): ResourceUpdate {
    return {
      kind: this.spec.kind,
      namespace: this.spec.clusterScoped ? "" : (obj.metadata?.namespace ?? "default"),
      name: obj.metadata?.name ?? "",
      value: deleted ? null : plain(obj),
    };
  }

  private async start(): Promise<void> {
    if (this.stopped) return;
    this.failed = false;
    await this.informer.start();
    // start() resolves even when the LIST failed (the error went to the
    // error callback): only a listed informer with no error is in sync.
    if (this.stopped || this.failed) return;
    this.backoff = this.o.minBackoffMs ?? 200;
    if (this.absent) {
      this.absent = false;
      this.o.log.info({ kind: this.spec.kind }, "CRD installed; watching it");
    }
    if (!this.synced) {
      this.synced = true;
      this.o.onEvent?.({ kind: this.spec.kind, what: "synced" });
      this.onSynced();
    }
  }

  /**
   * An optional CRD answering 404 is not installed: that counts as listed
   * (empty) for the in-sync barrier; look again later, quietly.
   */
  private notInstalled(e: { statusCode?: number; code?: number | string }): boolean {
    if (!this.spec.optional || (e?.statusCode ?? e?.code) !== 404) return false;
    if (!this.absent) this.o.log.info({ kind: this.spec.kind }, "CRD not installed; treating it as empty");
    this.absent = true;
    if (!this.synced) {
      this.synced = true;
      this.o.onEvent?.({ kind: this.spec.kind, what: "synced" });
      this.onSynced();
    }
    this.scheduleRestart(this.o.crdRetryMs ?? 30_000);
    return true;
  }

  private scheduleRestart(fixedDelay?: number): void {
    if (this.timer || this.stopped) return;
    const delay = fixedDelay ?? this.backoff * (0.8 + Math.random() * 0.4);
    this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs ?? 30_000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.absent) this.o.onEvent?.({ kind: this.spec.kind, what: "restart" });
      this.run();
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }
}

export class KubernetesDatastore {
  constructor(private readonly o: KubernetesDatastoreOptions) {}

  updates(): Observable<ResourceUpdate[]> {
    return new Observable<ResourceUpdate[]>((sub) => {
      const pending = new Map<string, ResourceUpdate>();
      let timer: NodeJS.Timeout | undefined;
      let inSync = false;
      const flush = () => {
        timer = undefined;
        if (pending.size === 0) return;
        const batch = [...pending.values()];
        pending.clear();
        sub.next(batch);
      };
      const onChange = (u: ResourceUpdate) => {
        pending.set(resourceKey(u), u);
        if (inSync && !timer) timer = setTimeout(flush, this.o.batchMs ?? 5);
      };
      const watchers: KindWatcher[] = [];
      const onSynced = () => {
        if (inSync || !watchers.every((w) => w.synced)) return;
        inSync = true;
        // The first batch: the complete view, every kind listed.
        const first: ResourceUpdate[] = [];
        for (const w of watchers) for (const obj of w.informer.list()) first.push(w.toUpdate(obj, false));
        pending.clear();
        this.o.log.info({ objects: first.length }, "kubernetes datastore in sync");
        sub.next(first);
      };
      for (const spec of WATCHED) watchers.push(new KindWatcher(spec, this.o.kubeConfig, this.o, onSynced, onChange));
      for (const w of watchers) w.run();
      return () => {
        clearTimeout(timer);
        for (const w of watchers) void w.stop();
      };
    });
  }
}
