// Resource blow-up, in the kernel: a NetworkPolicy rule with 200 peers × 200
// ports is accepted by iptables-restore in one node namespace and enforced on
// sampled peers and ports, by real connections.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { requirementsMissing, Topology, type TopoPod } from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { bigPolicy, expectedPolicyChainRules, spreadPorts } from "../hostile/big-policy.js";
import { clusterManifests, felixOnce, ManifestDir } from "./cluster.js";
import { chainNames, chainRules, TEST_DATAPLANE } from "./dataplane-mode.js";

const skip = requirementsMissing();
const PORTS = spreadPorts(200);
const IN_LIST = PORTS[173];
const NOT_IN_LIST = IN_LIST + 1;
const OPTS = { namespace: "prod", selectorPeers: 190, ipBlockPeers: 10, ports: PORTS, target: "web" };

/**
 * Egress of the selector peer, in block form too (two peers × two port
 * groups): web's named port resolves through an all() set, the peer block
 * restricts the destination.
 */
const egressBlocks = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: "peer-egress", namespace: "prod" },
  spec: {
    podSelector: { matchLabels: { peer: "p137" } },
    policyTypes: ["Egress"],
    egress: [
      {
        to: [{ podSelector: { matchLabels: { app: "web" } } }, { ipBlock: { cidr: "10.200.3.0/24" } }],
        ports: [{ port: `serve-${IN_LIST}-tcp` }, { port: 9 }],
      },
    ],
  },
};

describe("hostile input: 200 peers × 200 ports in the kernel", skipIf(skip), () => {
  let topo: Topology;
  let dir: ManifestDir;
  let web: TopoPod;
  const clients: Record<string, TopoPod> = {};

  before(async () => {
    await Topology.cleanupStale("fx");
    topo = await Topology.create();
    const n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
    const servers = { tcp: [IN_LIST, NOT_IN_LIST, PORTS[0]] };
    web = await topo.addPod(n1, { namespace: "prod", name: "web", ip: "10.65.1.2", servers, labels: { app: "web" } });
    const client = async (name: string, ip: string, labels: Record<string, string> = {}) => {
      clients[name] = await topo.addPod(n1, { namespace: "prod", name, ip, servers: {}, labels });
    };
    await client("peer137", "10.65.1.3", { peer: "p137" });
    await client("nopeer", "10.65.1.4", { peer: "p999" });
    await client("block3", "10.200.3.5");
    await client("block3-except", "10.200.3.200");
    dir = new ManifestDir();
    dir.write("cluster.yaml", clusterManifests(topo));
    dir.write("big.yaml", [bigPolicy(OPTS), egressBlocks]);
    const [run] = await felixOnce(topo, dir.path, [n1]);
    assert.equal(run.code, 0, run.output);
  });

  after(async () => {
    await topo?.destroy();
    dir?.destroy();
  });

  test("the kernel holds the policy chain with P + ceil(N/15) + 2 rules", async () => {
    const chain = (await chainNames(web.node.netns, "filter")).find((c) => c.startsWith("cali-pi-"));
    assert.ok(chain, "a policy chain");
    const rules = await chainRules(web.node.netns, "filter", chain);
    assert.equal(rules.length, expectedPolicyChainRules(OPTS));
  });

  test("a selector peer reaches a listed port and not an unlisted one", async () => {
    assert.equal(await topo.probe(clients.peer137, web, IN_LIST, "tcp", 1000), true);
    assert.equal(await topo.probe(clients.peer137, web, NOT_IN_LIST, "tcp", 600), false);
  });

  test("egress in block form: the named port of a peer pod is reached, a port only ingress allows is not", async () => {
    const egress = (await chainNames(web.node.netns, "filter")).filter((c) => c.startsWith("cali-po-"));
    const rules = (await Promise.all(egress.map((c) => chainRules(web.node.netns, "filter", c)))).flat();
    const blockForm =
      TEST_DATAPLANE === "iptables"
        ? /--match-set cali40n:\S+ dst,dst -m mark --mark 0x80000\/0x80000/
        : /^(?=.*ip daddr \. meta l4proto \. \S+ dport @cali40n\.)(?=.*meta mark & 0x00080000 == 0x00080000)/;
    assert.ok(
      rules.some((r) => blockForm.test(r)),
      `an egress rule matching ${blockForm}:\n${rules.join("\n")}`,
    );
    assert.equal(await topo.probe(clients.peer137, web, IN_LIST, "tcp", 1000), true);
    // web listens on PORTS[0] and its ingress allows every peer there (block3, without egress policy, gets in):
    // only peer137's egress stops it.
    assert.equal(await topo.probe(clients.peer137, web, PORTS[0], "tcp", 600), false);
    assert.equal(await topo.probe(clients.block3, web, PORTS[0], "tcp", 1000), true);
  });

  test("a pod that is no peer is dropped", async () => {
    assert.equal(await topo.probe(clients.nopeer, web, IN_LIST, "tcp", 600), false);
  });

  test("an ipBlock peer reaches the listed port; its except is dropped", async () => {
    assert.equal(await topo.probe(clients.block3, web, IN_LIST, "tcp", 1000), true);
    assert.equal(await topo.probe(clients["block3-except"], web, IN_LIST, "tcp", 600), false);
  });
});
