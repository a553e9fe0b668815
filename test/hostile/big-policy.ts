// A NetworkPolicy built to blow up the rendering: one ingress rule with P
// peers and N ports (the resource attack), and its expected size.

/** Non-adjacent ports from `first`, so none merge into a range. */
export function spreadPorts(n: number, first = 2000): number[] {
  return Array.from({ length: n }, (_, i) => first + 2 * i);
}

export interface BigPolicyOptions {
  readonly namespace: string;
  /** Peers are podSelectors `peer: p<i>` (i < selectorPeers)… */
  readonly selectorPeers: number;
  /** …then ipBlocks 10.200.<i>.0/24, each except its .128/25. */
  readonly ipBlockPeers: number;
  readonly ports: readonly number[];
  /** The policy selects `app: <target>`. */
  readonly target: string;
}

export function bigPolicy(o: BigPolicyOptions): object {
  const from = [
    ...Array.from({ length: o.selectorPeers }, (_, i) => ({ podSelector: { matchLabels: { peer: `p${i}` } } })),
    ...Array.from({ length: o.ipBlockPeers }, (_, i) => ({
      ipBlock: { cidr: `10.200.${i}.0/24`, except: [`10.200.${i}.128/25`] },
    })),
  ];
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "big", namespace: o.namespace },
    spec: {
      podSelector: { matchLabels: { app: o.target } },
      policyTypes: ["Ingress"],
      ingress: [{ from, ports: o.ports.map((port) => ({ port })) }],
    },
  };
}

/**
 * The policy chain's rule count: the peer block (a clear, one rule per
 * selector peer, three per ipBlock with one except), one rule per multiport
 * group of at most 15 ports, one return. P + N/15, never P × N/15.
 */
export function expectedPolicyChainRules(o: BigPolicyOptions): number {
  return 1 + o.selectorPeers + 3 * o.ipBlockPeers + Math.ceil(o.ports.length / 15) + 1;
}
