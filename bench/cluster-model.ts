// The synthetic cluster's model: the objects of a deterministic cluster built from
// (spec, seed), in the same order every time, and the bookkeeping that later
// changes are drawn from and committed to (pools of pods, policies and slices,
// used pod addresses per node). The changes themselves are in bench/scale.ts.
//
// Shape of the cluster (see PRESETS in scale-spec.ts for the sizes):
//   - N nodes `node-<i>`: podCIDR 10.64.0.0/10 carved into /24s (node i gets
//     the i-th), InternalIP 172.16.0.<10+i>… (172.16.0.0/12); `node-0` is the
//     node under test and holds L of the pods.
//   - Q namespaces `ns-<i>` labelled env (prod/staging/dev) and team.
//   - S service accounts spread over the namespaces (pods use one of their
//     namespace's, or `default`).
//   - P pods: 2 coredns pods in kube-system, L on node-0, the rest spread
//     evenly over the other nodes. Labels app/tier/version (an app always has
//     the same tier; app names repeat across namespaces, as `nginx` does in a
//     real cluster), named container ports by tier, status.podIP, Running.
//   - K NetworkPolicies: one default-deny per namespace, then a rotating mix
//     of eight templates (app-to-app by podSelector, named port,
//     namespaceSelector+podSelector, ipBlock with except, egress to a db by
//     named port + DNS to kube-system, egress ipBlock with except,
//     matchExpressions, metrics from any namespace).
//   - V Services with E endpoints each: a Service (selector on app, or on tier
//     when the app has fewer than E pods) and one discovery.k8s.io/v1
//     EndpointSlice listing up to E pods it selects.

import type { Namespace, NetworkPolicy, Node, Pod, ServiceAccount } from "../model/k8s.js";
import type { ResourceUpdate } from "../model/resource.js";
import { defaultDeny, policyFromTemplate } from "./policy-templates.js";
import { Pool } from "./pool.js";
import { Rng } from "./rng.js";
import { nodeInternalIp, nodeName, nodePodCidr, PODS_PER_NODE, podIp, slotOfPodIp } from "./scale-addresses.js";
import { LOCAL_NODE, type ScaleSpec } from "./scale-spec.js";
import {
  ENVS,
  type EndpointSlice,
  podKey,
  TEAMS,
  TEMPLATES,
  TIER_PORTS,
  TIERS,
  update,
  VERSIONS,
} from "./scale-vocabulary.js";
import { makeService } from "./service-objects.js";
import { estimatePolicies, matchesLabelSelector, type SetEstimate } from "./set-estimate.js";

interface NsInfo {
  readonly name: string;
  readonly index: number;
  readonly serviceAccounts: string[];
  readonly localPods: Pool;
  readonly pods: Pool;
}

export class ClusterModel {
  /** The initial state as one list, in the Kubernetes datastore's kind order. */
  readonly updates: ResourceUpdate[];
  /** Apps per namespace (`app-0` … `app-<A-1>`). */
  readonly apps: number;

  private readonly gen: Rng;
  protected readonly rng: Rng;
  private counter = 0;

  protected readonly namespaces = new Map<string, Namespace>();
  protected readonly nsInfo = new Map<string, NsInfo>();
  protected readonly nsNames: string[] = [];
  protected readonly pods = new Map<string, Pod>();
  private readonly podSlot = new Map<string, { node: number; slot: number }>();
  protected readonly remotePods = new Pool();
  protected readonly localPods = new Pool();
  /** Per node: used address slots, and a cursor to find a free one. */
  protected readonly usedSlots: Set<number>[] = [];
  private readonly slotCursor: number[] = [];
  protected readonly policies = new Map<string, NetworkPolicy>();
  protected readonly policyPool = new Pool();
  protected readonly slices = new Map<string, EndpointSlice>();
  protected readonly slicePool = new Pool();
  /** Bumped by every change that can change which policies are active or which sets they need. */
  private modelVersion = 0;
  private analysis: { version: number; active: string[]; sets: SetEstimate[] } | undefined;

  constructor(
    readonly spec: ScaleSpec,
    readonly seed: number,
  ) {
    if (spec.nodes < 2) throw new Error("need at least 2 nodes");
    if (spec.localPods > PODS_PER_NODE) throw new Error(`at most ${PODS_PER_NODE} local pods`);
    const remote = spec.pods - spec.localPods - 2;
    if (remote < 0) throw new Error("more local pods than pods");
    if (remote / (spec.nodes - 1) > PODS_PER_NODE * 0.8) {
      throw new Error(`too many pods per node: ${Math.ceil(remote / (spec.nodes - 1))} (max ${PODS_PER_NODE * 0.8})`);
    }
    this.gen = new Rng(seed);
    this.rng = new Rng(seed ^ 0x5bd1e995);
    this.apps = Math.max(2, Math.min(16, Math.round(spec.pods / spec.namespaces / 8)));
    for (let i = 0; i < spec.nodes; i++) {
      this.usedSlots.push(new Set());
      this.slotCursor.push(0);
    }
    this.updates = this.generate();
  }

  // ── initial state ──

  private generate(): ResourceUpdate[] {
    const { spec, gen } = this;
    const nsUpdates: ResourceUpdate[] = [];
    const saUpdates: ResourceUpdate[] = [];
    const podUpdates: ResourceUpdate[] = [];
    const polUpdates: ResourceUpdate[] = [];
    const nodeUpdates: ResourceUpdate[] = [];
    const svcUpdates: ResourceUpdate[] = [];
    const sliceUpdates: ResourceUpdate[] = [];

    for (let i = 0; i < spec.namespaces; i++) {
      const name = `ns-${i}`;
      const ns: Namespace = {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name, labels: { env: ENVS[gen.int(ENVS.length)], team: `team-${gen.int(TEAMS)}` } },
      };
      this.namespaces.set(name, ns);
      this.nsNames.push(name);
      this.nsInfo.set(name, { name, index: i, serviceAccounts: [], localPods: new Pool(), pods: new Pool() });
      nsUpdates.push(update("Namespace", "", name, ns));
    }
    this.nsInfo.set("kube-system", {
      name: "kube-system",
      index: -1,
      serviceAccounts: ["coredns"],
      localPods: new Pool(),
      pods: new Pool(),
    });

    const sa = (ns: string, name: string): ResourceUpdate => {
      const obj: ServiceAccount = { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: ns } };
      return update("ServiceAccount", ns, name, obj);
    };
    saUpdates.push(sa("kube-system", "coredns"));
    for (let j = 0; j < spec.serviceAccounts; j++) {
      const ns = this.nsNames[j % spec.namespaces];
      const name = `sa-${j}`;
      this.nsInfo.get(ns)!.serviceAccounts.push(name);
      saUpdates.push(sa(ns, name));
    }

    for (let i = 0; i < spec.nodes; i++) {
      const node: Node = {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: nodeName(i) },
        spec: { podCIDR: nodePodCidr(i) },
        status: { addresses: [{ type: "InternalIP", address: nodeInternalIp(i) }] },
      };
      nodeUpdates.push(update("Node", "", nodeName(i), node));
    }

    // Pods: coredns, then the local ones, then the remote ones.
    for (let k = 0; k < 2; k++) {
      const pod = this.makePod("kube-system", `coredns-${k}`, 1 + (k % (spec.nodes - 1)), {
        labels: { "k8s-app": "kube-dns" },
        sa: "coredns",
        ports: [
          { name: "dns", containerPort: 53, protocol: "UDP" },
          { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
        ],
      });
      podUpdates.push(this.commitPod(pod));
    }
    for (let k = 0; k < spec.localPods; k++)
      podUpdates.push(this.commitPod(this.newAppPod(0, this.nsNames[gen.int(spec.namespaces)], gen)));
    const remote = spec.pods - spec.localPods - 2;
    for (let k = 0; k < remote; k++) {
      const node = 1 + (k % (spec.nodes - 1));
      podUpdates.push(this.commitPod(this.newAppPod(node, this.nsNames[gen.int(spec.namespaces)], gen)));
    }

    // Policies: per namespace, one default-deny then a rotation of templates.
    for (let i = 0; i < spec.namespaces; i++) {
      const ns = this.nsNames[i];
      const count = Math.floor(spec.policies / spec.namespaces) + (i < spec.policies % spec.namespaces ? 1 : 0);
      for (let j = 0; j < count; j++) {
        const np =
          j === 0
            ? defaultDeny(ns, i % 3 === 0)
            : policyFromTemplate((j - 1 + i) % TEMPLATES, ns, `np-${j}`, gen, this);
        this.policies.set(podKey(ns, np.metadata!.name!), np);
        this.policyPool.add(podKey(ns, np.metadata!.name!));
        polUpdates.push(update("NetworkPolicy", ns, np.metadata!.name!, np));
      }
    }

    // Services and their EndpointSlices, over the pods of each namespace by app and tier.
    const byLabel = new Map<string, Pod[]>();
    for (const pod of this.pods.values()) {
      const l = pod.metadata!.labels!;
      for (const k of ["app", "tier"]) {
        const key = `${pod.metadata!.namespace}/${k}=${l[k]}`;
        const list = byLabel.get(key);
        if (list) list.push(pod);
        else byLabel.set(key, [pod]);
      }
    }
    for (let v = 0; v < spec.services; v++) {
      const ns = this.nsNames[v % spec.namespaces];
      const { svc, slice } = makeService(
        this,
        ns,
        `svc-${v}`,
        v,
        gen,
        (k, val) => byLabel.get(`${ns}/${k}=${val}`) ?? [],
      );
      svcUpdates.push(update("Service", ns, svc.metadata!.name!, svc));
      this.slices.set(podKey(ns, slice.metadata!.name!), slice);
      this.slicePool.add(podKey(ns, slice.metadata!.name!));
      sliceUpdates.push(update("EndpointSlice", ns, slice.metadata!.name!, slice));
    }

    return [...nsUpdates, ...saUpdates, ...podUpdates, ...polUpdates, ...nodeUpdates, ...svcUpdates, ...sliceUpdates];
  }

  protected nextName(prefix: string): string {
    return `${prefix}-${(this.counter++).toString(36)}`;
  }

  private freeSlot(node: number): number {
    const used = this.usedSlots[node];
    if (used.size >= PODS_PER_NODE) throw new Error(`${nodeName(node)} has no free pod address`);
    let s = this.slotCursor[node];
    while (used.has(s)) s = (s + 1) % PODS_PER_NODE;
    return s;
  }

  private makePod(
    ns: string,
    name: string,
    node: number,
    o: {
      labels: Record<string, string>;
      sa: string;
      ports: { name: string; containerPort: number; protocol: string }[];
    },
  ): Pod {
    const ip = podIp(node, this.freeSlot(node));
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: ns, labels: o.labels },
      spec: {
        nodeName: nodeName(node),
        serviceAccountName: o.sa,
        containers: [{ name: "main", ports: o.ports }],
      },
      status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
    };
  }

  protected appLabels(app: number, version: string): Record<string, string> {
    return { app: `app-${app}`, tier: TIERS[app % TIERS.length], version };
  }

  protected newAppPod(node: number, ns: string, rng: Rng): Pod {
    const app = rng.int(this.apps);
    const info = this.nsInfo.get(ns)!;
    const sa = info.serviceAccounts.length && rng.chance(0.8) ? rng.pick(info.serviceAccounts) : "default";
    return this.makePod(ns, this.nextName(`app-${app}`), node, {
      labels: this.appLabels(app, VERSIONS[rng.int(VERSIONS.length)]),
      sa,
      ports: TIER_PORTS[TIERS[app % TIERS.length]],
    });
  }

  /** Records a pod in the model; returns its update. */
  private commitPod(pod: Pod): ResourceUpdate {
    const ns = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const key = podKey(ns, name);
    const node = Number(pod.spec!.nodeName!.slice("node-".length));
    const slot = slotOfPodIp(node, pod.status!.podIP!);
    const old = this.podSlot.get(key);
    if (old) this.usedSlots[old.node].delete(old.slot);
    this.usedSlots[node].add(slot);
    this.slotCursor[node] = (slot + 1) % PODS_PER_NODE;
    this.podSlot.set(key, { node, slot });
    this.pods.set(key, pod);
    const info = this.nsInfo.get(ns)!;
    info.pods.add(key);
    if (node === 0) {
      this.localPods.add(key);
      info.localPods.add(key);
    } else if (ns !== "kube-system") {
      this.remotePods.add(key);
    }
    return update("Pod", ns, name, pod);
  }

  private forgetPod(key: string): void {
    const slot = this.podSlot.get(key);
    if (slot) this.usedSlots[slot.node].delete(slot.slot);
    this.podSlot.delete(key);
    this.pods.delete(key);
    this.remotePods.delete(key);
    this.localPods.delete(key);
    const info = this.nsInfo.get(key.split("/")[0]);
    info?.pods.delete(key);
    info?.localPods.delete(key);
  }

  /** Records an update in the model (pods, namespaces, policies, slices). */
  commit(u: ResourceUpdate): void {
    const key = podKey(u.namespace, u.name);
    const local =
      u.kind === "Pod" && (this.localPods.has(key) || (u.value as Pod | null)?.spec?.nodeName === LOCAL_NODE);
    if (local || u.kind === "Namespace" || u.kind === "NetworkPolicy") this.modelVersion++;
    switch (u.kind) {
      case "Pod":
        if (u.value) this.commitPod(u.value as Pod);
        else this.forgetPod(key);
        break;
      case "Namespace":
        if (u.value) this.namespaces.set(u.name, u.value as Namespace);
        break;
      case "NetworkPolicy":
        if (u.value) {
          this.policies.set(key, u.value as NetworkPolicy);
          this.policyPool.add(key);
        } else {
          this.policies.delete(key);
          this.policyPool.delete(key);
        }
        break;
      case "EndpointSlice":
        if (u.value) this.slices.set(key, u.value as EndpointSlice);
        break;
      default:
        break;
    }
  }

  // ── the generator's own estimate of active policies and the sets they need (set-estimate.ts) ──

  private nsLabelCache = { version: -1, labels: new Map<string, Record<string, string>>() };

  private nsLabels(ns: string): Record<string, string> {
    const cache = this.nsLabelCache;
    if (cache.version !== this.modelVersion) {
      cache.version = this.modelVersion;
      cache.labels.clear();
    }
    let labels = cache.labels.get(ns);
    if (!labels) {
      labels = { ...this.namespaces.get(ns)?.metadata?.labels, "kubernetes.io/metadata.name": ns };
      cache.labels.set(ns, labels);
    }
    return labels;
  }

  /** The generator's estimate (set-estimate.ts), recomputed when the model has changed. */
  protected analyze(): { active: string[]; sets: SetEstimate[] } {
    if (this.analysis?.version === this.modelVersion) return this.analysis;
    const estimate = estimatePolicies(
      this.policies,
      (ns, podSelector) => {
        const local = this.nsInfo.get(ns)?.localPods.values() ?? [];
        return local.some((k) => matchesLabelSelector(podSelector, this.pods.get(k)!.metadata?.labels ?? {}));
      },
      (ns) => this.nsLabels(ns),
    );
    this.analysis = { version: this.modelVersion, ...estimate };
    return this.analysis;
  }

  /** The current state of the model as one list (as a relist would give it). */
  currentUpdates(): ResourceUpdate[] {
    const out: ResourceUpdate[] = [];
    for (const [name, ns] of this.namespaces) out.push(update("Namespace", "", name, ns));
    for (const u of this.updates) if (u.kind === "ServiceAccount") out.push(u);
    for (const p of this.pods.values()) out.push(update("Pod", p.metadata!.namespace!, p.metadata!.name!, p));
    for (const [key, np] of this.policies) out.push(update("NetworkPolicy", key.split("/")[0], np.metadata!.name!, np));
    for (const u of this.updates) if (u.kind === "Node" || u.kind === "Service") out.push(u);
    for (const [key, sl] of this.slices) out.push(update("EndpointSlice", key.split("/")[0], sl.metadata!.name!, sl));
    return out;
  }

  /** Counts of what the model holds now. */
  counts(): Record<string, number> {
    return {
      nodes: this.spec.nodes,
      namespaces: this.nsNames.length,
      pods: this.pods.size,
      localPods: this.localPods.size,
      policies: this.policies.size,
      endpointSlices: this.slices.size,
      endpoints: [...this.slices.values()].reduce((s, x) => s + x.endpoints.length, 0),
    };
  }
}
