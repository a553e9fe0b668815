// felix_denied_packets_total{reason, tier, policy, direction}: packets the
// kernel dropped on the policy path, counted from the drop paths' NFLOG group
// (dropNflogGroup; the prefix names the rule, rules/drop-log.ts) and mapped
// back to the policy through the agent's own graph. The reader follows the
// setting: started when a group is set, moved when it changes, stopped when unset.

import type { CalcGraph } from "../calc-graph/calc-graph.js";
import type { DesiredState, EndpointState } from "../calc-graph/desired-state.js";
import { parseDropPrefix } from "../calc-graph/rules/drop-log.js";
import type { NflogReader, readNflog } from "../src/nflog-reader.js";
import { type Origin, OriginMap } from "../trace/origin.js";
import { Counter, type Registry } from "./prom.js";

export type ReadNflog = typeof readNflog;

export class DeniedPackets {
  readonly counter: Counter<"reason" | "tier" | "policy" | "direction">;
  private reader: NflogReader | undefined;
  private group: number | undefined;
  private map: OriginMap | undefined;
  private mapOf: DesiredState | undefined;
  private latest: { state: DesiredState; graph: CalcGraph } | undefined;

  constructor(
    registry: Registry,
    private readonly read: ReadNflog,
    private readonly onError: (message: string) => void = () => {},
  ) {
    this.counter = new Counter({
      name: "felix_denied_packets_total",
      help: "Packets dropped on the policy path (dropNflogGroup), by the policy, tier end or profile that dropped them.",
      labelNames: ["reason", "tier", "policy", "direction"],
      registers: [registry],
    });
  }

  /** After each apply: follow the setting; remember the state the prefixes are decoded with. */
  applied(state: DesiredState, graph: CalcGraph): void {
    this.latest = { state, graph };
    const group = state.config?.settings.dropNflogGroup;
    if (group === this.group) return;
    this.stop();
    this.group = group;
    if (group === undefined) return;
    try {
      const r = this.read(group, (p) => this.count(p.prefix));
      this.reader = r;
      void r.exited.then((e) => {
        if (this.reader === r && e.code !== 0) this.onError(`NFLOG group ${group}: ${e.stderr.trim()}`);
      });
    } catch (e) {
      this.onError((e as Error).message);
    }
  }

  stop(): void {
    this.reader?.stop();
    this.reader = undefined;
  }

  /** Counts one reported drop (exported for tests: the prefix as the kernel sends it). */
  count(prefix: string): void {
    const d = parseDropPrefix(prefix);
    if (!d || !this.latest) return;
    this.counter.inc(labelsOf(this.originMap().ofDrop(d)));
  }

  private originMap(): OriginMap {
    const { state, graph } = this.latest!;
    if (!this.map || this.mapOf !== state) {
      const byIface = new Map<string, EndpointState>();
      for (const ep of Object.values(state.endpoints)) byIface.set(ep.iface, ep);
      this.map = new OriginMap({ name: state.nodeName, state, policies: graph.active.policies, byIface });
      this.mapOf = state;
    }
    return this.map;
  }
}

function labelsOf(o: Origin): Record<"reason" | "tier" | "policy" | "direction", string> {
  switch (o.kind) {
    case "policy":
      return {
        reason: "policy",
        tier: o.tier,
        policy: o.namespace ? `${o.namespace}/${o.name}` : o.name,
        direction: o.direction,
      };
    case "profile":
      return { reason: "profile", tier: "", policy: o.profile, direction: o.direction };
    case "endpoint":
      return {
        reason: o.tier ? "end_of_tier" : "no_profile",
        tier: o.tier ?? "",
        policy: "",
        direction: o.direction,
      };
    default:
      return { reason: "unknown_interface", tier: "", policy: "", direction: "" };
  }
}
