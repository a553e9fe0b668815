// The real binary on a small real cluster (root): `felix --once` on two node
// namespaces at the same time, 9 pods (x/y/z × a/b/c, as the conformance
// e2e), five NetworkPolicies of assorted shapes. Per round: programming the
// five from none, a re-run with nothing to change, and felix's own reported
// time per node (read + compute + program, its "dataplane programmed" line).
// This was a "timing:" test in test/e2e/conformance.test.ts; tests assert
// behaviour only, so the figures live here.
//
//   sudo node dist/bench/e2e-once.js [--rounds 3]

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { shebangNodeFlags } from "../src/cli/node-flags.js";
import { nodeManifest, podManifest } from "../src/netns/manifests.js";
import { requirementsMissing, Topology, type TopoNode } from "../src/netns/topology.js";

const FELIX = resolve(dirname(fileURLToPath(import.meta.url)), "../src/cli/felix.js");

/** Pods a and c on node1, b on node2, one IP per pod. */
const LAYOUT = ["x", "y", "z"].flatMap((ns, i) =>
  (["a", "b", "c"] as const).map((name) => ({
    namespace: ns,
    name,
    node: name === "b" ? "node2" : "node1",
    ip: name === "b" ? `10.68.2.${10 * (i + 1)}` : `10.68.1.${10 * (i + 1) + (name === "c" ? 1 : 0)}`,
  })),
);

/** Five policies of assorted shapes: default deny, named port, In expression, ipBlock with except, egress deny. */
function fivePolicies(): object[] {
  const np = (namespace: string, name: string, spec: object) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace },
    spec,
  });
  return [
    np("x", "deny-ingress", { podSelector: {}, policyTypes: ["Ingress"] }),
    np("x", "allow-from-y-80", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }], ports: [{ port: "serve-80-tcp" }] }],
    }),
    np("y", "allow-b-from-x-and-z", {
      podSelector: { matchLabels: { pod: "b" } },
      ingress: [
        { from: [{ namespaceSelector: { matchExpressions: [{ key: "ns", operator: "In", values: ["x", "z"] }] } }] },
      ],
    }),
    np("z", "egress-cidr", {
      podSelector: { matchLabels: { pod: "a" } },
      policyTypes: ["Egress"],
      egress: [
        {
          to: [{ ipBlock: { cidr: "10.68.0.0/16", except: ["10.68.2.0/24"] } }],
          ports: [{ protocol: "UDP", port: 81 }],
        },
      ],
    }),
    np("z", "deny-egress-c", { podSelector: { matchLabels: { pod: "c" } }, policyTypes: ["Egress"] }),
  ];
}

async function main(rounds: number): Promise<void> {
  const why = requirementsMissing();
  if (why) throw new Error(`e2e-once: ${why}`);
  await Topology.cleanupStale("fb");
  const topo = await Topology.create({ stem: "fb", underlayCIDR: "172.31.250.0/24", gateway: "172.31.250.254" });
  const dir = mkdtempSync(join(tmpdir(), "felix-bench-e2e-"));
  try {
    const n1 = await topo.addNode("node1", { underlayIp: "172.31.250.1", podCIDR: "10.68.1.0/24" });
    const n2 = await topo.addNode("node2", { underlayIp: "172.31.250.2", podCIDR: "10.68.2.0/24" });
    const nodes = [n1, n2];
    const pods = await Promise.all(LAYOUT.map((p) => topo.addPod(p.node === "node1" ? n1 : n2, p)));
    const docs: object[] = ["x", "y", "z"].map((ns) => ({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: { ns } },
    }));
    docs.push(...nodes.map((n) => nodeManifest(n)), ...pods.map((p) => podManifest(p)));
    writeFileSync(join(dir, "cluster.yaml"), docs.map((d) => stringify(d)).join("---\n"));
    const policies = join(dir, "policies.yaml");

    const cold: number[] = [];
    const noop: number[] = [];
    const reported: number[] = [];
    for (let i = 0; i < rounds; i++) {
      rmSync(policies, { force: true });
      await once(topo, dir, nodes);
      writeFileSync(
        policies,
        fivePolicies()
          .map((d) => stringify(d))
          .join("---\n"),
      );
      let t0 = performance.now();
      for (const out of await once(topo, dir, nodes)) {
        const m = /"ms":([\d.]+)[^\n]*"msg":"dataplane programmed"/.exec(out);
        if (m) reported.push(Number(m[1]));
      }
      cold.push(performance.now() - t0);
      t0 = performance.now();
      await once(topo, dir, nodes);
      noop.push(performance.now() - t0);
    }
    const fmt = (a: number[]) => a.map((x) => x.toFixed(0)).join(", ");
    console.log("felix --once on both nodes in parallel, 9 pods, 5 policies (ms per round):");
    console.log(`  programming the five from none        ${fmt(cold)}`);
    console.log(`  re-run with nothing to change         ${fmt(noop)}`);
    console.log(`  felix's own time per node (reported)  ${fmt(reported)}`);
  } finally {
    await topo.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `felix --once` in each node namespace at the same time; their outputs, or throws on a failed run. */
async function once(topo: Topology, dir: string, nodes: readonly TopoNode[]): Promise<string[]> {
  const runs = nodes.map((n) =>
    topo.spawn(n, process.execPath, [
      ...shebangNodeFlags(FELIX),
      FELIX,
      "--datastore",
      "file",
      "--resources",
      dir,
      "--node-name",
      n.name,
      "--once",
    ]),
  );
  return Promise.all(
    runs.map(async (b, i) => {
      const code = await b.exited;
      if (code !== 0) throw new Error(`felix --once on ${nodes[i]!.name} exited ${code}:\n${b.output()}`);
      return b.output();
    }),
  );
}

const r = process.argv.indexOf("--rounds");
main(r > 0 ? Math.max(1, Number(process.argv[r + 1])) : 3).catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
