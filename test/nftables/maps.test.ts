// The table syncer with kube-proxy's maps and affinity sets (FELIX_PROXYMODE=
// nftables), desired states from the real graph, against the fake nft (which
// refuses a map element naming a missing chain and a chain a map element
// still names). A change writes map elements one by one and only the chains
// that changed; the kernel's own affinity elements are never drift.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { natShardName, natShardOf } from "../../model/nat-shards.js";
import { FakeNftBackend } from "../../nftables/fake-backend.js";
import { natTableName } from "../../nftables/names.js";
import { mapKeyText, nftObjectSpec, verdictText } from "../../nftables/objects.js";
import { NFT_RULES } from "../../nftables/render.js";
import { NftTableSyncer } from "../../nftables/table-syncer.js";
import { deleted, node } from "../calc-graph/fixtures.js";
import { sliceUpdate, svcUpdate } from "../calc-graph/services/fixtures.js";
import { ourView } from "./fixtures.js";

const nodes = [node("node1", "10.65.1.0/24", "172.18.0.1"), node("node2", "10.65.2.0/24", "172.18.0.2")];
const web = svcUpdate("web", {
  type: "NodePort",
  clusterIP: "10.96.0.10",
  sessionAffinity: "ClientIP",
  ports: [{ name: "http", port: 80, nodePort: 30080 }],
});
// In web's nat shard (3): a change there is O(change); "other" hashes to a shard of its own (7).
const blog = svcUpdate("blog", { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80 }] });
const other = svcUpdate("other", { clusterIP: "10.96.0.30", ports: [{ name: "http", port: 80 }] });

async function setUp() {
  const g = new CalcGraph({ nodeName: "node1", proxyMode: "nftables", ruleRenderer: NFT_RULES });
  const nft = new FakeNftBackend("ip");
  const syncer = new NftTableSyncer(nft, { sleep: async () => {} });
  const apply = (s: DesiredState) => syncer.apply(s.iptables.ipv4, s.ipsets, s.nftObjects);
  const s0 = g.apply([...nodes, web, sliceUpdate("web-1", "web", [{ ip: "10.65.1.5", node: "node1" }])]);
  await apply(s0);
  return { g, nft, syncer, apply };
}

// Each service's chains, map elements and affinity sets are in its nat shard's table (model/nat-shards.ts).
const WEB = natTableName(natShardOf("demo/web"));
const OTHER = natTableName(natShardOf("demo/other"));
const otherIPs = natShardName("service-ips", natShardOf("demo/other"));
const webMap = (m: string) => natShardName(m, natShardOf("demo/web"));

const last = (nft: FakeNftBackend) => nft.transactions.at(-1) ?? "";
const affinitySets = async (nft: FakeNftBackend) =>
  [...(await ourView(nft))!.sets.keys()].filter((n) => n.startsWith("affinity-"));

describe("nft syncer: kube-proxy's maps and affinity sets", () => {
  test("cold start declares the five maps (and the service's shard's pair) and loads their elements in one transaction", async () => {
    const { nft } = await setUp();
    assert.equal(nft.transactions.length, 1);
    const v = (await ourView(nft))!;
    for (const m of [
      "service-ips",
      "service-nodeports",
      "no-endpoint-services",
      "no-endpoint-nodeports",
      "firewall-ips",
      webMap("service-ips"),
      webMap("service-nodeports"),
    ])
      assert.ok(v.sets.get(m)?.type.endsWith(" : verdict"), m);
    assert.deepEqual(
      [...v.sets.get(webMap("service-ips"))!.elements].map((e) => e.split(" : ")[0]),
      ["10.96.0.10 . tcp . 80"],
    );
    assert.deepEqual([...v.sets.get("service-ips")!.elements], []);
  });

  test("an endpoint added: its chain, the service chain and its affinity set; no map element, no dispatch chain", async () => {
    const { g, nft, apply } = await setUp();
    const r = await apply(
      g.apply([
        sliceUpdate("web-1", "web", [
          { ip: "10.65.1.5", node: "node1" },
          { ip: "10.65.2.5", node: "node2" },
        ]),
      ]),
    );
    const script = last(nft);
    assert.doesNotMatch(script, /element/);
    assert.doesNotMatch(script, /nat-services|endpoints-check/);
    assert.match(
      script,
      new RegExp(
        `^add set ip ${WEB} affinity-\\S+__10\\.65\\.2\\.5\\/8080 \\{ type ipv4_addr; size 65535; flags dynamic,timeout; timeout 10800s; \\}$`,
        "m",
      ),
    );
    assert.match(script, new RegExp(`^flush chain ip ${WEB} nat-service-\\S+-demo\\/web\\/tcp\\/http$`, "m"));
    assert.equal(r.chainsWritten, 2);
  });

  test("a new service: one map element after its chains; removed: the element goes before its chains", async () => {
    const { g, nft, apply } = await setUp();
    await apply(g.apply([blog, sliceUpdate("blog-1", "blog", [{ ip: "10.65.2.9", node: "node2" }])]));
    let lines = last(nft).trim().split("\n");
    const el = lines.findIndex((l) =>
      l.startsWith(`add element ip ${WEB} ${webMap("service-ips")} { 10.96.0.20 . tcp . 80 : goto nat-service-`),
    );
    assert.ok(
      el > lines.findIndex((l) => l.startsWith(`add chain ip ${WEB} nat-service-`) && l.includes("demo/blog")),
      lines.join("\n"),
    );
    // Its map element and its cluster IP in the cluster-ips set, nothing else.
    assert.deepEqual(
      lines.filter((l) => l.includes("element")).map((l) => l.split(" ")[4]),
      ["cluster-ips", webMap("service-ips")],
      lines.join("\n"),
    );
    assert.ok(lines.includes("add element ip calico cluster-ips { 10.96.0.20 }"), lines.join("\n"));
    assert.doesNotMatch(last(nft), /nat-services/);

    await apply(g.apply([deleted(blog)]));
    lines = last(nft).trim().split("\n");
    const del = lines.indexOf(`delete element ip ${WEB} ${webMap("service-ips")} { 10.96.0.20 . tcp . 80 }`);
    assert.ok(del >= 0 && del < lines.findIndex((l) => l.startsWith("delete chain")), lines.join("\n"));
  });

  test("a service alone in its nat shard: the shard's table comes whole with it (base chains after shard 0's) and goes with it", async () => {
    const { g, nft, apply } = await setUp();
    assert.equal(await nft.list(OTHER), undefined);
    await apply(g.apply([other, sliceUpdate("other-1", "other", [{ ip: "10.65.2.9", node: "node2" }])]));
    const script = last(nft);
    assert.match(script, new RegExp(`^table ip ${OTHER} \\{$`, "m"));
    const k = natShardOf("demo/other");
    assert.match(
      script,
      new RegExp(`chain nat-PREROUTING-${k} \\{\\n\\t\\ttype nat hook prerouting priority dstnat \\+ ${k};`),
    );
    assert.match(
      script,
      new RegExp(`chain nat-OUTPUT-NODEPORTS-${k} \\{\\n\\t\\ttype nat hook output priority ${-100 + 8 + k};`),
    );
    assert.match(
      script,
      new RegExp(`${otherIPs} \\{[^}]*elements = \\{ 10\\.96\\.0\\.30 \\. tcp \\. 80 : goto nat-service-`),
    );
    // The mark chain its endpoint chains jump to is copied in (a jump cannot leave its table).
    assert.match(script, /chain nat-mark-for-masquerade \{/);
    assert.doesNotMatch(script, /^add element ip calico-nat /m);
    await apply(g.apply([deleted(other)]));
    assert.match(last(nft), new RegExp(`^delete table ip ${OTHER}$`, "m"));
    assert.equal(await nft.list(OTHER), undefined);
  });

  test("endpoints gone: the frontend moves from service-ips to no-endpoint-services (reject), chains and affinity sets go", async () => {
    const { g, nft, apply } = await setUp();
    await apply(g.apply([sliceUpdate("web-1", "web", null)]));
    const v = (await ourView(nft))!;
    // Web was its shard's only service with a nat chain: the shard's table (and its maps) went with them.
    assert.equal(v.sets.get(webMap("service-ips")), undefined);
    assert.equal(await nft.list(WEB), undefined);
    assert.deepEqual(
      [...v.sets.get("no-endpoint-services")!.elements],
      ["10.96.0.10 . tcp . 80 : goto filter-reject-chain"],
    );
    assert.deepEqual([...v.sets.get("no-endpoint-nodeports")!.elements], ["tcp . 30080 : goto filter-reject-chain"]);
    assert.deepEqual(await affinitySets(nft), []);
    assert.deepEqual(
      [...v.chains.keys()].filter((c) => c.includes("demo/web")),
      [],
    );
  });

  test("the kernel's affinity elements are not drift: a refresh leaves them; a map element removed behind our back is put back alone", async () => {
    const { nft, syncer, apply, g } = await setUp();
    const [aff] = await affinitySets(nft);
    await nft.transact(
      `add element ip ${WEB} ${aff} { 192.0.2.7 }\ndelete element ip ${WEB} ${webMap("service-nodeports")} { tcp . 30080 }\n`,
    );
    syncer.invalidate();
    const r = await apply(g.apply([]));
    assert.equal(
      last(nft),
      `add element ip ${WEB} ${webMap("service-nodeports")} { tcp . 30080 : goto nat-external-AXK6CI2C-demo/web/tcp/http }\n`,
    );
    assert.equal(r.linesWritten, 1);
    assert.deepEqual([...(await ourView(nft))!.sets.get(aff)!.elements], ["192.0.2.7"]);
    syncer.invalidate();
    assert.equal((await apply(g.apply([]))).linesWritten, 0);
  });

  test("a changed affinity timeout is re-declared in place: no set deleted, no chain rewritten", async () => {
    const { g, nft, apply } = await setUp();
    const web2 = svcUpdate("web", {
      type: "NodePort",
      clusterIP: "10.96.0.10",
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
      ports: [{ name: "http", port: 80, nodePort: 30080 }],
    });
    await apply(g.apply([web2]));
    assert.doesNotMatch(last(nft), /delete set|chain/);
    assert.match(
      last(nft),
      new RegExp(
        `^add set ip ${WEB} affinity-\\S+ \\{ type ipv4_addr; size 65535; flags dynamic,timeout; timeout 60s; \\}$`,
        "m",
      ),
    );
    const [aff] = await affinitySets(nft);
    assert.equal((await ourView(nft))!.sets.get(aff)?.timeout, 60);
  });

  test("attack: a map key, a verdict's chain or an object name that could leave its token is refused, never written", () => {
    const m = { key: "daddr.proto.dport", family: 4, table: "nat" } as const;
    for (const key of [
      "10.0.0.1 }; flush ruleset",
      "10.0.0.1,tcp:80 }",
      "10.0.0.1,icmp:1",
      "10.0.0.1,tcp:70000",
      "tcp:80",
    ])
      assert.throws(() => mapKeyText(key, m), key);
    assert.equal(mapKeyText("10.0.0.1,tcp:80", m), "10.0.0.1 . tcp . 80");
    assert.throws(() => mapKeyText("10.0.0.1,tcp:80", { ...m, key: "proto.dport" }));
    for (const chain of ["x }", "x; flush ruleset", "x\ny", "a b"])
      assert.throws(() => verdictText({ kind: "goto", chain }, m), chain);
    for (const name of ["affinity-x }", "a;b", "-a", ""])
      assert.throws(() => nftObjectSpec({ kind: "affinitySet", name, family: 4, timeoutSeconds: 10 }), name);
    assert.throws(() => nftObjectSpec({ kind: "affinitySet", name: "a", family: 4, timeoutSeconds: 0 }));
  });
});
