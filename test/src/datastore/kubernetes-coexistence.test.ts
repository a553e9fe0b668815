// Coexistence through the Kubernetes datastore (the fake API server and the
// real client library): a Service that gains service.kubernetes.io/service-proxy-name
// leaves the DesiredState, and comes back when the label goes, in both proxy modes.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import type { ProxyMode } from "../../../calc-graph/services/model.js";
import { servicePortOf } from "../../../calc-graph/services/port-shards.js";
import { KubernetesDatastore } from "../../../src/datastore/kubernetes.js";
import { type FakeApiServer, kubeConfigObject, startFakeApiServer } from "../../helpers/fake-apiserver.js";

const service = (labels: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "dns", namespace: "kube-system", labels },
  spec: { clusterIP: "10.96.0.10", ports: [{ name: "dns", port: 53, protocol: "UDP" }] },
});

async function until(get: () => DesiredState, pred: (s: DesiredState) => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred(get())) {
    if (Date.now() - t0 > 5000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("coexistence with another service proxy (Kubernetes datastore)", () => {
  let server: FakeApiServer;
  before(async () => {
    server = await startFakeApiServer();
  });
  after(async () => {
    await server.close();
  });

  for (const mode of ["iptables", "ipvs"] as ProxyMode[]) {
    test(`proxy mode ${mode}: the label takes the Service out, removing it brings it back`, async () => {
      server.create(service({ "k8s-app": "kube-dns" }));
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions(kubeConfigObject(server));
      const graph = new CalcGraph({ nodeName: "node1", proxyMode: mode });
      let state = graph.current;
      const sub = new KubernetesDatastore({ kubeConfig: kc, log: pino({ level: "silent" }), batchMs: 2 })
        .updates()
        .subscribe((b) => {
          state = graph.apply(b);
        });
      const ours = (s: DesiredState) => servicePortOf(s.services, "kube-system/dns:dns/udp/v4") !== undefined;
      try {
        await until(() => state, ours, "the service");
        server.update(service({ "k8s-app": "kube-dns", "service.kubernetes.io/service-proxy-name": "other" }));
        await until(
          () => state,
          (s) => !ours(s),
          "the labelled service to go",
        );
        server.update(service({ "k8s-app": "kube-dns" }));
        await until(() => state, ours, "the service to come back");
        assert.ok(ours(state));
      } finally {
        sub.unsubscribe();
        server.delete("Service", "kube-system", "dns");
      }
    });
  }
});
