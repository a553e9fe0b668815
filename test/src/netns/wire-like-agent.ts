// What the agent does to a topology's nodes, done by hand so that topology.test.ts
// can check the topology on its own. Never use it in agent tests.

import { ipBatch, sysctls, type Topology, type TopoNode } from "../../../src/netns/topology.js";

/**
 * For topology.test.ts only: does what the agent under test is responsible for, so
 * the topology can be checked on its own without an agent: ip_forward=1; per pod veth forwarding,
 * proxy_arp=1, proxy_delay=0, rp_filter=1 and "<ip> dev caliX scope link" (+ IPv6
 * equivalents); per other node "<podCIDR> via <underlayIp>". Never use it in agent tests.
 */
export async function wireLikeAgentForSelfTest(topo: Topology, only?: readonly TopoNode[]): Promise<void> {
  const nodes = only ?? [...topo.nodes.values()];
  await Promise.all(
    nodes.map(async (n) => {
      const values: Record<string, number> = { "net.ipv4.ip_forward": 1 };
      const lines: string[] = [];
      const anyV6 = n.pods.some((p) => p.ipv6);
      if (anyV6) values["net.ipv6.conf.all.forwarding"] = 1;
      for (const p of n.pods) {
        const i = p.hostIface;
        Object.assign(values, {
          [`net/ipv4/conf/${i}/forwarding`]: 1,
          [`net/ipv4/conf/${i}/proxy_arp`]: 1,
          [`net/ipv4/neigh/${i}/proxy_delay`]: 0,
          [`net/ipv4/conf/${i}/rp_filter`]: 1,
        });
        lines.push(`route replace ${p.ip} dev ${i} scope link proto 80`);
        if (p.ipv6) {
          values[`net/ipv6/conf/${i}/proxy_ndp`] = 1;
          lines.push(`route replace ${p.ipv6} dev ${i} proto 80`);
        }
      }
      for (const other of topo.nodes.values()) {
        if (other === n) continue;
        lines.push(`route replace ${other.podCIDR} via ${other.underlayIp} dev eth0 proto 80`);
        if (anyV6 && other.podCIDRv6 && other.underlayIpv6)
          lines.push(`route replace ${other.podCIDRv6} via ${other.underlayIpv6} dev eth0 proto 80`);
      }
      await sysctls(n.netns, values);
      await ipBatch(n.netns, lines);
    }),
  );
}
