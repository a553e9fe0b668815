// Without FELIX_NFTABLESMODE the FelixConfigurations choose the agent's dataplane, and so the graph's
// rule renderer. The Kubernetes datastore lists them before any other kind (configFirst), so the agent
// decides at once and the graph takes the rest of the first batch in parts as the LIST pages come,
// instead of the whole cluster being held until the in-sync point.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { chainList } from "../../../model/tables.js";
import { isConfigListed, isPartial } from "../../../src/datastore/batch.js";
import { KubernetesDatastore } from "../../../src/datastore/kubernetes.js";
import { NftablesModeSetting, readNftablesSetting, resolveNftablesMode } from "../../../src/nftables-mode.js";
import { ruleRendererFor } from "../../../src/rule-renderers.js";
import { type FakeApiServer, kubeConfigObject, startFakeApiServer } from "../../helpers/fake-apiserver.js";

const log = pino({ level: "silent" });
const PODS = 1200; // more than two parts of 500

function datastore(server: FakeApiServer): KubernetesDatastore {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions(kubeConfigObject(server));
  return new KubernetesDatastore({ kubeConfig: kc, log, batchMs: 2, minBackoffMs: 20, maxBackoffMs: 200 });
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

      // As the daemon does: parts are ingested as they come, the complete batch computes the snapshot.
      const graph = new CalcGraph({ nodeName: "node1", ruleRenderer: ruleRendererFor(policy) });
      const seen: { kinds: string[]; partial: boolean; configListed: boolean }[] = [];
      const state = await new Promise<DesiredState>((resolve, reject) => {
        read.rest.subscribe({
          next: (b: ResourceUpdate[]) => {
            seen.push({
              kinds: [...new Set(b.map((u) => u.kind))],
              partial: isPartial(b),
              configListed: isConfigListed(b),
            });
            if (isPartial(b)) graph.ingest(b);
            else resolve(graph.apply(b));
          },
          error: reject,
        });
      });
      assert.deepEqual(seen[0], { kinds: ["FelixConfiguration"], partial: true, configListed: true });
      const complete = seen.findIndex((s) => !s.partial);
      assert.equal(complete, seen.length - 1, "one complete batch, the last");
      assert.ok(complete >= 3, `the pods came in parts before the in-sync point (${seen.length} batches)`);
      assert.equal(Object.keys(state.endpoints).length, PODS);
      // The rules are nft statements, not iptables-save text.
      const rules = chainList(state.iptables.ipv4.filter).flatMap((c) => c.rules.map((r) => r.text));
      assert.ok(rules.length > 0);
      for (const r of rules) assert.doesNotMatch(r, /(^|\s)-[jmAI] /, r);
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
});
