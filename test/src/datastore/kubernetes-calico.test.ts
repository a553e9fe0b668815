// Calico's CRDs through the Kubernetes datastore against the fake API
// server: IPPool changes reach the routes; CRDs that are not installed (404)
// do not hold up the in-sync barrier and are picked up once installed.

import assert from "node:assert/strict";
import { test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { ipSetOf } from "../../../model/ipset-shards.js";
import { chainOf } from "../../../model/tables.js";
import { KubernetesDatastore } from "../../../src/datastore/kubernetes.js";
import { type FakeApiServer, kubeConfigObject, startFakeApiServer } from "../../helpers/fake-apiserver.js";

const log = pino({ level: "silent" });

function run(server: FakeApiServer) {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions(kubeConfigObject(server));
  const graph = new CalcGraph({ nodeName: "node1" });
  const h = { state: graph.current, batches: 0 };
  const sub = new KubernetesDatastore({
    kubeConfig: kc,
    log,
    batchMs: 2,
    minBackoffMs: 20,
    maxBackoffMs: 200,
    crdRetryMs: 50,
  })
    .updates()
    .subscribe((b) => {
      h.batches++;
      h.state = graph.apply(b);
    });
  const until = async (pred: (s: DesiredState) => boolean, what: string) => {
    const t0 = Date.now();
    while (!pred(h.state)) {
      if (Date.now() - t0 > 5000) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { h, until, close: () => sub.unsubscribe() };
}

const node = (name: string, cidr: string, ip: string) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: {
    name,
    annotations: {
      "projectcalico.org/IPv4Address": `${ip}/24`,
      "projectcalico.org/IPv4VXLANTunnelAddr": cidr.replace(/\/\d+$/, ""),
    },
  },
  spec: { podCIDR: cidr },
  status: { addresses: [{ type: "InternalIP", address: ip }] },
});
const pool = (vxlanMode: string) => ({
  apiVersion: "crd.projectcalico.org/v1",
  kind: "IPPool",
  metadata: { name: "default-ipv4-ippool" },
  spec: {
    cidr: "10.244.0.0/16",
    blockSize: 24,
    ipipMode: "Never",
    vxlanMode,
    natOutgoing: true,
    nodeSelector: "all()",
  },
});
const remoteRoute = (s: DesiredState) => s.routes["10.244.2.0/24"];

test("Calico CRDs: an IPPool and its mode changes reach the routes, tunnels and natOutgoing sets", async () => {
  const server = await startFakeApiServer();
  server.create(node("node1", "10.244.1.0/24", "172.31.250.1"));
  server.create(node("node2", "10.244.2.0/24", "172.31.250.2"));
  server.create(pool("Always"));
  const r = run(server);
  try {
    await r.until((s) => remoteRoute(s)?.dev === "vxlan.calico", "a VXLAN route");
    assert.equal(r.h.batches, 1, "the pool was in the first (in-sync) batch");
    assert.ok(r.h.state.network.tunnels["vxlan.calico"]);
    assert.deepEqual([...ipSetOf(r.h.state.ipsets, "cali40masq-ipam-pools")!.members], ["10.244.0.0/16"]);
    server.update(pool("Never"));
    await r.until((s) => remoteRoute(s)?.dev === undefined && remoteRoute(s)?.gateway === "172.31.250.2", "no-encap");
    assert.deepEqual(r.h.state.network.tunnels, {});
    server.delete("IPPool", "default-ipv4-ippool");
    await r.until((s) => !ipSetOf(s.ipsets, "cali40all-ipam-pools"), "the pool sets gone with the last pool");
  } finally {
    r.close();
    await server.close();
  }
});

test("Calico CRDs not installed: in sync without them (404 is empty), picked up once installed", async () => {
  const server = await startFakeApiServer({ calicoCrds: false });
  server.create(node("node1", "10.244.1.0/24", "172.31.250.1"));
  server.create(node("node2", "10.244.2.0/24", "172.31.250.2"));
  const r = run(server);
  try {
    await r.until((s) => remoteRoute(s) !== undefined, "the in-sync batch");
    assert.equal(remoteRoute(r.h.state).gateway, "172.31.250.2");
    const crdLists = server.requests.filter((q) => q.path.startsWith("/apis/crd.projectcalico.org/") && !q.watch);
    assert.ok(
      crdLists.some((q) => q.status === 404),
      "the CRD lists were answered 404",
    );
    server.calicoCrds = true;
    server.create(pool("Always"));
    await r.until((s) => remoteRoute(s)?.dev === "vxlan.calico", "the pool after the CRD appeared");
  } finally {
    r.close();
    await server.close();
  }
});

test("Calico CRDs: FelixConfiguration default < node.<name> reaches the rules (defaultEndpointToHostAction, deny action, ignored fields)", async () => {
  const server = await startFakeApiServer();
  server.create(node("node1", "10.244.1.0/24", "172.31.250.1"));
  const felixConfig = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: "crd.projectcalico.org/v1",
    kind: "FelixConfiguration",
    metadata: { name },
    spec,
  });
  const wlToHost = (s: DesiredState) => chainOf(s.iptables.ipv4.filter, "cali-wl-to-host")?.rules.at(-1)?.text ?? "";
  const unknownIface = (s: DesiredState) =>
    chainOf(s.iptables.ipv4.filter, "cali-to-wl-dispatch")?.rules.at(-1)?.text ?? "";
  server.create(felixConfig("default", { defaultEndpointToHostAction: "Accept", wireguardEnabled: true }));
  server.create(felixConfig("node.node1", { defaultEndpointToHostAction: "Drop" }));
  const r = run(server);
  try {
    await r.until((s) => wlToHost(s).endsWith("-j DROP"), "node.node1's Drop");
    assert.deepEqual(r.h.state.config?.ignored, ["wireguardEnabled=true"]);
    server.update(felixConfig("default", { iptablesFilterDenyAction: "Reject" }));
    await r.until((s) => unknownIface(s).includes("-j REJECT"), "the deny action from default");
    assert.ok(wlToHost(r.h.state).endsWith("-j DROP"), "node.node1 still in force");
    assert.deepEqual(r.h.state.config?.ignored, []);
    server.delete("FelixConfiguration", "node.node1");
    await r.until((s) => wlToHost(s).endsWith("-j ACCEPT"), "back to the default (ACCEPT)");
  } finally {
    r.close();
    await server.close();
  }
});

const prodPod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace: "prod", labels: { app: "web" } },
  spec: { nodeName: "node1" },
  status: { phase: "Running", podIP: "10.244.1.5", podIPs: [{ ip: "10.244.1.5" }] },
};
const tiersOf = (s: DesiredState) => (s.endpoints["prod/web"]?.ingressTiers ?? []).map((t) => t.name);

test("Calico policy CRDs: tiers, global and namespaced policies list-watched; a staged one never enforced", async () => {
  const server = await startFakeApiServer();
  server.create(node("node1", "10.244.1.0/24", "172.31.250.1"));
  server.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "prod" } });
  server.create(prodPod);
  server.create({
    apiVersion: "crd.projectcalico.org/v1",
    kind: "Tier",
    metadata: { name: "security" },
    spec: { order: 100 },
  });
  server.create({
    apiVersion: "crd.projectcalico.org/v1",
    kind: "GlobalNetworkPolicy",
    metadata: { name: "deny-quarantine" },
    spec: { tier: "security", selector: "all()", ingress: [{ action: "Pass" }] },
  });
  server.create({
    apiVersion: "crd.projectcalico.org/v1",
    kind: "StagedNetworkPolicy",
    metadata: { name: "staged", namespace: "prod" },
    spec: { selector: "all()", ingress: [{ action: "Deny" }] },
  });
  const r = run(server);
  try {
    await r.until((s) => tiersOf(s).length === 1, "the security tier in the first batch");
    assert.deepEqual(tiersOf(r.h.state), ["security"], "the staged policy is not in force");
    // Calico's NetworkPolicy CRD: its own kind, never read as a Kubernetes NetworkPolicy.
    server.create({
      apiVersion: "crd.projectcalico.org/v1",
      kind: "NetworkPolicy",
      metadata: { name: "np", namespace: "prod" },
      spec: { selector: "app == 'web'", ingress: [{ action: "Allow" }] },
    });
    await r.until((s) => tiersOf(s).length === 2, "the namespaced policy in tier default");
    assert.deepEqual(r.h.state.endpoints["prod/web"].ingressPolicies, ["gnp/deny-quarantine", "np/prod/np"]);
    server.update({
      apiVersion: "crd.projectcalico.org/v1",
      kind: "Tier",
      metadata: { name: "security" },
      spec: { order: 2_000_000 },
    });
    await r.until((s) => tiersOf(s)[0] === "default", "the tier's new order");
  } finally {
    r.close();
    await server.close();
  }
});

test("Calico policy CRDs not installed: in sync without them, a GlobalNetworkPolicy flows in once installed", async () => {
  const server = await startFakeApiServer({ calicoCrds: false });
  server.create(node("node1", "10.244.1.0/24", "172.31.250.1"));
  server.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "prod" } });
  server.create(prodPod);
  const r = run(server);
  try {
    await r.until((s) => s.endpoints["prod/web"] !== undefined, "in sync without the CRDs");
    for (const plural of ["tiers", "networkpolicies", "globalnetworkpolicies", "stagednetworkpolicies"]) {
      const lists = server.requests.filter((q) => q.path === `/apis/crd.projectcalico.org/v1/${plural}` && !q.watch);
      assert.ok(
        lists.some((q) => q.status === 404),
        `${plural} was answered 404`,
      );
    }
    server.calicoCrds = true;
    server.create({
      apiVersion: "crd.projectcalico.org/v1",
      kind: "GlobalNetworkPolicy",
      metadata: { name: "isolate" },
      spec: { selector: "all()" },
    });
    await r.until((s) => tiersOf(s).length === 1, "the policy after the CRDs appeared");
  } finally {
    r.close();
    await server.close();
  }
});

test("Calico CRDs: HostEndpoints and NetworkSets list-watch (not installed is empty; picked up once installed; updates and deletes flow)", async () => {
  const server = await startFakeApiServer({ calicoCrds: false });
  server.create(node("node1", "10.244.1.0/24", "172.31.250.1"));
  const hep = (iface: string) => ({
    apiVersion: "crd.projectcalico.org/v1",
    kind: "HostEndpoint",
    metadata: { name: "node1-eth0" },
    spec: { node: "node1", interfaceName: iface },
  });
  const r = run(server);
  try {
    await r.until((s) => s.nodeName === "node1" && r.h.batches > 0, "in sync without the CRDs");
    assert.equal(r.h.state.hostEndpoints, undefined);
    server.calicoCrds = true;
    server.create(hep("eth0"));
    server.create({
      apiVersion: "crd.projectcalico.org/v1",
      kind: "NetworkSet",
      metadata: { name: "dbs", namespace: "prod" },
      spec: { nets: ["10.9.0.0/16"] },
    });
    await r.until((s) => s.hostEndpoints?.["node1-eth0@eth0"] !== undefined, "the host endpoint once installed");
    server.update(hep("eth1"));
    await r.until((s) => s.hostEndpoints?.["node1-eth0@eth1"] !== undefined, "its new interface");
    server.delete("HostEndpoint", "node1-eth0");
    await r.until((s) => s.hostEndpoints === undefined, "gone");
  } finally {
    r.close();
    await server.close();
  }
});
