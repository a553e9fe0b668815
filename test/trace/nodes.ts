// The two Nodes the tracer's property tests place pods on: node<n> with pod CIDR 10.70.<n>.0/24.

export function twoNodes(): object[] {
  return [1, 2].map((n) => ({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: `node${n}` },
    spec: { podCIDR: `10.70.${n}.0/24` },
    status: { addresses: [{ type: "InternalIP", address: `172.31.9.${n}` }] },
  }));
}
