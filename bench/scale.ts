// A deterministic synthetic cluster for benchmarks: the same (spec, seed)
// always yields the same objects, in the same order, and the same sequence of
// changes. Everything comes from one small seeded PRNG (mulberry32, rng.ts); no
// clocks, no Math.random. The objects and their bookkeeping are in
// cluster-model.ts, the sizes in scale-spec.ts.
//
// `SyntheticCluster` produces single changes of each kind, as
// `{forward, revert}` pairs computed from the current model without changing
// it (so a benchmark can time `forward`, apply `revert` and stay at the same
// baseline), and random changes that are committed to the model (a random walk
// for throughput and memory runs).

import type { Namespace, NetworkPolicy, Pod } from "../model/k8s.js";
import type { ResourceUpdate } from "../model/resource.js";
import { ClusterModel } from "./cluster-model.js";
import { policyFromTemplate } from "./policy-templates.js";
import { PODS_PER_NODE } from "./scale-addresses.js";
import { PRESETS, type PresetName, type ScaleSpec } from "./scale-spec.js";
import { ENVS, type EndpointSlice, TEAMS, TIER_PORTS, TIERS, update, VERSIONS } from "./scale-vocabulary.js";
import { endpointOf } from "./service-objects.js";
import { setMoves } from "./set-estimate.js";

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

/** How many IP sets a sampled label change should make a pod enter or leave. */
export const LABEL_CHANGE_TARGET_SETS = 10;

export class SyntheticCluster extends ClusterModel {
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
   * move crosses (see set-estimate.ts), so the change does about that much work.
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
      const moves = setMoves(this.analyze().sets, pod, moved);
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
    const np = policyFromTemplate(rng.pick(templates), ns, this.nextName("np-new"), rng, this, app);
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
}

/** The cluster of a preset (or explicit spec) and seed. */
export function generateCluster(spec: ScaleSpec | PresetName, seed = 1): SyntheticCluster {
  return new SyntheticCluster(typeof spec === "string" ? PRESETS[spec] : spec, seed);
}
