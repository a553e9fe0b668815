// One node as the tracer sees it: the graph run for that node over the
// cluster's updates with a recording renderer, so every rendered rule of its
// DesiredState leads back to its typed Rule, plus what the origin mapping
// needs (the active policies and profiles, the local endpoints).

import { CalcGraph, type GraphConfig } from "../calc-graph/calc-graph.js";
import { type DesiredState, type EndpointState, familyKey } from "../calc-graph/desired-state.js";
import type { Policy, Profile } from "../calc-graph/model.js";
import { ipSetList } from "../model/ipset-shards.js";
import type { VerdictMapState } from "../model/nft-objects.js";
import type { ResourceUpdate } from "../model/resource.js";
import type { Rule } from "../model/rule.js";
import type { RuleRenderer } from "../model/rule-renderer.js";
import type { TableName } from "../model/tables.js";
import { chainOf, type TableState } from "../model/tables.js";
import type { NodeEnv } from "./packet.js";
import { recordingRenderer } from "./recording-renderer.js";
import type { ChainSource } from "./walker.js";

export interface NodeView {
  readonly name: string;
  readonly state: DesiredState;
  readonly env4: NodeEnv;
  readonly env6: NodeEnv;
  /** The node's own addresses (its Node's InternalIPs), first = what masquerade uses. */
  readonly addresses: readonly string[];
  readonly policies: ReadonlyMap<string, Policy>;
  readonly profiles: ReadonlyMap<string, Profile>;
  /** Local endpoints by host interface name. */
  readonly byIface: ReadonlyMap<string, EndpointState>;
  chains(v: 4 | 6, table: TableName): ChainSource;
}

/** `renderer`: the active dataplane's RuleRenderer (iptables or nftables); the trace is the same. */
export function nodeView(
  cfg: GraphConfig,
  updates: readonly ResourceUpdate[],
  renderer: RuleRenderer,
  addresses: readonly string[],
  observe?: (g: CalcGraph) => void,
): NodeView {
  const rec = recordingRenderer(renderer);
  const g = new CalcGraph({ ...cfg, ruleRenderer: rec.renderer });
  observe?.(g);
  const state = g.apply(updates);
  const envOf = (v: 4 | 6): NodeEnv => {
    const ipsets = new Map<string, ReadonlySet<string>>();
    for (const s of ipSetList(state.ipsets)) if (s.family === v) ipsets.set(s.name, s.members);
    // kube-proxy's nftables layout (FELIX_PROXYMODE=nftables): its maps and affinity sets.
    const maps = new Map<string, VerdictMapState>();
    const affinitySets = new Set<string>();
    for (const o of Object.values(state.nftObjects ?? {})) {
      if (o.family !== v) continue;
      if (o.kind === "vmap") maps.set(o.name, o);
      else if (o.kind === "affinitySet") affinitySets.add(o.name);
      else ipsets.set(o.name, o.elements);
    }
    return { localAddresses: new Set([...addresses, "127.0.0.1", "::1"]), ipsets, maps, affinitySets };
  };
  const byIface = new Map<string, EndpointState>();
  for (const ep of Object.values(state.endpoints)) byIface.set(ep.iface, ep);
  const cache = new Map<string, ChainSource>();
  const typed = (rules: readonly { text: string; hash: string }[]): Rule[] =>
    rules.map((r) => {
      const t = rec.ruleOf(r);
      if (!t) throw new Error(`rendered rule without its typed rule: ${r.text}`);
      return t;
    });
  const source = (t: TableState): ChainSource => {
    const memo = new Map<string, readonly Rule[] | undefined>();
    return (name) => {
      if (memo.has(name)) return memo.get(name);
      const hook = t.hooks[name];
      const c = hook
        ? typed([...hook.insert, ...hook.append])
        : (() => {
            const chain = chainOf(t, name);
            return chain ? typed(chain.rules) : undefined;
          })();
      memo.set(name, c);
      return c;
    };
  };
  return {
    name: cfg.nodeName,
    state,
    env4: envOf(4),
    env6: envOf(6),
    addresses,
    policies: g.active.policies,
    profiles: g.active.profiles,
    byIface,
    chains(v, table) {
      const k = `${v}${table}`;
      let c = cache.get(k);
      if (!c) {
        c = source(state.iptables[familyKey(v)][table]);
        cache.set(k, c);
      }
      return c;
    },
  };
}
