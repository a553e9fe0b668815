// ClusterNetworkPolicy through the Kubernetes datastore against the fake API
// server: list-watched from policy.networking.k8s.io/v1alpha2; a cluster
// without the CRD (404) is in sync without it, and CNPs flow in once it is
// installed; edits and deletes reach the chains.

import assert from "node:assert/strict";
import { test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { chainList } from "../../../model/tables.js";
import { KubernetesDatastore } from "../../../src/datastore/kubernetes.js";
import { kubeConfigObject, startFakeApiServer } from "../../helpers/fake-apiserver.js";

const log = pino({ level: "silent" });

const cnp = (action: string) => ({
  apiVersion: "policy.networking.k8s.io/v1alpha2",
  kind: "ClusterNetworkPolicy",
  metadata: { name: "deny-b" },
  spec: {
    tier: "Admin",
    priority: 5,
    subject: { namespaces: {} },
    ingress: [{ action, from: [{ namespaces: { matchLabels: { team: "b" } } }] }],
  },
});

const policiesOf = (s: DesiredState) => s.endpoints["a/web"]?.ingressPolicies ?? [];

test("ClusterNetworkPolicy CRD missing: in sync without it (404 is empty), its objects flow in once installed", async () => {
  const server = await startFakeApiServer({ cnpCrd: false });
  server.create({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "node1" },
    spec: { podCIDR: "10.65.1.0/24" },
    status: { addresses: [{ type: "InternalIP", address: "192.168.0.1" }] },
  });
  server.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "a" } });
  server.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "a" },
    spec: { nodeName: "node1", containers: [{ name: "c" }] },
    status: { podIP: "10.65.1.5", podIPs: [{ ip: "10.65.1.5" }] },
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions(kubeConfigObject(server));
  const graph = new CalcGraph({ nodeName: "node1" });
  let state = graph.current;
  let batches = 0;
  const sub = new KubernetesDatastore({ kubeConfig: kc, log, batchMs: 2, minBackoffMs: 20, crdRetryMs: 50 })
    .updates()
    .subscribe((b) => {
      batches++;
      state = graph.apply(b);
    });
  const until = async (pred: () => boolean, what: string) => {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > 5000) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    await until(() => batches > 0 && state.endpoints["a/web"] !== undefined, "the in-sync batch");
    const lists = server.requests.filter((q) => q.path.startsWith("/apis/policy.networking.k8s.io/") && !q.watch);
    assert.ok(
      lists.some((q) => q.status === 404),
      "the CRD's LIST was answered 404",
    );
    assert.deepEqual(policiesOf(state), []);
    server.cnpCrd = true;
    server.create(cnp("Deny"));
    await until(() => policiesOf(state).includes("kcnp/kcnp.kube-admin.deny-b"), "the CNP after the CRD appeared");
    const chain = () => chainList(state.iptables.ipv4.filter).find((c) => c.name.startsWith("cali-pi-"));
    assert.match(
      chain()
        ?.rules.map((r) => r.text)
        .join("\n") ?? "",
      /-j DROP/,
    );
    server.update(cnp("Pass"));
    await until(
      () =>
        /0x20000\/0x20000/.test(
          chain()
            ?.rules.map((r) => r.text)
            .join("\n") ?? "",
        ),
      "the rule now passes",
    );
    server.delete("ClusterNetworkPolicy", "deny-b");
    await until(() => policiesOf(state).length === 0, "the CNP gone");
  } finally {
    sub.unsubscribe();
    await server.close();
  }
});
