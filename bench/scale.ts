// A deterministic synthetic cluster for benchmarks: the same (spec, seed)
// always yields the same objects, in the same order, and the same sequence of
// changes. Everything comes from one small seeded PRNG (mulberry32); no clocks,
// no Math.random.
//
// Shape of the cluster (see PRESETS for the sizes):
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
//
// `SyntheticCluster` also produces single changes of each kind, as
// `{forward, revert}` pairs computed from the current model without changing
// it (so a benchmark can time `forward`, apply `revert` and stay at the same
// baseline), and random changes that are committed to the model (a random walk
// for throughput and memory runs).

import type {
  KubeObject,
  LabelSelector,
  Namespace,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Node,
  Pod,
  ServiceAccount,
} from "../model/k8s.js";
import type { Kind, ResourceUpdate } from "../model/resource.js";

export type PresetName = "small" | "medium" | "large" | "xl";

export interface ScaleSpec {
  readonly nodes: number;
  readonly pods: number;
  /** Pods on `node-0`, the node under test. */
  readonly localPods: number;
  readonly namespaces: number;
  readonly serviceAccounts: number;
  readonly policies: number;
  readonly services: number;
  readonly endpointsPerService: number;
}

export const PRESETS: Readonly<Record<PresetName, ScaleSpec>> = {
  small: {
    nodes: 5,
    pods: 100,
    localPods: 20,
    namespaces: 5,
    serviceAccounts: 10,
    policies: 20,
    services: 10,
    endpointsPerService: 3,
  },
  medium: {
    nodes: 20,
    pods: 2_000,
    localPods: 100,
    namespaces: 20,
    serviceAccounts: 60,
    policies: 400,
    services: 1_000,
    endpointsPerService: 10,
  },
  large: {
    nodes: 100,
    pods: 10_000,
    localPods: 200,
    namespaces: 100,
    serviceAccounts: 300,
    policies: 2_000,
    services: 5_000,
    endpointsPerService: 10,
  },
  xl: {
    nodes: 500,
    pods: 50_000,
    localPods: 250,
    namespaces: 500,
    serviceAccounts: 1_500,
    policies: 10_000,
    services: 20_000,
    endpointsPerService: 10,
  },
};

export function isPresetName(s: string): s is PresetName {
  return Object.hasOwn(PRESETS, s);
}

export const LOCAL_NODE = "node-0";

// ─── PRNG ────────────────────────────────────────────────────────────────────

/** mulberry32: a tiny 32-bit PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from an empty list");
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** Picks a key by weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return entries[entries.length - 1][0];
  }
}

// ─── vocabulary ──────────────────────────────────────────────────────────────

const ENVS = ["prod", "staging", "dev"] as const;
const TIERS = ["web", "api", "db", "cache"] as const;
const VERSIONS = ["v1", "v2", "v3"] as const;
const TEAMS = 8;
/** Policy templates rotated per namespace (see `policyFromTemplate`). */
const TEMPLATES = 8;

type Tier = (typeof TIERS)[number];

const TIER_PORTS: Readonly<Record<Tier, { name: string; containerPort: number; protocol: string }[]>> = {
  web: [
    { name: "http", containerPort: 8080, protocol: "TCP" },
    { name: "metrics", containerPort: 9090, protocol: "TCP" },
  ],
  api: [
    { name: "http", containerPort: 8080, protocol: "TCP" },
    { name: "grpc", containerPort: 9000, protocol: "TCP" },
    { name: "metrics", containerPort: 9090, protocol: "TCP" },
  ],
  db: [
    { name: "postgres", containerPort: 5432, protocol: "TCP" },
    { name: "metrics", containerPort: 9187, protocol: "TCP" },
  ],
  cache: [{ name: "redis", containerPort: 6379, protocol: "TCP" }],
};

export interface EndpointSlice extends KubeObject {
  addressType: string;
  endpoints: {
    addresses: string[];
    conditions: { ready: boolean; serving: boolean; terminating: boolean };
    nodeName?: string;
    targetRef?: { kind: string; namespace: string; name: string };
  }[];
  ports: { name: string; port: number; protocol: string }[];
}

export interface Service extends KubeObject {
  spec: {
    type: string;
    clusterIP: string;
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string; protocol: string }[];
  };
}

/** The kinds of single change a benchmark times. */
export const CHANGE_KINDS = [
  "remote-pod-added",
  "remote-pod-removed",
  "pod-labels",
  "local-pod-labels",
  "namespace-labels",
  "policy-added",
  "policy-changed",
  "service-endpoint-added",
] as const;

export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface Change {
  readonly kind: ChangeKind;
  /** What a datastore would emit for the change. */
  readonly forward: ResourceUpdate[];
  /** Updates that restore the state before `forward`. */
  readonly revert: ResourceUpdate[];
}

// ─── helpers ─────────────────────────────────────────────────────────────────

const ipNumber = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
const ipText = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const POD_NET = (10 << 24) | (64 << 16); // 10.64.0.0/10, a /24 per node
const NODE_NET = ((172 << 24) | (16 << 16)) >>> 0; // 172.16.0.0/12
const SVC_NET = (10 << 24) | (96 << 16); // 10.96.0.0/12
/** Usable pod addresses per node block (.2 … .251). */
const PODS_PER_NODE = 250;

export const nodeName = (i: number) => `node-${i}`;
export const nodePodCidr = (i: number) => `${ipText(POD_NET + i * 256)}/24`;
export const nodeInternalIp = (i: number) => ipText(NODE_NET + 10 + i);
const podIp = (node: number, slot: number) => ipText(POD_NET + node * 256 + 2 + slot);

function update(kind: Kind, namespace: string, name: string, value: KubeObject | null): ResourceUpdate {
  return { kind, namespace, name, value };
}

const podKey = (ns: string, name: string) => `${ns}/${name}`;

/** An array with O(1) add, remove and random pick. */
class Pool {
  private readonly items: string[] = [];
  private readonly index = new Map<string, number>();
  get size(): number {
    return this.items.length;
  }
  has(k: string): boolean {
    return this.index.has(k);
  }
  add(k: string): void {
    if (this.index.has(k)) return;
    this.index.set(k, this.items.length);
    this.items.push(k);
  }
  delete(k: string): void {
    const i = this.index.get(k);
    if (i === undefined) return;
    const last = this.items.pop()!;
    if (last !== k) {
      this.items[i] = last;
      this.index.set(last, i);
    }
    this.index.delete(k);
  }
  pick(rng: Rng): string {
    if (this.items.length === 0) throw new Error("pick from an empty pool");
    return this.items[rng.int(this.items.length)];
  }
  values(): readonly string[] {
    return this.items;
  }
}

/** How many IP sets a sampled label change should make a pod enter or leave. */
export const LABEL_CHANGE_TARGET_SETS = 10;

interface PodView {
  readonly ns: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly { name?: string; protocol?: string }[];
}

/** An IP set as the generator estimates it: a key and a membership test. */
interface SetEstimate {
  readonly key: string;
  readonly member: (p: PodView) => boolean;
}

/** Kubernetes LabelSelector semantics; an absent selector selects everything. */
export function matchesLabelSelector(
  sel: LabelSelector | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const v = e.key === undefined ? undefined : labels[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case "In":
        if (v === undefined || !values.includes(v)) return false;
        break;
      case "NotIn":
        if (v !== undefined && values.includes(v)) return false;
        break;
      case "Exists":
        if (v === undefined) return false;
        break;
      case "DoesNotExist":
        if (v !== undefined) return false;
        break;
    }
  }
  return true;
}

interface NsInfo {
  readonly name: string;
  readonly index: number;
  readonly serviceAccounts: string[];
  readonly localPods: Pool;
  readonly pods: Pool;
}

// ─── the cluster ─────────────────────────────────────────────────────────────

export class SyntheticCluster {
  /** The initial state as one list, in the Kubernetes datastore's kind order. */
  readonly updates: ResourceUpdate[];
  /** Apps per namespace (`app-0` … `app-<A-1>`). */
  readonly apps: number;

  private readonly gen: Rng;
  private readonly rng: Rng;
  private counter = 0;

  private readonly namespaces = new Map<string, Namespace>();
  private readonly nsInfo = new Map<string, NsInfo>();
  private readonly nsNames: string[] = [];
  private readonly pods = new Map<string, Pod>();
  private readonly podSlot = new Map<string, { node: number; slot: number }>();
  private readonly remotePods = new Pool();
  private readonly localPods = new Pool();
  /** Per node: used address slots, and a cursor to find a free one. */
  private readonly usedSlots: Set<number>[] = [];
  private readonly slotCursor: number[] = [];
  private readonly policies = new Map<string, NetworkPolicy>();
  private readonly policyPool = new Pool();
  private readonly slices = new Map<string, EndpointSlice>();
  private readonly slicePool = new Pool();
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
            ? this.defaultDeny(ns, i % 3 === 0)
            : this.policyFromTemplate((j - 1 + i) % TEMPLATES, ns, `np-${j}`, gen);
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
      const { svc, slice } = this.makeService(
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

  private nextName(prefix: string): string {
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

  private appLabels(app: number, version: string): Record<string, string> {
    return { app: `app-${app}`, tier: TIERS[app % TIERS.length], version };
  }

  private newAppPod(node: number, ns: string, rng: Rng): Pod {
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
    const slot = ipNumber(pod.status!.podIP!) - POD_NET - node * 256 - 2;
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

  private defaultDeny(ns: string, egressToo: boolean): NetworkPolicy {
    return {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "default-deny", namespace: ns },
      spec: { podSelector: {}, policyTypes: egressToo ? ["Ingress", "Egress"] : ["Ingress"] },
    };
  }

  /** Eight policy shapes, rotated per namespace. */
  private policyFromTemplate(t: number, ns: string, name: string, rng: Rng, app = rng.int(this.apps)): NetworkPolicy {
    const a = `app-${app}`;
    const other = `app-${(app + 1 + rng.int(this.apps - 1)) % this.apps}`;
    const other2 = `app-${(app + 1 + rng.int(this.apps - 1)) % this.apps}`;
    const tier = TIERS[rng.int(TIERS.length)];
    const spec = ((): NetworkPolicy["spec"] => {
      switch (t) {
        case 0: // app-to-app (a client app, and one version of another), numeric port
          return {
            podSelector: { matchLabels: { app: a } },
            ingress: [
              {
                from: [
                  { podSelector: { matchLabels: { app: other } } },
                  { podSelector: { matchLabels: { app: other2, version: VERSIONS[rng.int(VERSIONS.length)] } } },
                ],
                ports: [{ protocol: "TCP", port: 8080 }],
              },
            ],
          };
        case 1: // named port, from a tier of the same namespace
          return {
            podSelector: { matchLabels: { app: a } },
            ingress: [{ from: [{ podSelector: { matchLabels: { tier: "web" } } }], ports: [{ port: "http" }] }],
          };
        case 2: // namespaceSelector + podSelector (one peer: AND), or an app of the namespace
          return {
            podSelector: { matchLabels: { tier } },
            ingress: [
              {
                from: [
                  {
                    namespaceSelector: { matchLabels: { env: ENVS[rng.int(ENVS.length)] } },
                    podSelector: { matchLabels: { app: other } },
                  },
                  { podSelector: { matchLabels: { app: other2 } } },
                ],
                ports: [
                  { protocol: "TCP", port: 8080 },
                  { protocol: "TCP", port: 9000 },
                ],
              },
            ],
          };
        case 3: // ipBlock with except; web pods of one team's namespaces
          return {
            podSelector: { matchLabels: { app: a } },
            ingress: [
              {
                from: [
                  { ipBlock: { cidr: "10.0.0.0/8", except: [nodePodCidr(rng.int(this.spec.nodes)), "10.96.0.0/12"] } },
                ],
                ports: [{ protocol: "TCP", port: 443 }],
              },
              {
                from: [
                  {
                    namespaceSelector: { matchLabels: { team: `team-${rng.int(TEAMS)}` } },
                    podSelector: { matchLabels: { tier: "web" } },
                  },
                ],
                ports: [{ protocol: "TCP", port: 8443 }],
              },
            ],
          };
        case 4: // egress: db and cache by named port, DNS to kube-system
          return {
            podSelector: { matchLabels: { app: a } },
            policyTypes: ["Egress"],
            egress: [
              { to: [{ podSelector: { matchLabels: { tier: "db" } } }], ports: [{ port: "postgres" }] },
              { to: [{ podSelector: { matchLabels: { tier: "cache" } } }], ports: [{ port: "redis" }] },
              {
                to: [
                  {
                    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
                    podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
                  },
                ],
                ports: [
                  { protocol: "UDP", port: 53 },
                  { protocol: "TCP", port: 53 },
                ],
              },
            ],
          };
        case 5: // egress ipBlock with except (the internet but not the metadata service or pods), an app by named port
          return {
            podSelector: { matchLabels: { tier } },
            policyTypes: ["Egress"],
            egress: [
              {
                to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.169.254/32", "10.64.0.0/10"] } }],
                ports: [
                  { protocol: "TCP", port: 443 },
                  { protocol: "TCP", port: 80 },
                ],
              },
              { to: [{ podSelector: { matchLabels: { app: other } } }], ports: [{ port: "http" }] },
            ],
          };
        case 6: // matchExpressions, from the front tiers of some teams' namespaces
          return {
            podSelector: {
              matchExpressions: [
                { key: "app", operator: "In", values: [a, other] },
                { key: "version", operator: "In", values: ["v1", "v2"] },
              ],
            },
            ingress: [
              {
                from: [
                  {
                    namespaceSelector: {
                      matchExpressions: [
                        { key: "team", operator: "In", values: [`team-${rng.int(TEAMS)}`, `team-${rng.int(TEAMS)}`] },
                      ],
                    },
                    podSelector: { matchExpressions: [{ key: "tier", operator: "In", values: ["web", "api"] }] },
                  },
                ],
              },
            ],
          };
        default: // metrics from a scraper app in any namespace, or an app of the namespace
          return {
            podSelector: {},
            ingress: [
              {
                from: [
                  { namespaceSelector: {}, podSelector: { matchLabels: { app: a } } },
                  { podSelector: { matchLabels: { app: other } } },
                ],
                ports: [{ port: "metrics" }],
              },
            ],
          };
      }
    })();
    return {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name, namespace: ns },
      spec,
    };
  }

  private makeService(
    ns: string,
    name: string,
    v: number,
    rng: Rng,
    podsWith: (key: string, value: string) => readonly Pod[],
  ): { svc: Service; slice: EndpointSlice } {
    const E = this.spec.endpointsPerService;
    const app = `app-${rng.int(this.apps)}`;
    let selector: Record<string, string> = { app };
    let members = podsWith("app", app);
    if (members.length < E) {
      const tier = TIERS[rng.int(TIERS.length)];
      selector = { tier };
      members = podsWith("tier", tier);
    }
    const start = members.length ? rng.int(members.length) : 0;
    const chosen = Array.from({ length: Math.min(E, members.length) }, (_, i) => members[(start + i) % members.length]);
    const svc: Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: ns },
      spec: {
        type: "ClusterIP",
        clusterIP: ipText(SVC_NET + 10 + v),
        selector,
        ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
      },
    };
    const slice: EndpointSlice = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${name}-${((Math.imul(v + 1, 2654435761) >>> 0) % 36 ** 5).toString(36).padStart(5, "0")}`,
        namespace: ns,
        labels: {
          "kubernetes.io/service-name": name,
          "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        },
      },
      addressType: "IPv4",
      endpoints: chosen.map((p) => endpointOf(p)),
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    };
    return { svc, slice };
  }

  // ── single changes: {forward, revert}, the model untouched ──

  change(kind: ChangeKind): Change {
    switch (kind) {
      case "remote-pod-added":
        return this.remotePodAdded();
      case "remote-pod-removed":
        return this.remotePodRemoved();
      case "pod-labels":
        return this.podLabelChange(false, this.rng, LABEL_CHANGE_TARGET_SETS);
      case "local-pod-labels":
        return this.podLabelChange(true, this.rng, LABEL_CHANGE_TARGET_SETS);
      case "namespace-labels":
        return this.namespaceLabelChange();
      case "policy-added":
        return this.policyAdded();
      case "policy-changed":
        return this.policyChanged();
      case "service-endpoint-added":
        return this.serviceEndpointAdded();
    }
  }

  /** A new pod on a random remote node. */
  remotePodAdded(rng = this.rng): Change {
    let node = 1 + rng.int(this.spec.nodes - 1);
    for (let tries = 0; this.usedSlots[node].size >= PODS_PER_NODE; tries++) {
      if (tries > this.spec.nodes) throw new Error("the cluster is full");
      node = 1 + (node % (this.spec.nodes - 1));
    }
    const pod = this.newAppPod(node, rng.pick(this.nsNames), rng);
    const u = update("Pod", pod.metadata!.namespace!, pod.metadata!.name!, pod);
    return { kind: "remote-pod-added", forward: [u], revert: [{ ...u, value: null }] };
  }

  /** An existing remote pod deleted. */
  remotePodRemoved(rng = this.rng): Change {
    const key = this.remotePods.pick(rng);
    const pod = this.pods.get(key)!;
    const u = update("Pod", pod.metadata!.namespace!, pod.metadata!.name!, pod);
    return { kind: "remote-pod-removed", forward: [{ ...u, value: null }], revert: [u] };
  }

  /**
   * A pod moves to another app of its namespace (so also, usually, another
   * tier and other named ports) and another version: it leaves the sets of
   * its old app and tier and joins those of the new ones. With `targetSets`,
   * the best of 16 candidates by the generator's own estimate of the sets the
   * move crosses (see `analyze`), so the change does about that much work.
   */
  podLabelChange(local: boolean, rng = this.rng, targetSets?: number): Change {
    let best: { change: Change; moves: number } | undefined;
    for (let i = 0; i < (targetSets === undefined ? 1 : 16); i++) {
      const key = (local ? this.localPods : this.remotePods).pick(rng);
      const pod = this.pods.get(key)!;
      const oldApp = Number(pod.metadata!.labels!.app.slice("app-".length));
      const app = (oldApp + 1 + rng.int(this.apps - 1)) % this.apps;
      const version = VERSIONS[(VERSIONS.indexOf(pod.metadata!.labels!.version as "v1") + 1) % VERSIONS.length];
      const moved: Pod = {
        ...pod,
        metadata: { ...pod.metadata, labels: this.appLabels(app, version) },
        spec: { ...pod.spec, containers: [{ name: "main", ports: TIER_PORTS[TIERS[app % TIERS.length]] }] },
      };
      const ns = pod.metadata!.namespace!;
      const name = pod.metadata!.name!;
      const change: Change = {
        kind: local ? "local-pod-labels" : "pod-labels",
        forward: [update("Pod", ns, name, moved)],
        revert: [update("Pod", ns, name, pod)],
      };
      if (targetSets === undefined) return change;
      const moves = this.setMoves(pod, moved);
      if (!best || Math.abs(moves - targetSets) < Math.abs(best.moves - targetSets)) best = { change, moves };
      if (moves === targetSets) break;
    }
    return best!.change;
  }

  /** A namespace's env (and team) label changes. */
  namespaceLabelChange(rng = this.rng): Change {
    const name = rng.pick(this.nsNames);
    const ns = this.namespaces.get(name)!;
    const env = ns.metadata!.labels!.env;
    const next: Namespace = {
      ...ns,
      metadata: {
        ...ns.metadata,
        labels: { env: ENVS[(ENVS.indexOf(env as "prod") + 1) % ENVS.length], team: `team-${rng.int(TEAMS)}` },
      },
    };
    return {
      kind: "namespace-labels",
      forward: [update("Namespace", "", name, next)],
      revert: [update("Namespace", "", name, ns)],
    };
  }

  /** A new policy selecting one of this node's pods (so it becomes active). */
  policyAdded(rng = this.rng): Change {
    const key = this.localPods.size ? this.localPods.pick(rng) : this.remotePods.pick(rng);
    const pod = this.pods.get(key)!;
    const ns = pod.metadata!.namespace!;
    const app = Number(pod.metadata!.labels!.app.slice("app-".length));
    const templates = [0, 1, 3, 4, 6, 7]; // those whose podSelector can pin the app
    const np = this.policyFromTemplate(rng.pick(templates), ns, this.nextName("np-new"), rng, app);
    const u = update("NetworkPolicy", ns, np.metadata!.name!, np);
    return { kind: "policy-added", forward: [u], revert: [{ ...u, value: null }] };
  }

  /**
   * An existing policy changes — by default an active one (selecting a pod on
   * this node, by the generator's estimate), else one of a namespace with pods
   * on this node: a port
   * added to its first rule, or its first peer's podSelector pointed at
   * another app (a new IP set).
   */
  policyChanged(rng = this.rng, activeOnly = true): Change {
    const candidates = activeOnly
      ? this.analyze().active
      : this.policyPool.values().filter((k) => (this.nsInfo.get(k.split("/")[0])?.localPods.size ?? 0) > 0);
    const key = candidates.length ? rng.pick(candidates) : this.policyPool.pick(rng);
    const np = this.policies.get(key)!;
    const spec = structuredClone(np.spec ?? {});
    const dir = spec.ingress?.length ? "ingress" : spec.egress?.length ? "egress" : undefined;
    if (!dir) {
      // A default-deny starts allowing one app in.
      spec.ingress = [{ from: [{ podSelector: { matchLabels: { app: `app-${rng.int(this.apps)}` } } }] }];
    } else {
      const rule = spec[dir]![0] as {
        from?: { podSelector?: object }[];
        to?: { podSelector?: object }[];
        ports?: object[];
      };
      const peers = dir === "ingress" ? rule.from : rule.to;
      const peer = peers?.find((p) => p.podSelector);
      if (peer && rng.chance(0.5)) {
        peer.podSelector = { matchLabels: { app: `app-${rng.int(this.apps)}`, version: VERSIONS[rng.int(3)] } };
      } else {
        rule.ports = [...(rule.ports ?? []), { protocol: "TCP", port: 10_000 + rng.int(50_000) }];
      }
    }
    const changed: NetworkPolicy = { ...np, spec };
    const [ns, name] = key.split("/");
    return {
      kind: "policy-changed",
      forward: [update("NetworkPolicy", ns, name, changed)],
      revert: [update("NetworkPolicy", ns, name, np)],
    };
  }

  /** One more endpoint (a pod of the same namespace) in a service's EndpointSlice. */
  serviceEndpointAdded(rng = this.rng): Change {
    const key = this.slicePool.pick(rng);
    const slice = this.slices.get(key)!;
    const ns = key.split("/")[0];
    const pods = this.nsInfo.get(ns)!.pods;
    const pod = pods.size ? this.pods.get(pods.pick(rng))! : this.pods.get(this.remotePods.pick(rng))!;
    const next: EndpointSlice = { ...slice, endpoints: [...slice.endpoints, endpointOf(pod)] };
    const name = slice.metadata!.name!;
    return {
      kind: "service-endpoint-added",
      forward: [update("EndpointSlice", ns, name, next)],
      revert: [update("EndpointSlice", ns, name, slice)],
    };
  }

  // ── random walk: changes committed to the model ──

  /** One random change, applied to the model; returns its updates. */
  randomChange(rng = this.rng): ResourceUpdate[] {
    const what = rng.weighted({
      podAdd: 20,
      podRemove: 20,
      podLabels: 25,
      localPodLabels: 5,
      nsLabels: 3,
      policyAdd: 3,
      policyChange: 4,
      policyRemove: 3,
      endpointAdd: 9,
      endpointRemove: 8,
    });
    let forward: ResourceUpdate[];
    switch (what) {
      case "podAdd":
        forward = this.remotePodAdded(rng).forward;
        break;
      case "podRemove":
        forward = this.remotePods.size > 1 ? this.remotePodRemoved(rng).forward : this.remotePodAdded(rng).forward;
        break;
      case "podLabels":
        forward = this.podLabelChange(false, rng).forward;
        break;
      case "localPodLabels":
        forward = this.localPods.size
          ? this.podLabelChange(true, rng).forward
          : this.podLabelChange(false, rng).forward;
        break;
      case "nsLabels":
        forward = this.namespaceLabelChange(rng).forward;
        break;
      case "policyAdd":
        forward = this.policyAdded(rng).forward;
        break;
      case "policyChange":
        forward = this.policyChanged(rng, false).forward;
        break;
      case "policyRemove": {
        const key = this.policyPool.pick(rng);
        const [ns, name] = key.split("/");
        forward = [update("NetworkPolicy", ns, name, null)];
        break;
      }
      case "endpointAdd":
        forward = this.serviceEndpointAdded(rng).forward;
        break;
      case "endpointRemove": {
        const key = this.slicePool.pick(rng);
        const slice = this.slices.get(key)!;
        const next: EndpointSlice = { ...slice, endpoints: slice.endpoints.slice(0, -1) };
        forward = [update("EndpointSlice", key.split("/")[0], slice.metadata!.name!, next)];
        break;
      }
    }
    for (const u of forward) this.commit(u);
    return forward;
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

  // ── the generator's own estimate of active policies and the sets they need ──
  // A simplified re-reading of Kubernetes semantics, independent of the
  // engine, used only to pick changes that do work.

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

  private analyze(): { active: string[]; sets: SetEstimate[] } {
    if (this.analysis?.version === this.modelVersion) return this.analysis;
    const active: string[] = [];
    const sets = new Map<string, SetEstimate>();
    for (const [key, np] of this.policies) {
      const ns = key.split("/")[0];
      const spec = np.spec ?? {};
      const local = this.nsInfo.get(ns)?.localPods.values() ?? [];
      if (!local.some((k) => matchesLabelSelector(spec.podSelector, this.pods.get(k)!.metadata?.labels ?? {})))
        continue;
      active.push(key);
      const types = spec.policyTypes?.length
        ? spec.policyTypes
        : ["Ingress", ...(spec.egress?.length ? ["Egress"] : [])];
      if (types.includes("Ingress")) {
        for (const r of spec.ingress ?? []) this.ruleSets(sets, ns, spec.podSelector, r.from, r.ports, "ingress");
      }
      if (types.includes("Egress")) {
        for (const r of spec.egress ?? []) this.ruleSets(sets, ns, spec.podSelector, r.to, r.ports, "egress");
      }
    }
    this.analysis = { version: this.modelVersion, active, sets: [...sets.values()] };
    return this.analysis;
  }

  private ruleSets(
    out: Map<string, SetEstimate>,
    ns: string,
    policySelector: LabelSelector | undefined,
    peers: NetworkPolicyPeer[] | undefined,
    ports: NetworkPolicyPort[] | undefined,
    dir: "ingress" | "egress",
  ): void {
    const named = (ports ?? []).filter((p) => typeof p.port === "string" && !/^[0-9]+$/.test(p.port));
    const peerSets: SetEstimate[] = (peers ?? [])
      .filter((p) => p.podSelector || p.namespaceSelector)
      .map((p) => {
        const nsSel = p.namespaceSelector;
        const podSel = p.podSelector;
        return {
          key: `${nsSel ? `nssel ${JSON.stringify(nsSel)}` : `ns ${ns}`} pods ${JSON.stringify(podSel ?? {})}`,
          member: (v: PodView) =>
            (nsSel ? matchesLabelSelector(nsSel, this.nsLabels(v.ns)) : v.ns === ns) &&
            matchesLabelSelector(podSel, v.labels),
        };
      });
    const withPort = (base: SetEstimate, port: NetworkPolicyPort): SetEstimate => {
      const proto = (port.protocol ?? "TCP").toUpperCase();
      return {
        key: `${base.key} port ${proto}:${port.port}`,
        member: (v) =>
          base.member(v) && v.ports.some((p) => p.name === port.port && (p.protocol ?? "TCP").toUpperCase() === proto),
      };
    };
    if (dir === "ingress") {
      for (const p of peerSets) out.set(p.key, p);
      const own: SetEstimate = {
        key: `ns ${ns} pods ${JSON.stringify(policySelector ?? {})}`,
        member: (v) => v.ns === ns && matchesLabelSelector(policySelector, v.labels),
      };
      for (const port of named) {
        const s = withPort(own, port);
        out.set(s.key, s);
      }
    } else if (named.length) {
      const everyone: SetEstimate = { key: "all", member: () => true };
      for (const p of peerSets.length ? peerSets : [everyone]) {
        for (const port of named) {
          const s = withPort(p, port);
          out.set(s.key, s);
        }
      }
    } else {
      for (const p of peerSets) out.set(p.key, p);
    }
  }

  /** How many of the estimated active sets a pod enters or leaves when it becomes `after`. */
  private setMoves(before: Pod, after: Pod): number {
    const view = (p: Pod): PodView => ({
      ns: p.metadata!.namespace!,
      labels: p.metadata?.labels ?? {},
      ports: p.spec?.containers?.flatMap((c) => c.ports ?? []) ?? [],
    });
    const a = view(before);
    const b = view(after);
    let n = 0;
    for (const s of this.analyze().sets) if (s.member(a) !== s.member(b)) n++;
    return n;
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

function endpointOf(p: Pod): EndpointSlice["endpoints"][number] {
  return {
    addresses: [p.status!.podIP!],
    conditions: { ready: true, serving: true, terminating: false },
    nodeName: p.spec!.nodeName,
    targetRef: { kind: "Pod", namespace: p.metadata!.namespace!, name: p.metadata!.name! },
  };
}

/** The cluster of a preset (or explicit spec) and seed. */
export function generateCluster(spec: ScaleSpec | PresetName, seed = 1): SyntheticCluster {
  return new SyntheticCluster(typeof spec === "string" ? PRESETS[spec] : spec, seed);
}
