// felix_denied_packets_total: NFLOG drop prefixes (as the kernel reports
// them) counted by the policy, tier end or profile they name, decoded through
// the agent's own graph; the reader follows dropNflogGroup.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import { dropPrefix } from "../../calc-graph/rules/drop-log.js";
import { policyChainName } from "../../calc-graph/rules/names.js";
import { readManifestDir } from "../../src/datastore/manifests.js";
import type { NflogPacket, NflogReader } from "../../src/nflog-reader.js";
import { DeniedPackets } from "../../status/denied-packets.js";
import { GOLDEN_DIR } from "../golden-cases.js";

const CASE = join(GOLDEN_DIR, "..", "trace", "cases", "tiers");

function fakeReader() {
  const started: number[] = [];
  let stopped = 0;
  let emit: (p: NflogPacket) => void = () => {};
  const read = (group: number, onPacket: (p: NflogPacket) => void): NflogReader => {
    started.push(group);
    emit = onPacket;
    return { ready: Promise.resolve(), exited: new Promise(() => {}), stop: () => void stopped++ };
  };
  return { read, started, stopped: () => stopped, emit: (prefix: string) => emit({ prefix }) };
}

async function graphWith(group: string | undefined) {
  const { updates } = await readManifestDir(CASE);
  const cfg = { nodeName: "node1", proxyMode: "iptables" as const };
  const g = new CalcGraph(group ? { ...cfg, networkEnv: { dropNflogGroup: Number(group) } } : cfg);
  return { g, state: g.apply(updates) };
}

describe("felix_denied_packets_total", () => {
  it("counts each drop by the policy rule, tier end or unknown interface its prefix names", async () => {
    const { g, state } = await graphWith("9");
    const registry = new Registry();
    const f = fakeReader();
    const d = new DeniedPackets(registry, f.read);
    d.applied(state, g);
    assert.deepEqual(f.started, [9]);
    const quarantine = [...g.active.policies.values()].find((p) => p.id.name === "platform.quarantine")!;
    const web = Object.values(state.endpoints).find((e) => e.key === "prod/web")!;
    const pi = policyChainName("inbound", quarantine.key);
    f.emit(dropPrefix({ owner: "P", dir: "I", index: 0, chain: pi }));
    f.emit(dropPrefix({ owner: "P", dir: "I", index: 0, chain: pi }));
    f.emit(dropPrefix({ owner: "T", dir: "I", index: 2, chain: `cali-tw-${web.iface}` }));
    f.emit(dropPrefix({ owner: "U", dir: "-", index: 0, chain: "cali-to-wl-dispatch" }));
    f.emit("not ours");
    const values = (await d.counter.get()).values.map((v) => ({ ...v.labels, n: v.value }));
    assert.deepEqual(
      values.sort((a, b) => String(a.reason).localeCompare(String(b.reason))),
      [
        { reason: "end_of_tier", tier: "default", policy: "", direction: "ingress", n: 1 },
        { reason: "policy", tier: "platform", policy: "platform.quarantine", direction: "ingress", n: 2 },
        { reason: "unknown_interface", tier: "", policy: "", direction: "", n: 1 },
      ],
    );
    assert.match(await registry.metrics(), /felix_denied_packets_total\{reason="policy",tier="platform"/);
  });

  it("starts no reader while drop logging is off, and stops it when the setting goes", async () => {
    const off = await graphWith(undefined);
    const on = await graphWith("4");
    const f = fakeReader();
    const d = new DeniedPackets(new Registry(), f.read);
    d.applied(off.state, off.g);
    assert.deepEqual(f.started, []);
    d.applied(on.state, on.g);
    d.applied(on.state, on.g);
    assert.deepEqual(f.started, [4]);
    d.applied(off.state, off.g);
    assert.equal(f.stopped(), 1);
  });
});
