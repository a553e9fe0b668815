// Where the scenario's pods run and which addresses they get: node k is
// "node<k>" with underlay address 172.31.250.k and pod CIDR 10.65.k.0/24, so
// a policy's ipBlock can name a node's pods. Pods without a node are spread
// over the nodes in order; pods without an IP get the next free one from .10.

import { type Scenario, ScenarioError, type ScenarioPod } from "./scenario.js";

export interface NodePlan {
  readonly name: string;
  readonly underlayIp: string;
  readonly podCIDR: string;
}

export interface PodPlan {
  readonly pod: ScenarioPod;
  readonly node: string;
  readonly ip: string;
}

export interface Placement {
  readonly nodes: readonly NodePlan[];
  readonly pods: readonly PodPlan[];
}

export function placePods(s: Scenario, nodeCount: number): Placement {
  const n = Math.max(nodeCount, s.nodes, 1);
  const nodes: NodePlan[] = [];
  for (let k = 1; k <= n; k++)
    nodes.push({ name: `node${k}`, underlayIp: `172.31.250.${k}`, podCIDR: `10.65.${k}.0/24` });
  const taken = new Set<string>();
  for (const p of s.pods) {
    if (!p.ip) continue;
    if (taken.has(p.ip)) throw new ScenarioError(`pod ${p.namespace}/${p.name}: ip ${p.ip} is used twice`);
    taken.add(p.ip);
  }
  const nextHost = new Map<number, number>();
  let spread = 0;
  const pods = s.pods.map((pod): PodPlan => {
    const k = pod.node ? Number(pod.node.slice(4)) : (spread++ % n) + 1;
    const node = nodes[k - 1]!;
    if (pod.ip) {
      const m = /^10\.65\.(\d+)\.(\d+)$/.exec(pod.ip);
      if (!m || Number(m[1]) !== k || Number(m[2]) < 2 || Number(m[2]) > 254) {
        throw new ScenarioError(
          `pod ${pod.namespace}/${pod.name}: ip ${pod.ip} is not a pod address of ${node.name} (10.65.${k}.2–254)`,
        );
      }
      return { pod, node: node.name, ip: pod.ip };
    }
    let h = nextHost.get(k) ?? 10;
    while (taken.has(`10.65.${k}.${h}`)) h++;
    if (h > 254) throw new ScenarioError(`${node.name}: no pod addresses left`);
    nextHost.set(k, h + 1);
    const ip = `10.65.${k}.${h}`;
    taken.add(ip);
    return { pod, node: node.name, ip };
  });
  return { nodes, pods };
}
