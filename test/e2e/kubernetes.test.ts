// The agent with the Kubernetes datastore, end to end: the fake API server runs
// in the topology's switch namespace (reachable over the underlay), the real
// `felix --datastore kubernetes` runs in the node namespace, and the verdicts
// come from the kernel and from real connections. Also: readiness before and
// after sync, /metrics, the node condition, the endpoint status file, and
// recovery from dropped watches and an API server outage.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import {
  type Background,
  exec,
  pythonPath,
  requirementsMissing,
  Topology,
  type TopoNode,
  type TopoPod,
} from "../../src/netns/topology.js";
import { kubeConfigObject } from "../helpers/kubeconfig.js";
import { RemoteApiServer } from "../helpers/remote-apiserver.js";
import { skipIf } from "../helpers/skip.js";
import { eventually, FELIX, FELIX_DUMP, podManifest } from "./cluster.js";
import { chainNames, chainRules } from "./dataplane-mode.js";

const skip = requirementsMissing();
const HEALTH_PORT = 19099;
const METRICS_PORT = 19091;

/** GET http://127.0.0.1:<port><path> from inside a node namespace: [status, body]. */
async function httpGet(node: TopoNode, port: number, path: string): Promise<[number, string]> {
  const code = `
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://127.0.0.1:${port}${path}", timeout=2); print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
except Exception as e:
    print(0); print(e)
`;
  const out = await exec(node.netns, pythonPath() ?? "python3", "-c", code);
  const nl = out.indexOf("\n");
  return [Number(out.slice(0, nl)), out.slice(nl + 1)];
}

describe("felix with the Kubernetes datastore", skipIf(skip), () => {
  let topo: Topology;
  let api: RemoteApiServer;
  let node: TopoNode;
  let a: TopoPod;
  let b: TopoPod;
  let felix: Background;
  let work: string;

  before(async () => {
    await Topology.cleanupStale("fk");
    topo = await Topology.create({ stem: "fk", underlayCIDR: "172.31.252.0/24", gateway: "172.31.252.254" });
    node = await topo.addNode("node1", { underlayIp: "172.31.252.1", podCIDR: "10.67.1.0/24" });
    a = await topo.addPod(node, { namespace: "x", name: "a", ip: "10.67.1.2" });
    b = await topo.addPod(node, { namespace: "y", name: "b", ip: "10.67.1.3" });
    api = new RemoteApiServer(topo.switchNs, "172.31.252.254");
    await api.ready;
    for (const ns of ["x", "y"])
      await api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { ns } } });
    await api.create({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "node1" },
      spec: { podCIDR: "10.67.1.0/24" },
      status: {
        addresses: [{ type: "InternalIP", address: "172.31.252.1" }],
        conditions: [{ type: "Ready", status: "True" }],
      },
    });
    for (const p of [a, b]) await api.create(podManifest(p));
    await api.create({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "isolate-quarantined", namespace: "x" },
      spec: { podSelector: { matchLabels: { quarantine: "yes" } }, policyTypes: ["Ingress"] },
    });
    work = mkdtempSync(join(tmpdir(), "felix-e2e-k8s-"));
    const kubeconfig = join(work, "kubeconfig");
    const kc = kubeConfigObject({ url: api.url });
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "fake", cluster: { server: api.url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "fake-user", user: { token: kc.users[0].token } }],
        contexts: [{ name: "fake", context: { cluster: "fake", user: "fake-user" } }],
        "current-context": "fake",
      }),
    );
    // The first LISTs fail: the agent must not be ready (nor program) before it has a complete view.
    await api.injectFault({ method: "GET", path: "/api/v1/pods", watch: false, status: 500, times: 1000 });
    felix = topo.spawn(
      node,
      process.execPath,
      [FELIX, "--datastore", "kubernetes", "--kubeconfig", kubeconfig, "--node-name", "node1", "--log-format", "json"],
      {
        ...process.env,
        FELIX_HEALTHENABLED: "true",
        FELIX_HEALTHPORT: String(HEALTH_PORT),
        FELIX_PROMETHEUSMETRICSENABLED: "true",
        FELIX_PROMETHEUSMETRICSHOST: "127.0.0.1",
        FELIX_PROMETHEUSMETRICSPORT: String(METRICS_PORT),
        FELIX_ENDPOINTSTATUSPATHPREFIX: work,
        FELIX_IPTABLESREFRESHINTERVAL: "5",
      },
    );
  });

  after(async () => {
    await felix?.kill();
    await api?.close();
    await topo?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("not ready before the first complete list; ready, programmed and reported after", async () => {
    const [live] = (
      await eventually(
        () => httpGet(node, HEALTH_PORT, "/liveness"),
        ([s]) => s === 200,
      )
    ).value;
    assert.equal(live, 200);
    const [status, body] = await httpGet(node, HEALTH_PORT, "/readiness");
    assert.equal(status, 503, body);
    assert.ok(
      !(await chainNames(node.netns, "filter")).some((c) => c.startsWith("cali-tw-")),
      "nothing programmed yet",
    );

    await api.clearFaults();
    await eventually(
      () => httpGet(node, HEALTH_PORT, "/readiness"),
      ([s]) => s === 200,
      15_000,
    );
    assert.ok((await chainNames(node.netns, "filter")).includes(`cali-tw-${a.hostIface}`));
    await eventually(
      () => topo.probe(b, a, 80, "tcp", 300),
      (ok) => ok,
    );

    const requests = await api.requests();
    const patch = requests.find((r) => r.method === "PATCH" && r.path === "/api/v1/nodes/node1/status");
    assert.ok(patch, "node status patched");
    assert.match(String(patch.headers["content-type"]), /strategic-merge-patch/);
    assert.match(JSON.stringify(patch.body), /NetworkUnavailable.*False.*FelixTsIsUp/);

    const [m, metrics] = await httpGet(node, METRICS_PORT, "/metrics");
    assert.equal(m, 200);
    for (const name of [
      "felix_int_dataplane_apply_time_seconds",
      "felix_iptables_restore_calls",
      "felix_ipset_calls",
      "felix_active_local_endpoints",
      "felix_network_programming_duration_seconds",
    ]) {
      assert.match(metrics, new RegExp(`^${name}`, "m"), `${name} exported`);
    }
    const statusFile = join(work, "felix-ts-endpoint-status.json");
    await eventually(
      async () => (existsSync(statusFile) ? readFileSync(statusFile, "utf8") : ""),
      (t) => t.includes('"up"'),
    );
  });

  test("the same objects from files give the same kernel state (felix-dump diff --live)", async () => {
    const dir = join(work, "manifests");
    const objs = [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "x", labels: { ns: "x" } } },
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "y", labels: { ns: "y" } } },
      {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "node1" },
        spec: { podCIDR: "10.67.1.0/24" },
        status: { addresses: [{ type: "InternalIP", address: "172.31.252.1" }] },
      },
      podManifest(a),
      podManifest(b),
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "isolate-quarantined", namespace: "x" },
        spec: { podSelector: { matchLabels: { quarantine: "yes" } }, policyTypes: ["Ingress"] },
      },
    ];
    rmSync(dir, { recursive: true, force: true });
    await exec(node.netns, "mkdir", "-p", dir);
    writeFileSync(join(dir, "all.yaml"), objs.map((o) => stringify(o)).join("---\n"));
    const d = topo.spawn(node, process.execPath, [
      FELIX_DUMP,
      "diff",
      "--live",
      "--resources",
      dir,
      "--node-name",
      "node1",
    ]);
    assert.equal(await d.exited, 0, d.output());
    const e = topo.spawn(
      node,
      process.execPath,
      [FELIX_DUMP, "endpoints", "--live", "--resources", dir, "--node-name", "node1"],
      {
        ...process.env,
        FELIX_ENDPOINTSTATUSPATHPREFIX: work,
      },
    );
    assert.equal(await e.exited, 0, e.output());
    assert.match(e.output(), /WORKLOAD\s+NODE\s+NETWORKS\s+INTERFACE\s+STATUS\s+REASON/);
    assert.match(e.output(), new RegExp(`x/a\\s+node1\\s+10\\.67\\.1\\.2/32\\s+${a.hostIface}\\s+up`));
  });

  test("a pod label change pushed through WATCH reaches the kernel", async () => {
    const chainOf = async () => (await chainRules(node.netns, "filter", `cali-tw-${a.hostIface}`)).join("\n");
    const before = await chainOf();
    // Pushed, not re-listed: no LIST of pods between the update and the kernel's change. The
    // deadline is a hang guard, not a speed claim.
    const podLists = async () =>
      (await api.requests()).filter((r) => r.method === "GET" && !r.watch && /\/pods$/.test(r.path)).length;
    const listsBefore = await podLists();
    assert.ok(listsBefore > 0, "the filter sees the first LIST of pods");
    const t0 = performance.now();
    await api.update(podManifest(a, { quarantine: "yes" }));
    await eventually(chainOf, (s) => s !== before, 30_000, 2);
    console.log(
      `# kubernetes datastore: pod label change → kernel in ${(performance.now() - t0).toFixed(0)} ms (polled)`,
    );
    assert.equal(await podLists(), listsBefore, "the change came by a re-list, not through the watch");
    await eventually(
      () => topo.probe(b, a, 80, "tcp", 300),
      (ok) => !ok,
    );
  });

  test("recovers from dropped watches and from the API server going away, without a restart", async () => {
    await api.dropWatches();
    await api.update(podManifest(a));
    await eventually(
      () => topo.probe(b, a, 80, "tcp", 300),
      (ok) => ok,
      10_000,
    );
    await api.stop();
    await new Promise((r) => setTimeout(r, 300));
    const [ready] = await httpGet(node, HEALTH_PORT, "/readiness");
    assert.equal(ready, 200, "stays ready and keeps enforcing while the API server is away");
    await api.start();
    await api.update(podManifest(a, { quarantine: "yes" }));
    await eventually(
      () => topo.probe(b, a, 80, "tcp", 300),
      (ok) => !ok,
      15_000,
    );
    assert.equal(felix.child.exitCode, null, "the agent never exited");
  });
});
