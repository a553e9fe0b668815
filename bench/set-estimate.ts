// The generator's own estimate of which policies are active on the node under test
// and which IP sets their rules need: a simplified re-reading of Kubernetes
// semantics, independent of the engine, used only to pick changes that do work (a
// pod label change that crosses about LABEL_CHANGE_TARGET_SETS sets, a change to
// an active policy).

import type { LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Pod } from "../model/k8s.js";

type Labels = Readonly<Record<string, string>>;

interface PodView {
  readonly ns: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly { name?: string; protocol?: string }[];
}

/** An IP set as the generator estimates it: a key and a membership test. */
export interface SetEstimate {
  readonly key: string;
  readonly member: (p: PodView) => boolean;
}

/** Kubernetes LabelSelector semantics; an absent selector selects everything. */
export function matchesLabelSelector(
  sel: LabelSelector | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!sel) return true;
  // No entry arrays or iterators: the generator runs between timed changes, and its garbage is collected inside them.
  const ml = sel.matchLabels;
  if (ml) for (const k in ml) if (Object.hasOwn(ml, k) && labels[k] !== ml[k]) return false;
  const exprs = sel.matchExpressions ?? [];
  for (let i = 0; i < exprs.length; i++) {
    const e = exprs[i];
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

/**
 * The policies (keys "<namespace>/<name>") that select a pod on this node, and the
 * sets their rules need. `nsLabels` is read when a set's membership is tested.
 */
export function estimatePolicies(
  policies: ReadonlyMap<string, NetworkPolicy>,
  selectsLocalPod: (ns: string, podSelector: LabelSelector | undefined) => boolean,
  nsLabels: (ns: string) => Labels,
): { active: string[]; sets: SetEstimate[] } {
  const active: string[] = [];
  const sets = new Map<string, SetEstimate>();
  for (const [key, np] of policies) {
    const ns = key.split("/")[0];
    const spec = np.spec ?? {};
    if (!selectsLocalPod(ns, spec.podSelector)) continue;
    active.push(key);
    const types = spec.policyTypes?.length ? spec.policyTypes : ["Ingress", ...(spec.egress?.length ? ["Egress"] : [])];
    if (types.includes("Ingress")) {
      for (const r of spec.ingress ?? []) ruleSets(sets, nsLabels, ns, spec.podSelector, r.from, r.ports, "ingress");
    }
    if (types.includes("Egress")) {
      for (const r of spec.egress ?? []) ruleSets(sets, nsLabels, ns, spec.podSelector, r.to, r.ports, "egress");
    }
  }
  return { active, sets: [...sets.values()] };
}

function ruleSets(
  out: Map<string, SetEstimate>,
  nsLabels: (ns: string) => Labels,
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
          (nsSel ? matchesLabelSelector(nsSel, nsLabels(v.ns)) : v.ns === ns) && matchesLabelSelector(podSel, v.labels),
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
export function setMoves(sets: readonly SetEstimate[], before: Pod, after: Pod): number {
  const view = (p: Pod): PodView => ({
    ns: p.metadata!.namespace!,
    labels: p.metadata?.labels ?? {},
    ports: p.spec?.containers?.flatMap((c) => c.ports ?? []) ?? [],
  });
  const a = view(before);
  const b = view(after);
  let n = 0;
  for (let i = 0; i < sets.length; i++) if (sets[i].member(a) !== sets[i].member(b)) n++;
  return n;
}
