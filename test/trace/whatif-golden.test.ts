// whatif over the golden cases: for every policy of every case, removing it
// changes only pairs whose trace before the removal passed through that
// policy's chain, and adding it back restores exactly the verdicts before
// (whatif of the removal, reversed). A case's policies come from its manifests.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { policyChainName } from "../../calc-graph/rules/names.js";
import { IPTABLES_RULES } from "../../iptables/rule-render.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { readManifestDir } from "../../src/datastore/manifests.js";
import { clusterModel } from "../../trace/cluster-model.js";
import { ClusterTracer } from "../../trace/cluster-trace.js";
import { portsNamedIn, whatIf } from "../../trace/whatif.js";
import { caseNames, GOLDEN_DIR } from "../golden-cases.js";

const tracerOf = (updates: readonly ResourceUpdate[], proxyMode: "off" | "iptables" | "ipvs" = "iptables") =>
  new ClusterTracer(
    clusterModel(
      updates,
      (nodeName) => ({ nodeName, proxyMode: proxyMode === "ipvs" ? "iptables" : proxyMode }),
      IPTABLES_RULES,
    ),
  );

describe("whatif on the golden cases", () => {
  let changes = 0;
  let checked = 0;
  let cases = 0;
  for (const name of caseNames()) {
    it(name, async () => {
      const dir = join(GOLDEN_DIR, name);
      const { updates } = await readManifestDir(dir);
      const policies = updates.filter(
        (u) => u.kind.endsWith("NetworkPolicy") && !u.kind.startsWith("Staged") && u.value,
      );
      const pods = updates.filter((u) => u.kind === "Pod").length;
      if (policies.length === 0 || policies.length > 6 || pods > 12) return;
      cases++;
      const before = tracerOf(updates);
      const eps = [...before.cluster.endpoints.values()];
      for (const p of policies) {
        const without = updates.filter((u) => u !== p);
        const after = tracerOf(without);
        const ports = portsNamedIn([p.value as object], eps);
        if (ports.length === 0) ports.push({ port: 80, protocol: "tcp" });
        const removed = whatIf(before, after, eps, ports);
        checked++;
        const restored = whatIf(after, before, eps, ports);
        // Adding it back undoes exactly what removing it did.
        assert.deepEqual(
          restored.changes.map((c) => [c.client, c.server, c.port, c.before, c.after]),
          removed.changes.map((c) => [c.client, c.server, c.port, c.after, c.before]),
        );
        // Only pairs that met the policy change; its chain is on their path before the removal.
        const keys = [...before.cluster.nodeNames].flatMap((n) =>
          [...before.cluster.node(n).policies.values()].filter((x) => x.id.name.endsWith(p.name)).map((x) => x.key),
        );
        const chains = new Set(keys.flatMap((k) => [policyChainName("inbound", k), policyChainName("outbound", k)]));
        for (const c of removed.changes) {
          const src = eps.find((e) => e.key === c.client)!;
          const dst = eps.find((e) => e.key === c.server)!;
          const ip = (e: typeof src) => (e.ipv4Nets[0] ?? e.ipv6Nets[0])!.split("/")[0];
          const r = before.trace({ src: ip(src), dst: ip(dst), sport: 40000, dport: c.port, protocol: c.protocol });
          const met = r.branches.some((b) =>
            b.path.some((s) => chains.has(s.chain) || chains.has(s.action.replace(/^(jump|goto) /, ""))),
          );
          assert.ok(
            met,
            `${name}: removing ${p.namespace}/${p.name} changed ${c.client} → ${c.server} ${c.protocol}/${c.port}, which never met it`,
          );
          changes++;
        }
      }
    });
  }
  it("the cases produced changes to check", (t) => {
    t.diagnostic(`${checked} policies removed and restored over ${cases} cases; ${changes} changed pairs checked`);
    assert.ok(changes > 10, `${changes} changes`);
  });
});
