// Hostile input in the kernel: a tenant's network set pushes an IP set over
// FELIX_MAXIPSETSIZE (4 here) while the agent runs. The set is not written
// (no failed restore, no stalled applies): the allow rule using it fails
// closed and the deny rule using it denies everyone, by real connections;
// another namespace's policy change made meanwhile still lands; the set comes
// back when the network set shrinks. Then a policy over FELIX_POLICYMAXRULES
// (30 here): it fails closed whole, and fits again once it shrinks.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Background, exec, requirementsMissing, Topology, type TopoPod } from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { clusterManifests, eventually, felixDaemon, ManifestDir } from "./cluster.js";
import { TEST_DATAPLANE } from "./dataplane-mode.js";

const skip = requirementsMissing();
const MAX = 4;
const MAX_RULES = 30;

/** prod's partners: `n` nets next to the partner pod (1 + n members). */
const partners = (n: number) => [
  {
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkSet",
    metadata: { name: "partners", namespace: "prod", labels: { role: "partner" } },
    spec: { nets: Array.from({ length: n }, (_, i) => `10.200.${i}.0/24`) },
  },
];

const prodPolicies = [
  {
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkPolicy",
    metadata: { name: "web-from-partners", namespace: "prod" },
    spec: {
      selector: "pod == 'web'",
      types: ["Ingress"],
      ingress: [{ action: "Allow", source: { selector: "role == 'partner'" } }],
    },
  },
  {
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkPolicy",
    metadata: { name: "api-not-partners", namespace: "prod" },
    spec: {
      selector: "pod == 'api'",
      types: ["Ingress"],
      ingress: [{ action: "Deny", source: { selector: "role == 'partner'" } }, { action: "Allow" }],
    },
  },
];

/**
 * other/web2's ingress: none (`from` undefined: it denies all), or from the
 * client and `blocks` unrelated ipBlocks (1 + blocks peer rules in one chain).
 */
const otherPolicy = (from?: { blocks: number }) => [
  {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "web2", namespace: "other" },
    spec: {
      podSelector: { matchLabels: { pod: "web2" } },
      policyTypes: ["Ingress"],
      ingress: from
        ? [
            {
              from: [
                { podSelector: { matchLabels: { pod: "client" } } },
                ...Array.from({ length: from.blocks }, (_, i) => ({ ipBlock: { cidr: `10.201.${i}.0/24` } })),
              ],
            },
          ]
        : [],
    },
  },
];

describe(
  `hostile input: an IP set over FELIX_MAXIPSETSIZE, a policy over FELIX_POLICYMAXRULES, in the kernel (${TEST_DATAPLANE})`,
  skipIf(skip),
  () => {
    let topo: Topology;
    let dir: ManifestDir;
    let daemon: Background;
    const pods: Record<string, TopoPod> = {};
    const reaches = (from: string, to: string, ok: boolean) =>
      eventually(
        () => topo.probe(pods[from], pods[to], 80, "tcp", 400),
        (r) => r === ok,
        20_000,
      );
    /** Our IP sets as the kernel holds them (headers and members). */
    const kernelSets = () =>
      TEST_DATAPLANE === "iptables"
        ? exec(pods.web.node.netns, "ipset", "save")
        : exec(pods.web.node.netns, "nft", "list", "table", "ip", "calico");

    before(async () => {
      await Topology.cleanupStale("fx");
      topo = await Topology.create();
      const n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" });
      const add = async (namespace: string, name: string, ip: string, labels: Record<string, string> = {}) => {
        pods[name] = await topo.addPod(n1, { namespace, name, ip, servers: { tcp: [80] }, labels });
      };
      await add("prod", "web", "10.65.1.2");
      await add("prod", "api", "10.65.1.3");
      await add("prod", "partner", "10.65.1.4", { role: "partner" });
      await add("prod", "plain", "10.65.1.5");
      await add("other", "web2", "10.65.1.6");
      await add("other", "client", "10.65.1.7");
      dir = new ManifestDir();
      dir.write("cluster.yaml", clusterManifests(topo));
      dir.write("prod.yaml", prodPolicies);
      dir.write("partners.yaml", partners(2));
      dir.write("other.yaml", otherPolicy());
      daemon = felixDaemon(topo, dir.path, n1, {
        FELIX_MAXIPSETSIZE: String(MAX),
        FELIX_POLICYMAXRULES: String(MAX_RULES),
      });
    });

    after(async () => {
      await daemon?.kill();
      await topo?.destroy();
      dir?.destroy();
    });

    test("under the bound: the partner reaches web and not api; the others reach api", async () => {
      await reaches("partner", "web", true);
      await reaches("plain", "web", false);
      await reaches("partner", "api", false);
      await reaches("plain", "api", true);
      await reaches("client", "web2", false);
      if (TEST_DATAPLANE === "iptables") {
        const creates = (await kernelSets()).split("\n").filter((l) => l.startsWith("create cali"));
        assert.ok(creates.length > 0 && creates.every((l) => l.includes(`maxelem ${MAX} `)), creates.join("\n"));
      }
    });

    test("over it: the allow fails closed, the deny denies everyone, and other changes still land", async () => {
      dir.write("partners.yaml", partners(MAX + 2));
      await reaches("partner", "web", false);
      await reaches("plain", "api", false);
      await reaches("partner", "api", false);
      // other's policy change, made while prod's set is over the bound.
      dir.write("other.yaml", otherPolicy({ blocks: 0 }));
      await reaches("client", "web2", true);
      assert.doesNotMatch(await kernelSets(), /10\.200\./, "no set of ours holds the partners' nets");
      const out = daemon.output();
      assert.match(out, /IP set cali40s:\S+ \(selector .*partner.*more than FELIX_MAXIPSETSIZE \(4\)/);
      assert.doesNotMatch(out, /dataplane apply failed|restore failed|Hash is full/);
    });

    test("back under the bound: the set is programmed again", async () => {
      dir.write("partners.yaml", partners(1));
      await reaches("partner", "web", true);
      await reaches("plain", "api", true);
      await reaches("partner", "api", false);
      assert.match(await kernelSets(), /10\.200\.0\.0\/24/);
      assert.doesNotMatch(daemon.output(), /dataplane apply failed|restore failed|Hash is full/);
    });

    test("a policy over FELIX_POLICYMAXRULES fails closed whole; it fits again once it shrinks", async () => {
      dir.write("other.yaml", otherPolicy({ blocks: MAX_RULES + 10 }));
      await reaches("client", "web2", false);
      assert.match(daemon.output(), /knp\.default\.web2 .*more than FELIX_POLICYMAXRULES \(30\) rules/);
      await reaches("partner", "web", true); // the rest of the node is untouched
      dir.write("other.yaml", otherPolicy({ blocks: 5 }));
      await reaches("client", "web2", true);
      assert.doesNotMatch(daemon.output(), /dataplane apply failed|restore failed/);
    });
  },
);
