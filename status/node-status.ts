// Status written back to Kubernetes, as calico-node does:
//   - the Node's NetworkUnavailable condition goes False once the dataplane is
//     programmed (a strategic-merge PATCH of nodes/<name>/status, which keeps
//     the other conditions: Ready, MemoryPressure…);
//   - a Warning Event on each local Pod whose policy cannot be programmed
//     (the pod itself or a policy selecting it is invalid), once per message.

import type { Logger } from "pino";
import type { DesiredState } from "../calc-graph/desired-state.js";
import type { KubeAccess } from "../src/datastore/kube-config.js";
import { send } from "../src/datastore/kube-request.js";

export const CONDITION_REASON = "FelixTsIsUp";
export const EVENT_REASON = "PolicyNotProgrammed";
export const COMPONENT = "felix-ts";

/** A core/v1 Event, as this reporter writes it. */
export interface CoreEvent {
  metadata: { generateName: string; namespace: string };
  involvedObject: { kind: string; apiVersion: string; namespace: string; name: string };
  reason: string;
  message: string;
  type: "Warning" | "Normal";
  source: { component: string; host: string };
  reportingComponent: string;
  reportingInstance: string;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

/** The part of the Kubernetes API this reporter uses (a fake in tests). */
export interface StatusApi {
  patchNodeStatus(name: string, patch: object): Promise<void>;
  createEvent(namespace: string, event: CoreEvent): Promise<void>;
}

/** The two calls, raw (src/datastore/kube-request.ts); names are path segments, so they are escaped. */
export function kubernetesStatusApi(kc: KubeAccess): StatusApi {
  return {
    async patchNodeStatus(name, body) {
      const type = "application/strategic-merge-patch+json";
      await send(kc, "PATCH", `/api/v1/nodes/${encodeURIComponent(name)}/status`, body, type);
    },
    async createEvent(namespace, body) {
      await send(kc, "POST", `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, body);
    },
  };
}

/** Local pods whose policy cannot be programmed, with why: pod key → message. */
export function podProblems(state: DesiredState): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of Object.values(state.problems)) {
    const [kind, ns, name, what] = p.key.split("/");
    // `Pod/<ns>/<pod>/iface`: the graph found the pod's interface name taken by another pod.
    const source = what === "iface" ? "interface name collision" : "pod manifest";
    if (kind === "Pod" && p.node === state.nodeName) out.set(`${ns}/${name}`, `${source}: ${p.message}`);
  }
  for (const ep of Object.values(state.endpoints)) {
    for (const policyKey of [...ep.ingressPolicies, ...ep.egressPolicies]) {
      const resource = policyResource(policyKey);
      const problem = state.problems[resource.key];
      if (problem) out.set(ep.key, `${resource.shown}: ${problem.message}`);
    }
  }
  return out;
}

/**
 * The resource a policy key comes from: `<tier>/<ns>/knp.default.<name>` (Kubernetes), `np/<ns>/<name>`
 * (Calico NetworkPolicy), `gnp/<name>` (GlobalNetworkPolicy).
 */
function policyResource(policyKey: string): { key: string; shown: string } {
  const [head, a, b] = policyKey.split("/");
  if (head === "gnp") return { key: `GlobalNetworkPolicy//${a}`, shown: `GlobalNetworkPolicy ${a}` };
  if (head === "kcnp") {
    const name = (a ?? "").replace(/^kcnp\.kube-(admin|baseline)\./, "");
    return { key: `ClusterNetworkPolicy//${name}`, shown: `ClusterNetworkPolicy ${name}` };
  }
  if (head === "np") return { key: `CalicoNetworkPolicy/${a}/${b}`, shown: `NetworkPolicy ${a}/${b}` };
  const name = (b ?? "").replace(/^knp\.default\./, "");
  return { key: `NetworkPolicy/${a}/${name}`, shown: `NetworkPolicy ${a}/${name}` };
}

export class NodeStatusReporter {
  private conditionSet = false;
  private readonly reported = new Map<string, string>();

  constructor(
    private readonly api: StatusApi,
    private readonly nodeName: string,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** After every successful apply: sets the condition once, and raises events for new pod problems. */
  async programmed(state: DesiredState): Promise<void> {
    if (!this.conditionSet) {
      const t = this.now().toISOString();
      try {
        await this.api.patchNodeStatus(this.nodeName, {
          status: {
            conditions: [
              {
                type: "NetworkUnavailable",
                status: "False",
                reason: CONDITION_REASON,
                message: "felix-ts is running on this node",
                lastTransitionTime: t,
                lastHeartbeatTime: t,
              },
            ],
          },
        });
        this.conditionSet = true;
        this.log.info({ node: this.nodeName }, "node condition NetworkUnavailable=False set");
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, "cannot patch node status; will retry after the next apply");
      }
    }
    const problems = podProblems(state);
    for (const key of [...this.reported.keys()]) if (!problems.has(key)) this.reported.delete(key);
    for (const [key, message] of problems) {
      if (this.reported.get(key) === message) continue;
      const [namespace, pod] = key.split("/");
      const t = this.now().toISOString();
      try {
        await this.api.createEvent(namespace, {
          metadata: { generateName: `${pod}.`, namespace },
          involvedObject: { kind: "Pod", apiVersion: "v1", namespace, name: pod },
          reason: EVENT_REASON,
          message: `${message}; the pod stays isolated for the affected directions`,
          type: "Warning",
          source: { component: COMPONENT, host: this.nodeName },
          reportingComponent: COMPONENT,
          reportingInstance: this.nodeName,
          firstTimestamp: t,
          lastTimestamp: t,
          count: 1,
        });
        this.reported.set(key, message);
      } catch (e) {
        this.log.warn({ err: (e as Error).message, pod: key }, "cannot create event");
      }
    }
  }
}
