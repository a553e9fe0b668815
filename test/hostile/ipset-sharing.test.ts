// IP set memory must not grow as policies × pods: policies whose peers select
// the same pods (however the selector is written) share one set, and it lives
// as long as any active policy uses it.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { CalcGraph } from "../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../calc-graph/desired-state.js";
import { ipSetList } from "../../model/ipset-shards.js";
import type { LabelSelector } from "../../model/k8s.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { parseManifestText } from "../../src/datastore/manifests.js";
import { iptablesText } from "../../src/dump/views.js";

const NAMESPACES = 50;
const CLIENTS = 200;

function updates(docs: object[]): ResourceUpdate[] {
  const parsed = parseManifestText(docs.map((d) => stringify(d)).join("---\n"), "x.yaml");
  assert.deepEqual(parsed.problems, []);
  return parsed.updates;
}

const pod = (ns: string, name: string, node: string, ip: string, labels: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: ns, labels },
  spec: { nodeName: node, containers: [{ name: "c" }] },
  status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
});

/** The same peer (monitoring namespaces' scrapers), written four ways. */
const PEERS: { namespaceSelector: LabelSelector; podSelector: LabelSelector }[] = [
  { namespaceSelector: { matchLabels: { role: "monitoring" } }, podSelector: { matchLabels: { app: "scraper" } } },
  {
    namespaceSelector: { matchExpressions: [{ key: "role", operator: "In", values: ["monitoring"] }] },
    podSelector: { matchLabels: { app: "scraper" } },
  },
  {
    namespaceSelector: { matchLabels: { role: "monitoring" } },
    podSelector: { matchExpressions: [{ key: "app", operator: "In", values: ["scraper", "scraper"] }] },
  },
  {
    namespaceSelector: {
      matchLabels: { role: "monitoring" },
      matchExpressions: [{ key: "role", operator: "In", values: ["monitoring"] }],
    },
    podSelector: { matchLabels: { app: "scraper" } },
  },
];

const policy = (ns: string, i: number) => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: "allow-scrape", namespace: ns },
  spec: { podSelector: {}, ingress: [{ from: [PEERS[i % PEERS.length]], ports: [{ port: 9100 }] }] },
});

const selectorSets = (s: DesiredState) => ipSetList(s.ipsets).filter((x) => x.name.startsWith("cali40s:"));

describe("hostile input: IP sets shared between equal selectors", () => {
  it(`${NAMESPACES} policies × ${CLIENTS} peer pods: one set of ${CLIENTS} members, alive until the last policy goes`, () => {
    const docs: object[] = [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "mon", labels: { role: "monitoring" } } },
    ];
    for (let i = 0; i < CLIENTS; i++) {
      docs.push(pod("mon", `scraper-${i}`, "node2", `10.66.${i >> 8}.${i & 255}`, { app: "scraper" }));
    }
    for (let n = 0; n < NAMESPACES; n++) {
      docs.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: `ns${n}` } });
      docs.push(pod(`ns${n}`, "web", "node1", `10.65.0.${n + 2}`, { app: "web" }));
      docs.push(policy(`ns${n}`, n));
    }
    const g = new CalcGraph({ nodeName: "node1" });
    let s = g.apply(updates(docs));
    assert.equal(Object.keys(s.endpoints).length, NAMESPACES);
    let sets = selectorSets(s);
    assert.equal(sets.length, 1, `sets: ${sets.map((x) => x.name)}`);
    assert.equal(sets[0].members.size, CLIENTS);
    // Every policy chain matches that one set.
    const save = iptablesText(s, 4);
    assert.equal(save.split(`--match-set ${sets[0].name} src`).length - 1, NAMESPACES);

    const del = (n: number): ResourceUpdate => ({
      kind: "NetworkPolicy",
      namespace: `ns${n}`,
      name: "allow-scrape",
      value: null,
    });
    s = g.apply(Array.from({ length: NAMESPACES - 1 }, (_, n) => del(n)));
    sets = selectorSets(s);
    assert.equal(sets.length, 1);
    assert.equal(sets[0].members.size, CLIENTS);
    s = g.apply([del(NAMESPACES - 1)]);
    assert.equal(selectorSets(s).length, 0);
  });
});
