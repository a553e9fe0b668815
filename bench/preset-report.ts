// The runner's text report of one preset on stdout: the cluster, the end-to-end
// table (bench/agent-report.ts), then the in-memory breakdown: cold start (and the
// kernel against its floor), incremental per kind of change, memory, throughput.

import { renderAgentTable } from "./agent-report.js";
import { type Cell, fmt, ms, n0, Table } from "./delta-table.js";
import type { PresetResult } from "./preset-result.js";
import { CHANGE_KINDS } from "./scale.js";

const heapGrowth = (p: number | undefined) => (p ? `${p}%` : "V8 default");

export function printPreset(r: PresetResult, previous: unknown): void {
  const s = r.spec;
  const base = `presets.${r.preset}`;
  const out: string[] = [];
  const ag = r.agent;
  const agentTable =
    ag && !("skipped" in ag)
      ? renderAgentTable(
          r.preset,
          ag.figures,
          ag.floorMs,
          ag.backend,
          ag.tableChangeMs,
          ag.floorRunsMs,
          ag.floorPerTableMs,
        )
      : "";
  out.push(
    `\n== ${r.preset} (seed ${r.seed}, proxy mode ${r.proxyMode ?? "off"}, heap growth ${heapGrowth(r.heapGrowthPercent)}): ${fmt(s.pods, 0)} pods (${s.localPods} on node-0), ${s.nodes} nodes, ` +
      `${s.namespaces} namespaces, ${fmt(s.serviceAccounts, 0)} service accounts, ${fmt(s.policies, 0)} policies, ` +
      `${fmt(s.services, 0)} services × ${s.endpointsPerService} endpoints ==`,
  );
  out.push(
    `inputs: ${fmt(r.inputs.updates, 0)} updates (${Object.entries(r.inputs.byKind)
      .map(([k, n]) => `${fmt(n, 0)} ${k}`)
      .join(", ")}), generated in ${fmt(r.inputs.generateMs, 0)} ms`,
  );

  if (agentTable) out.push(agentTable);
  else if (ag && "skipped" in ag) out.push(`\nend to end: skipped (${ag.skipped})`);
  if (r.cold) {
    out.push("\nbreakdown: the calculation graph fed in memory");
    const c = r.cold;
    out.push("\ncold start");
    const t = new Table(["", "ms"], base, previous);
    t.row("graph: new CalcGraph().apply(all updates)", ms(c.graphMs, "cold.graphMs"));
    if (c.breakdown) {
      t.row(
        "  convert + index (converter.apply × updates)",
        ms(c.breakdown.convertIndexMs, "cold.breakdown.convertIndexMs"),
      );
      t.row("  flush (builder.flush: render + immer)", ms(c.breakdown.flushMs, "cold.breakdown.flushMs"));
    }
    const k = c.kernel;
    if (k && "skipped" in k) t.row(`kernel: skipped (${k.skipped})`, "");
    else if (k) {
      const fam = k.ipv6 ? "IPv4+IPv6" : "IPv4";
      t.row(`kernel (${k.backend}, ${fam}): graph + dataplane.apply`, ms(k.ours.totalMs, "cold.kernel.ours.totalMs"));
      t.row("  graph (in the child)", ms(k.ours.graphMs, "cold.kernel.ours.graphMs"));
      t.row("  dataplane.apply", ms(k.ours.applyMs, "cold.kernel.ours.applyMs"));
      t.row("    ipsets add/update", ms(k.ours.steps.ipsetsAddOrUpdate, "cold.kernel.ours.steps.ipsetsAddOrUpdate"));
      t.row("    iptables IPv4", ms(k.ours.steps.iptablesV4, "cold.kernel.ours.steps.iptablesV4"));
      t.row("    iptables IPv6", ms(k.ours.steps.iptablesV6, "cold.kernel.ours.steps.iptablesV6"));
      t.row("    ipsets remove stale", ms(k.ours.steps.ipsetsRemoveStale, "cold.kernel.ours.steps.ipsetsRemoveStale"));
      t.row(`    routes`, ms(k.ours.steps.routes, "cold.kernel.ours.steps.routes"));
      t.row(`    sysctls (${k.links} cali links)`, ms(k.ours.steps.sysctls, "cold.kernel.ours.steps.sysctls"));
      t.row("  inside restores (ApplyResult.restoreMs)", ms(k.ours.restoreMs, "cold.kernel.ours.restoreMs"));
      t.row("  floor: bare ipset restore", ms(k.floor.ipsetMs, "cold.kernel.floor.ipsetMs"));
      const nft = k.backend === "nftables";
      t.row(
        nft ? "  floor: bare nft -f (ip table)" : `  floor: bare iptables-${k.backend}-restore --noflush v4`,
        ms(k.floor.iptablesV4Ms, "cold.kernel.floor.iptablesV4Ms"),
      );
      t.row(
        nft ? "  floor: bare nft -f (ip6 table)" : `  floor: bare ip6tables-${k.backend}-restore --noflush v6`,
        ms(k.floor.iptablesV6Ms, "cold.kernel.floor.iptablesV6Ms"),
      );
      t.row("  floor total", ms(k.floor.totalMs, "cold.kernel.floor.totalMs"));
      t.row("  ours/floor: graph + dataplane.apply ÷ floor", {
        v: k.totalOverFloor,
        path: "cold.kernel.totalOverFloor",
        d: 2,
        suffix: "×",
      });
      t.row("  ours/floor: dataplane.apply ÷ floor", {
        v: k.applyOverFloor,
        path: "cold.kernel.applyOverFloor",
        d: 2,
        suffix: "×",
      });
      t.row("  ours/floor: restoreMs ÷ floor", {
        v: k.restoreOverFloor,
        path: "cold.kernel.restoreOverFloor",
        d: 2,
        suffix: "×",
      });
      t.row(
        "  bytes written: iptables (ours / floor)",
        `${fmt(k.ours.iptablesBytes, 0)} / ${fmt(k.floor.iptablesBytes, 0)}`,
      );
      t.row("  bytes written: ipset (ours / floor)", `${fmt(k.ours.ipsetBytes, 0)} / ${fmt(k.floor.ipsetBytes, 0)}`);
      if (k.ours.warnings) t.row("  dataplane warnings", n0(k.ours.warnings));
    }
    out.push(t.render());
    const st = c.state;
    out.push(
      `  desired state: ${fmt(st.chains, 0)} chains / ${fmt(st.rules, 0)} rules (both families), ${fmt(st.ipsets, 0)} IP sets / ` +
        `${fmt(st.ipsetMembers, 0)} members, ${st.endpoints} local endpoints, ${fmt(st.routes, 0)} routes, ` +
        `${fmt(st.sysctls, 0)} sysctls, ${st.problems} problems; ${fmt(c.evaluations, 0)} selector evaluations, ` +
        `${fmt(c.chainsRendered, 0)} chain renders`,
    );
  }

  if (r.incremental) {
    const inc = r.incremental;
    const withKernel = Object.values(inc.kinds).some((k) => k?.kernel);
    out.push(
      `\nincremental: graph.apply([change]) in ms, ${inc.samples} samples per kind after ${inc.warmup} warm-up, ` +
        "each reverted before the next; Δ = objects changed by reference (p50, max)" +
        (withKernel ? "; kernel = graph + dataplane.apply" : ""),
    );
    const headers = ["change", "graph p50", "graph p99", "chains Δ", "ipsets Δ", "evals p50"];
    if (withKernel)
      headers.push(
        "kernel p50",
        "kernel p99",
        "restore p50",
        "excl. restore p50",
        "excl. restore p99",
        "ipt bytes p50",
        "v4 p50",
        "v6 p50",
        "ipset bytes p50",
      );
    const t = new Table(headers, base, previous);
    for (const kind of CHANGE_KINDS) {
      const k = inc.kinds[kind];
      if (!k) continue;
      const p = `incremental.kinds.${kind}`;
      const row: Cell[] = [
        kind,
        ms(k.graphMs.p50, `${p}.graphMs.p50`, 2),
        ms(k.graphMs.p99, `${p}.graphMs.p99`, 2),
        `${k.chainsChanged.p50} (${k.chainsChanged.max})`,
        `${k.ipsetsChanged.p50} (${k.ipsetsChanged.max})`,
        n0(k.evaluations.p50, `${p}.evaluations.p50`),
      ];
      if (withKernel) {
        const kk = k.kernel;
        row.push(
          ms(kk?.totalMs.p50, `${p}.kernel.totalMs.p50`),
          ms(kk?.totalMs.p99, `${p}.kernel.totalMs.p99`),
          ms(kk?.restoreMs.p50, `${p}.kernel.restoreMs.p50`),
          ms(kk?.oursMs?.p50, `${p}.kernel.oursMs.p50`),
          ms(kk?.oursMs?.p99, `${p}.kernel.oursMs.p99`),
          n0(kk?.iptablesBytes.p50, `${p}.kernel.iptablesBytes.p50`),
          n0(kk?.iptablesBytesV4?.p50, `${p}.kernel.iptablesBytesV4.p50`),
          n0(kk?.iptablesBytesV6?.p50, `${p}.kernel.iptablesBytesV6.p50`),
          n0(kk?.ipsetBytes.p50, `${p}.kernel.ipsetBytes.p50`),
        );
      }
      t.row(...row);
    }
    out.push(t.render());
    const fallbacks = CHANGE_KINDS.filter((k) => inc.kinds[k]?.kernel?.nftFallbacks !== undefined);
    if (fallbacks.length) {
      const f = fallbacks.map((k) => `${k} ${inc.kinds[k]?.kernel?.nftFallbacks}/${inc.kinds[k]?.kernel?.samples}`);
      out.push(`  nftables changes written with nft -f (netlink writer fallbacks): ${f.join(", ")}`);
    }
    if (withKernel) {
      out.push("  kernel: mean ms per dataplane step");
      const st = new Table(["change", "ipsets", "ipt v4", "ipt v6", "stale sets", "routes", "sysctls"], base, previous);
      for (const kind of CHANGE_KINDS) {
        const kk = inc.kinds[kind]?.kernel;
        if (!kk) continue;
        const sp = `incremental.kinds.${kind}.kernel.steps`;
        st.row(
          kind,
          ms(kk.steps.ipsetsAddOrUpdate, `${sp}.ipsetsAddOrUpdate`),
          ms(kk.steps.iptablesV4, `${sp}.iptablesV4`),
          ms(kk.steps.iptablesV6, `${sp}.iptablesV6`),
          ms(kk.steps.ipsetsRemoveStale, `${sp}.ipsetsRemoveStale`),
          ms(kk.steps.routes, `${sp}.routes`),
          ms(kk.steps.sysctls, `${sp}.sysctls`),
        );
      }
      out.push(st.render());
    }
  }

  if (r.memory) {
    const m = r.memory;
    out.push(`\nmemory (after global.gc)`);
    const t = new Table(["", "RSS MB", "heap used MB"], base, previous);
    t.row(
      "inputs generated, without a graph",
      ms(m.inputs.rssMB, "memory.inputs.rssMB"),
      ms(m.inputs.heapUsedMB, "memory.inputs.heapUsedMB"),
    );
    t.row(
      "after cold start",
      ms(m.afterColdStart.rssMB, "memory.afterColdStart.rssMB"),
      ms(m.afterColdStart.heapUsedMB, "memory.afterColdStart.heapUsedMB"),
    );
    if (m.afterChanges) {
      t.row(
        `after ${fmt(m.changes, 0)} random changes`,
        ms(m.afterChanges.rssMB, "memory.afterChanges.rssMB"),
        ms(m.afterChanges.heapUsedMB, "memory.afterChanges.heapUsedMB"),
      );
    }
    const gh = m.graphHeapMB;
    t.row("graph's heap after cold start", "", ms(gh.afterColdStart, "memory.graphHeapMB.afterColdStart"));
    if (gh.afterChanges !== undefined) {
      t.row("graph's heap after the changes", "", ms(gh.afterChanges, "memory.graphHeapMB.afterChanges"));
      t.row(
        "  a fresh graph of that same final state",
        "",
        ms(gh.freshOfFinalState, "memory.graphHeapMB.freshOfFinalState"),
      );
    }
    out.push(t.render());
  }

  if (r.throughput) {
    const tp = r.throughput;
    out.push(`\nthroughput: ${fmt(tp.changes, 0)} random changes in batches of ${tp.batch} (graph.apply per batch)`);
    const t = new Table(["updates/s", "total s", "batch p50 ms", "batch p99 ms", "batch max ms"], base, previous);
    t.row(
      n0(tp.updatesPerSec, "throughput.updatesPerSec"),
      ms(tp.seconds, "throughput.seconds", 2),
      ms(tp.batchMs.p50, "throughput.batchMs.p50", 2),
      ms(tp.batchMs.p99, "throughput.batchMs.p99", 2),
      ms(tp.batchMs.max, "throughput.batchMs.max", 2),
    );
    out.push(t.render());
  }
  process.stdout.write(`${out.join("\n")}\n`);
}
