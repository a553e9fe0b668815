// The tracer against the NetworkPolicy conformance matrices, without a kernel:
// every case and step of test/e2e/conformance-cases.ts (whose tables the
// kernel e2e proves the kernel meets, and where root is available the e2e
// also compares the trace with every probe), its cluster written to a
// manifest directory, every cell of every port traced to pod IPs and via a
// ClusterIP in front of each pod; the trace must equal the expected table on
// every cell. The steps are traced by `felix-dump trace`'s tracer in a worker
// that stays up (test/helpers/trace-worker.ts: the modules load once, not per
// step); the first test runs the CLI itself, one `felix-dump trace -` process,
// on steps with and without policies, and requires its every JSON line to
// equal the worker's.
// test-runner: machine-free: its processes are felix-dump over manifests (no kernel, no root).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { stringify } from "yaml";
import { nodeManifest, podManifest } from "../../src/netns/manifests.js";
import type { TopoNode, TopoPod } from "../../src/netns/topology.js";
import {
  ALL_PODS,
  type Check,
  conformanceCases,
  expectedFor,
  type LabelChanges,
  portName,
  type Reachability,
  type Step,
  TCP80,
  TCP81,
  UDP80,
  UDP81,
} from "../e2e/conformance-cases.js";
import { IP_POOL, LAYOUT, NODES } from "../e2e/conformance-layout.js";
import { type TraceProbe, traceMatrix } from "../helpers/trace-matrix.js";
import { TraceWorker } from "../helpers/trace-worker.js";

const PORTS = [TCP80, TCP81, UDP80, UDP81];

/** A ClusterIP per pod: 10.96.<namespace index>.<pod index>, all four ports, one endpoint. */
const clusterIP = (key: string) => `10.96.${"xyz".indexOf(key[0]) + 1}.${"abc".indexOf(key.slice(-1)) + 1}`;

function clusterDocs(labels: LabelChanges = {}): object[] {
  const docs: object[] = [];
  for (const ns of ["x", "y", "z"]) {
    docs.push({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { ns, ...labels.namespaces?.[ns] } },
    });
  }
  for (const n of NODES) docs.push(nodeManifest(n as unknown as TopoNode));
  for (const key of ALL_PODS) {
    const [namespace, name] = key.split("/");
    const pod = {
      namespace,
      name,
      key,
      ip: LAYOUT[key].ip,
      labels: {},
      node: { name: LAYOUT[key].node },
      servers: { tcp: [80, 81], udp: [80, 81] },
    } as unknown as TopoPod;
    docs.push(podManifest(pod, labels.pods?.[key] ?? {}));
    const svc = `svc-${name}`;
    const ports = PORTS.map((p) => ({
      name: `${p.protocol}-${p.port}`,
      port: p.port,
      protocol: p.protocol.toUpperCase(),
    }));
    docs.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: svc, namespace },
      spec: { clusterIP: clusterIP(key), ports: ports.map((p) => ({ ...p, targetPort: p.port })) },
    });
    docs.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${svc}-1`, namespace, labels: { "kubernetes.io/service-name": svc } },
      addressType: "IPv4",
      ports,
      endpoints: [
        {
          addresses: [LAYOUT[key].ip],
          nodeName: LAYOUT[key].node,
          conditions: { ready: true },
          targetRef: { kind: "Pod", name, namespace },
        },
      ],
    });
  }
  docs.push(IP_POOL);
  return docs;
}

const dirs: string[] = [];
const tracer = new TraceWorker();
after(async () => {
  await tracer.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function writeStep(step: Step): string {
  const dir = mkdtempSync(join(tmpdir(), "felix-trace-"));
  dirs.push(dir);
  writeFileSync(
    join(dir, "cluster.yaml"),
    clusterDocs(step.labels)
      .map((d) => stringify(d))
      .join("---\n"),
  );
  if (step.policies.length)
    writeFileSync(join(dir, "policies.yaml"), step.policies.map((d) => stringify(d)).join("---\n"));
  return dir;
}

let cells = 0;
let denied = 0;

type Probe = TraceProbe & { cl: string; sv: string; via: string; want: boolean; spec: (typeof PORTS)[number] };

/** Every judged cell of a step, to the pod IP and via the ClusterIP, with its expected verdict. */
function stepProbes(step: Step): Probe[] {
  const expected: { port: (typeof PORTS)[number]; table: Reachability }[] = [];
  for (const check of step.checks as Check[])
    for (const p of check.ports) expected.push({ port: p, table: expectedFor(check) });
  const probes: Probe[] = [];
  for (const { port, table } of expected)
    for (const cl of ALL_PODS)
      for (const sv of ALL_PODS) {
        if (cl === sv) continue; // loopback is not judged (as in the kernel e2e)
        const want = table.get(cl, sv);
        const base = { src: LAYOUT[cl].ip, port: port.port, protocol: port.protocol, cl, sv, want, spec: port };
        probes.push({ ...base, dst: LAYOUT[sv].ip, via: "pod IP" });
        probes.push({ ...base, dst: clusterIP(sv), via: `ClusterIP ${clusterIP(sv)}` });
      }
  return probes;
}

async function checkStep(name: string, stepNo: number, step: Step): Promise<void> {
  const probes = stepProbes(step);
  const got = await tracer.verdicts(writeStep(step), probes);
  const wrong: string[] = [];
  probes.forEach((p, i) => {
    const allowed = got[i] === "allow";
    if (allowed !== p.want)
      wrong.push(
        `${p.cl} → ${p.sv} ${portName(p.spec)} via ${p.via}: expected ${p.want ? "allow" : "deny"}, traced ${got[i]}`,
      );
  });
  cells += probes.length;
  denied += probes.filter((p) => !p.want).length;
  assert.deepEqual(wrong, [], `${name} step ${stepNo + 1}: ${wrong.length} cell(s) differ`);
}

describe("felix-dump trace agrees with every cell of the NetworkPolicy conformance matrices", () => {
  test("the CLI (`felix-dump trace -`) prints, line for line, what the tracer below gives", async () => {
    const withPolicies = conformanceCases((key) => LAYOUT[key].ip).find((c) => c.steps[0]!.policies.length > 0)!;
    for (const step of [{ policies: [], checks: [{ ports: PORTS }] }, withPolicies.steps[0]!]) {
      const dir = writeStep(step);
      const probes = stepProbes(step);
      const [cli, worker] = await Promise.all([traceMatrix(dir, probes), tracer.matrix(dir, probes)]);
      assert.equal(cli.length, probes.length);
      assert.deepEqual(cli, worker);
    }
  });
  test("baseline: no policies, every pod reaches every pod on all four ports", async () => {
    await checkStep("baseline", 0, { policies: [], checks: [{ ports: PORTS }] });
  });
  for (const c of conformanceCases((key) => LAYOUT[key].ip)) {
    test(`[${c.origin}] ${c.name}`, async () => {
      for (const [i, step] of c.steps.entries()) await checkStep(c.name, i, step);
    });
  }
  test("the matrices hold both verdicts", (t) => {
    t.diagnostic(`${cells} cells traced (pod IPs and ClusterIPs), ${denied} of them denied`);
    assert.ok(denied > 1000 && cells - denied > 1000, `${cells} cells, ${denied} denied`);
  });
});
