// The Kubernetes datastore: a list-watch (list-watch.ts) of every kind the
// graph consumes, as the same stream of resource-update batches the file
// datastore produces.
//
//   - In-sync barrier (Felix's): the first complete batch comes only once
//     every kind has completed its first LIST; it is the whole cluster. With
//     `partial`, it comes in parts as the pages arrive (batch.ts), the last
//     part at the barrier, so the listed objects are never all held at once.
//   - After that, watch events are coalesced (per object, last one wins) into
//     small batches.
//   - A relist (410 Gone) hands on only real differences: no flapping, no
//     window where policy disappears. Any other failure (connection reset,
//     API server down) is retried with exponential backoff and jitter,
//     resuming from the last resourceVersion.
//   - Calico's CRDs (IPPool, BlockAffinity, FelixConfiguration, HostEndpoint,
//     NetworkSet, GlobalNetworkSet, the policy kinds) and the
//     ClusterNetworkPolicy CRD are optional: a 404 on their LIST means "not
//     installed", which counts as listed and empty for the barrier; they are
//     looked for again every `crdRetryMs` and flow in as additions once
//     installed.
//   - Nothing is cached but each object's resourceVersion: the graph converts
//     what it is handed and keeps only its model.

import type { Logger } from "pino";
import { type Kind, type ResourceUpdate, resourceKey } from "../../model/resource.js";
import { Observable } from "../../model/rx.js";
import { configListedPart, partialBatch, type UpdateBatch } from "./batch.js";
import type { KubeAccess } from "./kube-config.js";
import { type KindSpec, ListWatch } from "./list-watch.js";

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

export interface KubernetesDatastoreOptions {
  readonly kubeConfig: KubeAccess;
  readonly log: Logger;
  /** Quiet time that closes a batch of watch events (default 5 ms). */
  readonly batchMs?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** How often to look again for an optional CRD that was not installed (default 30 s). */
  readonly crdRetryMs?: number;
  /** Objects per LIST page (default 500). */
  readonly pageSize?: number;
  /** Listed updates handed on per part before the in-sync point, with `partial` (default 500). */
  readonly partSize?: number;
  /** Called on every (re)start, error and resync, for metrics. */
  readonly onEvent?: (e: { kind: Kind; what: "restart" | "error" | "synced" }) => void;
}

const PART = 500;

export class KubernetesDatastore {
  constructor(private readonly o: KubernetesDatastoreOptions) {}

  /**
   * Batches of updates; with `partial`, the first batch comes in parts (batch.ts). With
   * `configFirst` too, the FelixConfigurations are listed before any other kind and come as the
   * first part, marked `configListed` (Felix too loads its configuration before its syncer starts).
   */
  updates(opts: { readonly partial?: boolean; readonly configFirst?: boolean } = {}): Observable<UpdateBatch> {
    return new Observable<UpdateBatch>((sub) => {
      const pending = new Map<string, ResourceUpdate>();
      let timer: NodeJS.Timeout | undefined;
      let inSync = false;
      let total = 0;
      const flush = () => {
        timer = undefined;
        if (pending.size === 0) return;
        const batch = [...pending.values()];
        pending.clear();
        sub.next(batch);
      };
      const onChange = (u: ResourceUpdate) => {
        pending.set(resourceKey(u), u);
        if (inSync) timer ??= setTimeout(flush, this.o.batchMs ?? 5);
        else if (opts.partial && pending.size >= (this.o.partSize ?? PART)) {
          total += pending.size;
          const part = [...pending.values()];
          pending.clear();
          sub.next(partialBatch(part));
        }
      };
      const watchers: ListWatch[] = [];
      const configFirst = opts.partial === true && opts.configFirst === true;
      let started = !configFirst;
      const onSynced = () => {
        if (!started) {
          // The FelixConfigurations are listed (or their CRD is absent): hand them on, then list the rest.
          if (!watchers.every((w) => w.synced)) return;
          started = true;
          const config = [...pending.values()];
          pending.clear();
          total += config.length;
          sub.next(configListedPart(config));
          if (sub.closed) return; // unsubscribed on seeing it: the teardown stopped `rest` already
          watchers.push(...rest);
          for (const w of rest) w.start();
        }
        if (inSync || !watchers.every((w) => w.synced)) return;
        inSync = true;
        // The first complete batch: the whole cluster (or its last part), every kind listed.
        const first = [...pending.values()];
        pending.clear();
        this.o.log.info({ objects: total + first.length }, "kubernetes datastore in sync");
        sub.next(first);
      };
      const isConfig = (s: KindSpec) => s.kind === "FelixConfiguration";
      const specs = configFirst ? [...WATCHED.filter(isConfig), ...WATCHED.filter((s) => !isConfig(s))] : WATCHED;
      for (const spec of specs) watchers.push(new ListWatch(spec, this.o, onChange, onSynced));
      // With configFirst, only the FelixConfiguration watcher starts now (`watchers` is the barrier's set so far).
      const rest = configFirst ? watchers.splice(1) : [];
      for (const w of watchers) w.start();
      return () => {
        clearTimeout(timer);
        for (const w of new Set([...watchers, ...rest])) w.stop();
      };
    });
  }
}
