// Without FELIX_NFTABLESMODE the FelixConfigurations choose the agent's dataplane, and so the graph's
// rule renderer. The Kubernetes datastore lists them before any other kind (configFirst), so the agent
// decides at once and the graph takes the rest of the first batch in parts as the LIST pages come,
// instead of the whole cluster being held until the in-sync point (src/cli/felix.ts wires the same).
// And the two-stage cold start (src/nat-first.ts) on this datastore: every other kind is LISTed at
// once, the pages come interleaved in parts; the nat kinds go into the graph as they come, the pods
// and policies wait; the first kernel write, once every LIST is done, is the nat table alone.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { FakeIptablesBackend } from "../../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../../iptables/table-syncer.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { chainNames } from "../../../model/tables.js";
import { FakeNftBackend } from "../../../nftables/fake-backend.js";
import { NFT_RULES } from "../../../nftables/render.js";
import { NftTableSyncer } from "../../../nftables/table-syncer.js";
import { Daemon } from "../../../src/daemon.js";
import { type ApplyResult, Dataplane } from "../../../src/dataplane.js";
import { isConfigListed, isPartial } from "../../../src/datastore/batch.js";
import { KubernetesDatastore } from "../../../src/datastore/kubernetes.js";
import { NftablesModeSetting, readNftablesSetting, resolveNftablesMode } from "../../../src/nftables-mode.js";
import { type FakeApiServer, kubeConfigObject, startFakeApiServer } from "../../helpers/fake-apiserver.js";

const log = pino({ level: "silent" });
// More than two parts of PAGE: the pods come in several parts. (Local pods on the
// in-memory nft kernel: 1,200 of them at pages of 500 took 94 s.)
const PAGE = 50;
const PODS = 120;

function datastore(server: FakeApiServer): KubernetesDatastore {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions(kubeConfigObject(server));
  return new KubernetesDatastore({
    kubeConfig: kc,
    log,
    batchMs: 2,
    minBackoffMs: 20,
    maxBackoffMs: 200,
    pageSize: PAGE,
    partSize: PAGE,
  });
}

function populate(server: FakeApiServer): void {
  server.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "a" } });
  for (let i = 0; i < PODS; i++) {
    const ip = `10.65.${i >> 8}.${i & 255}`;
    server.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `p${i}`, namespace: "a", labels: { app: "x" } },
      spec: { nodeName: "node1", containers: [{ name: "c" }] },
      status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
    });
  }
  server.create({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "deny", namespace: "a" },
    spec: { podSelector: {}, policyTypes: ["Ingress"] },
  });
}

/** The LIST requests (not watches) the server saw, by path, in order. */
const lists = (server: FakeApiServer) =>
  server.requests.filter((r) => r.method === "GET" && !r.watch).map((r) => r.path);

describe("Kubernetes datastore, FelixConfigurations first (FELIX_NFTABLESMODE unset)", () => {
  let server: FakeApiServer;
  before(async () => {
    server = await startFakeApiServer();
    populate(server);
  });
  after(async () => {
    await server.close();
  });

  test("nftablesMode from a FelixConfiguration picks the nft renderer before the other kinds are listed; the graph gets the first batch in parts", async () => {
    server.create({
      apiVersion: "crd.projectcalico.org/v1",
      kind: "FelixConfiguration",
      metadata: { name: "default" },
      spec: { nftablesMode: "Enabled" },
    });
    server.requests.length = 0;
    const setting = new NftablesModeSetting("node1", {});
    const read = await readNftablesSetting(datastore(server).updates({ partial: true, configFirst: true }), setting);
    try {
      // Decided on the FelixConfigurations alone: nothing else was listed yet.
      assert.equal(setting.value, "Enabled");
      const policy = resolveNftablesMode(setting.value, false);
      assert.equal(policy, "nftables");
      assert.deepEqual(lists(server), ["/apis/crd.projectcalico.org/v1/felixconfigurations"]);

      // The daemon, programming an in-memory nft kernel: parts are ingested as they come, the complete
      // batch computes the snapshot.
      const v4 = new FakeNftBackend("ip");
      const dataplane = new Dataplane({
        nft: { ipv4: new NftTableSyncer(v4, { retries: 0 }), ipv6: new NftTableSyncer(new FakeNftBackend("ip6", v4)) },
      });
      const parts: { kinds: string[]; configListed: boolean }[] = [];
      let batches = 0;
      let daemon: Daemon | undefined;
      const applied = new Promise<ApplyResult | Error>((resolve) => {
        daemon = new Daemon({
          graph: { nodeName: "node1", ruleRenderer: NFT_RULES },
          updates: read.rest,
          dataplane,
          log,
          observer: {
            part: (b) => parts.push({ kinds: [...new Set(b.map((u) => u.kind))], configListed: isConfigListed(b) }),
            batch: () => batches++,
            applied: (_s, outcome) => resolve(outcome),
          },
          refreshIntervalSecs: 0,
        });
        daemon.start();
      });
      try {
        const outcome = await applied;
        assert.ok(!(outcome instanceof Error), String(outcome));
        assert.deepEqual(parts[0], { kinds: ["FelixConfiguration"], configListed: true });
        assert.ok(parts.length >= 3, `the pods came in parts before the in-sync point (${parts.length} parts)`);
        assert.equal(batches, 1, "one complete batch");
        assert.equal(Object.keys(daemon!.graph.current.endpoints).length, PODS);
        // Written as nft statements into our nft table, nothing to iptables.
        assert.ok((outcome.nftBytes ?? 0) > 0 && outcome.iptablesBytes === 0);
        assert.match(v4.transactions.join("\n"), /chain filter-cali-pi-/);
      } finally {
        await daemon?.stop();
      }
    } finally {
      read.stop();
      server.delete("FelixConfiguration", "", "default");
    }
  });

  test("without FelixConfigurations the setting is Auto and the rest is listed all the same", async () => {
    server.requests.length = 0;
    const setting = new NftablesModeSetting("node1", {});
    const read = await readNftablesSetting(datastore(server).updates({ partial: true, configFirst: true }), setting);
    try {
      assert.equal(setting.value, "Auto");
      let objects = 0;
      await new Promise<void>((resolve, reject) => {
        read.rest.subscribe({
          next: (b: ResourceUpdate[]) => {
            objects += b.length;
            if (!isPartial(b)) resolve();
          },
          error: reject,
        });
      });
      assert.equal(objects, PODS + 2, "the namespace, the pods, the policy");
      assert.equal(lists(server)[0], "/apis/crd.projectcalico.org/v1/felixconfigurations");
    } finally {
      read.stop();
    }
  });

  test("two stages (iptables proxy mode): the first write is the nat table; the end state has every kind", async () => {
    const SERVICES = 30;
    const svc = (i: number) => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `s${i}`, namespace: "a" },
      spec: { clusterIP: `10.96.0.${i + 10}`, ports: [{ name: "http", port: 80, protocol: "TCP" }] },
    });
    const slice = (i: number) => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `s${i}-1`, namespace: "a", labels: { "kubernetes.io/service-name": `s${i}` } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 80, protocol: "TCP" }],
      endpoints: [{ addresses: [`10.65.0.${i + 2}`], nodeName: "node1", conditions: { ready: true } }],
    });
    for (let i = 0; i < SERVICES; i++) {
      server.create(svc(i));
      server.create(slice(i));
    }
    const sets = new FakeIpsetBackend();
    const v4 = new FakeIptablesBackend(4, "legacy", sets);
    const dataplane = new Dataplane({ ipsets: new IpsetSyncer(sets), ipv4: new TableSyncer(v4) });
    let parts = 0;
    let daemon: Daemon | undefined;
    const applied = new Promise<ApplyResult | Error>((resolve) => {
      daemon = new Daemon({
        graph: { nodeName: "node1", proxyMode: "iptables" },
        updates: datastore(server).updates({ partial: true }),
        dataplane,
        log,
        observer: { part: () => parts++, batch: () => {}, applied: (_s, outcome) => resolve(outcome) },
        refreshIntervalSecs: 0,
        natFirst: true,
      });
      daemon.start();
    });
    try {
      const outcome = await applied;
      assert.ok(!(outcome instanceof Error), String(outcome));
      assert.ok(parts >= 3, `the first batch came in parts (${parts})`);
      const tables = v4.restores.map((r) => [...r.matchAll(/^\*(\w+)$/gm)].map((m) => m[1]));
      assert.deepEqual(tables[0], ["nat"]);
      assert.ok(tables.slice(1).some((t) => t.includes("filter")));
      const state = daemon!.graph.current;
      assert.equal(Object.keys(state.endpoints).length, PODS);
      assert.equal(chainNames(state.iptables.ipv4.nat).filter((c) => c.startsWith("cali-SVC-")).length, SERVICES);
      assert.ok(chainNames(state.iptables.ipv4.filter).some((c) => c.startsWith("cali-pi-")));
      assert.equal([...v4.tables.get("nat")!.keys()].filter((c) => c.startsWith("cali-SVC-")).length, SERVICES);
    } finally {
      await daemon?.stop();
      for (let i = 0; i < SERVICES; i++) {
        server.delete("EndpointSlice", "a", `s${i}-1`);
        server.delete("Service", "a", `s${i}`);
      }
    }
  });
});
