// Fuzz: hostile objects (fuzz-objects.ts) through the public path — manifest
// text → file-manifest parsing → calc graph → renderer — must never throw,
// never produce restore text with stray lines, jumps to missing chains or
// matches on missing sets, never put into an IP set an address its selector
// does not allow (fuzz-oracle.ts), and never DNAT to a forbidden address.
// As root, a sample of the cases also goes through the real `ipset restore`
// and `iptables-legacy-restore --test` in a throwaway network namespace.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { ipSetName } from "../../calc-graph/ipsets/ids.js";
import { forbiddenServiceAddress } from "../../calc-graph/services/forbidden-addresses.js";
import { ipSetList, ipSetOf } from "../../model/ipset-shards.js";
import { parseManifestText } from "../../src/datastore/manifests.js";
import { ipsetsText, iptablesText } from "../../src/dump/views.js";
import { iptablesCmd, requirementsMissing } from "../../src/netns/topology.js";
import { skipIf } from "../helpers/skip.js";
import { hostileCluster } from "./fuzz-objects.js";
import { allowedMembers, restoreTextProblems } from "./fuzz-oracle.js";

const RUNS = 300;
const KERNEL_RUNS = 20;

function run(docs: Record<string, unknown>[]) {
  // YAML cannot hold every string (e.g. a lone NUL is escaped): what matters is that it goes
  // through the same parser as a manifest file.
  const text = docs.map((d) => stringify(d)).join("---\n");
  const parsed = parseManifestText(text, "fuzz.yaml");
  const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" });
  const state = g.apply(parsed.updates);
  return { g, state, docs: parsed.updates.map((u) => u.value).filter(Boolean) as Record<string, unknown>[] };
}

function check({ g, state, docs }: ReturnType<typeof run>): void {
  for (const v of [4, 6] as const) {
    const sets = new Set(
      ipSetList(state.ipsets)
        .filter((s) => s.family === v)
        .map((s) => s.name),
    );
    const text = iptablesText(state, v);
    assert.deepEqual(restoreTextProblems(text, sets), [], `IPv${v} restore text`);
    for (const m of text.matchAll(/--to-destination \[?([0-9a-f.:]+?)\]?:\d+/g)) {
      assert.equal(forbiddenServiceAddress(m[1]), undefined, `DNAT to ${m[1]}`);
    }
    for (const id of g.ipsets.activeSetIds) {
      const spec = g.ipsets.spec(id)!;
      const members = ipSetOf(state.ipsets, ipSetName(id, v))?.members ?? new Set<string>();
      const allowed = allowedMembers(spec, v, docs);
      const extra = [...members].filter((m) => !allowed.has(m));
      assert.deepEqual(extra, [], `set ${ipSetName(id, v)} (${spec.kind}) holds members its selector does not allow`);
    }
  }
}

/** Loads the state's IP sets and restore texts into a fresh network namespace (test mode for the rules). */
function kernelCheck(state: DesiredState): void {
  const ns = `fuzz-${randomBytes(4).toString("hex")}`;
  assert.equal(spawnSync("ip", ["netns", "add", ns]).status, 0, "ip netns add");
  try {
    const inNs = (cmd: string, args: string[], input: string, what: string) => {
      const r = spawnSync("ip", ["netns", "exec", ns, cmd, ...args], { input, encoding: "utf8", timeout: 20_000 });
      assert.equal(r.status, 0, `${what}: ${r.stderr}\n${input.slice(0, 4000)}`);
    };
    inNs("ipset", ["restore"], ipsetsText(state, 4) + ipsetsText(state, 6), "ipset restore");
    const legacy = iptablesCmd() === "iptables-legacy";
    inNs(
      legacy ? "iptables-legacy-restore" : "iptables-restore",
      ["--noflush", "--test"],
      iptablesText(state, 4),
      "v4",
    );
    inNs(
      legacy ? "ip6tables-legacy-restore" : "ip6tables-restore",
      ["--noflush", "--test"],
      iptablesText(state, 6),
      "v6",
    );
  } finally {
    spawnSync("ip", ["netns", "delete", ns]);
  }
}

/**
 * Whether a name carrying restore commands is kept out of the restore text
 * (the sibling injection fix validates names): then names are fuzzed too.
 */
function namesAreValidated(): boolean {
  const evil = "x\n-F INPUT";
  const { state } = run([
    { apiVersion: "v1", kind: "Namespace", metadata: { name: evil } },
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: evil, namespace: evil },
      spec: { nodeName: "node1", serviceAccountName: evil, containers: [] },
      status: { phase: "Running", podIPs: [{ ip: "10.65.1.5" }] },
    },
  ]);
  return restoreTextProblems(iptablesText(state, 4), new Set()).length === 0;
}

/** Whether a pod claiming a namespace label (`pcns.team`) stays out of a namespaceSelector's set (the sibling spoofing fix). */
function spoofedLabelsRefused(): boolean {
  const { g, state } = run([
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "prod" } },
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "spoof", namespace: "prod", labels: { "pcns.team": "ops" } },
      spec: { nodeName: "node1", containers: [] },
      status: { phase: "Running", podIPs: [{ ip: "10.65.1.5" }] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "p", namespace: "prod" },
      spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "ops" } } }] }] },
    },
  ]);
  const ids = [...g.ipsets.activeSetIds];
  assert.ok(ids.length > 0, "the probe policy is active");
  return ids.every((id) => (ipSetOf(state.ipsets, ipSetName(id, 4))?.members.size ?? 0) === 0);
}

describe("hostile input: fuzzing manifests → graph → restore text", () => {
  const hostile = { names: namesAreValidated(), spoofedLabels: spoofedLabelsRefused() };
  const clusters = hostileCluster(hostile);

  test(`${RUNS} hostile clusters: nothing throws, texts are well formed, sets hold only what selectors allow`, (t) => {
    if (!hostile.names)
      t.diagnostic("names reach the restore text unvalidated: object names fuzzed as DNS-1123 names only");
    if (!hostile.spoofedLabels) t.diagnostic("pods can claim namespace labels: pcns./pcsa. pod labels left out");
    fc.assert(
      fc.property(clusters, (docs) => check(run(docs))),
      { numRuns: RUNS },
    );
  });

  const skip = requirementsMissing();
  test(`${KERNEL_RUNS} of them through the real ipset and iptables-restore --test`, skipIf(skip), () => {
    fc.assert(
      fc.property(clusters, (docs) => kernelCheck(run(docs).state)),
      { numRuns: KERNEL_RUNS },
    );
  });
});
