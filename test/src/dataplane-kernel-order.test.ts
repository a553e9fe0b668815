// Bugs that once survived every non-root test, caught here on one fake kernel
// (the fake ipset linked to the fake iptables, so a rule may only name a set
// that exists and holds it against destroy, as on a real kernel):
//   - IP set members left stale when a pod changes address but the set's
//     member count stays the same;
//   - iptables applied before the IP sets its rules name exist (or sets
//     destroyed before the rules naming them are gone).
// The kernel's sets are compared with a from-scratch computation each time.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph, computeDesiredState } from "../../calc-graph/calc-graph.js";
import { FakeIptablesBackend } from "../../iptables/fake-backend.js";
import { FakeIpsetBackend } from "../../iptables/ipset-backend.js";
import { IpsetSyncer } from "../../iptables/ipset-syncer.js";
import { TableSyncer } from "../../iptables/table-syncer.js";
import { ipSetList } from "../../model/ipset-shards.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { Dataplane } from "../../src/dataplane.js";
import { namespace, pod, policy } from "../calc-graph/fixtures.js";

function rig() {
  const sets = new FakeIpsetBackend();
  const v4 = new FakeIptablesBackend(4, "legacy", sets);
  const v6 = new FakeIptablesBackend(6, "legacy", sets);
  const dp = new Dataplane({
    ipsets: new IpsetSyncer(sets),
    ipv4: new TableSyncer(v4, { sleep: async () => {} }),
    ipv6: new TableSyncer(v6, { sleep: async () => {} }),
  });
  const referenced = () => new Set([...v4.referencedSets(), ...v6.referencedSets()]);
  return { sets, v4, dp, referenced };
}

/** The kernel's sets of ours: name → sorted members. */
const kernelSets = (k: FakeIpsetBackend) =>
  Object.fromEntries([...k.sets].filter(([n]) => n.startsWith("cali")).map(([n, s]) => [n, [...s.members].sort()]));

/**
 * What a fresh agent would program for the resources as they are now: only
 * each resource's last version, so no update history (and no incremental
 * path) is replayed.
 */
function fromScratch(history: ResourceUpdate[]): Record<string, string[]> {
  const latest = new Map<string, ResourceUpdate>();
  for (const u of history) latest.set(`${u.kind}/${u.namespace}/${u.name}`, u);
  const now = [...latest.values()].filter((u) => u.value !== null);
  return Object.fromEntries(
    ipSetList(computeDesiredState({ nodeName: "node1" }, now).ipsets).map((s) => [s.name, [...s.members].sort()]),
  );
}

const web = (ip: string, node = "node1") =>
  pod("prod", "web", { node, ip, labels: { app: "web" }, ports: [{ name: "http", containerPort: 80 }] });
const db = (ip: string, node = "node1") => pod("prod", "db", { node, ip, labels: { app: "db" } });
const dbFromWeb = (ports?: { port: string }[]) =>
  policy("prod", "db-from-web", {
    podSelector: { matchLabels: { app: "db" } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }],
    egress: ports ? [{ to: [{ podSelector: { matchLabels: { app: "web" } } }], ports }] : undefined,
    policyTypes: ports ? ["Ingress", "Egress"] : undefined,
  });

describe("the kernel's IP sets follow pod addresses", () => {
  for (const where of ["node1", "node2"]) {
    test(`a ${where === "node1" ? "local" : "remote"} pod's new address replaces its old one (same member count)`, async () => {
      const { sets, dp } = rig();
      const g = new CalcGraph({ nodeName: "node1" });
      const history: ResourceUpdate[] = [
        namespace("prod"),
        web("10.65.1.10", where),
        db("10.65.1.11"),
        dbFromWeb([{ port: "http" }]),
      ];
      await dp.apply(g.apply(history));
      const before = kernelSets(sets);
      assert.ok(
        Object.values(before).some((m) => m.includes("10.65.1.10")),
        "the web pod is in a selector set",
      );
      assert.ok(
        Object.values(before).some((m) => m.includes("10.65.1.10,tcp:80")),
        "and in the named-port set",
      );
      for (const ip of ["10.65.1.20", "10.65.1.30", "10.65.1.10"]) {
        history.push(web(ip, where));
        await dp.apply(g.apply([web(ip, where)]));
        const now = kernelSets(sets);
        assert.deepEqual(now, fromScratch(history), `after the move to ${ip}`);
        const members = Object.values(now).flat();
        assert.ok(members.includes(ip) && members.includes(`${ip},tcp:80`));
        for (const old of ["10.65.1.10", "10.65.1.20", "10.65.1.30"].filter((o) => o !== ip))
          assert.ok(!members.some((m) => m.startsWith(`${old}`)), `${old} left behind after the move to ${ip}`);
      }
    });
  }

  test("two pods swapping addresses keep every set exact", async () => {
    const { sets, dp } = rig();
    const g = new CalcGraph({ nodeName: "node1" });
    const history: ResourceUpdate[] = [namespace("prod"), web("10.65.1.10"), db("10.65.1.11"), dbFromWeb()];
    await dp.apply(g.apply(history));
    const swap = [web("10.65.1.11"), db("10.65.1.10")];
    history.push(...swap);
    await dp.apply(g.apply(swap));
    assert.deepEqual(kernelSets(sets), fromScratch(history));
  });
});

/** Applies each batch through graph and dataplane; after each, the kernel's sets equal a fresh computation. */
async function followed(batches: ResourceUpdate[][]): Promise<Record<string, string[]>> {
  const { sets, dp } = rig();
  const g = new CalcGraph({ nodeName: "node1" });
  const history: ResourceUpdate[] = [];
  for (const [i, batch] of batches.entries()) {
    history.push(...batch);
    await dp.apply(g.apply(batch));
    assert.deepEqual(kernelSets(sets), fromScratch(history), `after batch ${i}`);
  }
  return kernelSets(sets);
}
const members = (sets: Record<string, string[]>) => Object.values(sets).flat().sort();
const withPort = (
  name: string,
  ip: string,
  app: string,
  port: { name: string; containerPort: number; protocol?: string },
) => pod("prod", name, { ip, labels: { app }, ports: [port] });
const webPorts = (port = "http", protocol = "TCP") =>
  policy("prod", "to-web", {
    podSelector: { matchLabels: { app: "db" } },
    policyTypes: ["Egress"],
    egress: [{ to: [{ podSelector: { matchLabels: { app: "web" } } }], ports: [{ port, protocol }] }],
  });

describe("the kernel's IP sets follow every kind of pod change", () => {
  test("labels and address changing at once, then the pod deleted: nothing left behind", async () => {
    const last = await followed([
      [
        namespace("prod"),
        db("10.65.1.11"),
        webPorts(),
        withPort("web", "10.65.1.10", "web", { name: "http", containerPort: 80 }),
      ],
      [withPort("web", "10.65.1.20", "other", { name: "http", containerPort: 80 })],
      [withPort("web", "10.65.1.30", "web", { name: "http", containerPort: 80 })],
      [{ ...withPort("web", "10.65.1.30", "web", { name: "http", containerPort: 80 }), value: null }],
    ]);
    assert.deepEqual(members(last), []);
  });

  test("a named port changing its number or protocol, and a same-named port of another protocol", async () => {
    const last = await followed([
      [
        namespace("prod"),
        db("10.65.1.11"),
        webPorts(),
        withPort("web", "10.65.1.10", "web", { name: "http", containerPort: 80 }),
      ],
      [withPort("web", "10.65.1.10", "web", { name: "http", containerPort: 8080 })],
      [withPort("web2", "10.65.1.12", "web", { name: "http", containerPort: 80, protocol: "UDP" })],
      [withPort("web", "10.65.1.10", "web", { name: "http", containerPort: 8080, protocol: "UDP" })],
      [withPort("web", "10.65.1.10", "web", { name: "http", containerPort: 8081 })],
    ]);
    assert.ok(members(last).includes("10.65.1.10,tcp:8081"));
    assert.ok(!members(last).some((m) => m.startsWith("10.65.1.12,")), "web2's UDP port is not the policy's TCP one");
  });

  test("a named port renamed, a second port added, and an unrelated port of the same protocol", async () => {
    const ports = (...ps: { name: string; containerPort: number }[]) =>
      pod("prod", "web", { ip: "10.65.1.10", labels: { app: "web" }, ports: ps });
    const last = await followed([
      [namespace("prod"), db("10.65.1.11"), webPorts(), ports({ name: "metrics", containerPort: 9100 })],
      [ports({ name: "metrics", containerPort: 9100 }, { name: "http", containerPort: 80 })],
      [ports({ name: "metrics", containerPort: 9100 }, { name: "web", containerPort: 80 })],
      [ports({ name: "http", containerPort: 80 })],
    ]);
    assert.deepEqual(members(last), ["10.65.1.10,tcp:80"]);
  });

  test("two policies sharing a peer selector share its set, which outlives the first one deleted", async () => {
    const second = policy("prod", "from-web-too", {
      podSelector: { matchLabels: { app: "db" } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }],
    });
    const last = await followed([
      [namespace("prod"), web("10.65.1.10"), db("10.65.1.11"), dbFromWeb(), second],
      [{ ...dbFromWeb(), value: null }],
      [web("10.65.1.40")],
    ]);
    assert.deepEqual(members(last), ["10.65.1.40"]);
  });
});

describe("IP sets and the rules that name them are written in the kernel's order", () => {
  test("a new selector's set exists before its rules; an old one goes only after its rules", async () => {
    const { sets, dp, referenced } = rig();
    const g = new CalcGraph({ nodeName: "node1" });
    await dp.apply(g.apply([namespace("prod"), web("10.65.1.10"), db("10.65.1.11"), dbFromWeb()]));
    const first = Object.keys(kernelSets(sets));
    assert.ok(first.length > 0);
    for (const name of first) assert.ok(referenced().has(name), `${name} is used by a rule`);
    // A new peer selector: a new set, rules naming it, then the old set destroyed.
    const next = policy("prod", "db-from-web", {
      podSelector: { matchLabels: { app: "db" } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "web", tier: "front" } } }] }],
    });
    const r = await dp.apply(g.apply([next]));
    assert.deepEqual(r.warnings, []);
    const second = Object.keys(kernelSets(sets));
    assert.ok(
      second.every((n) => !first.includes(n)),
      "the old selector's set is gone",
    );
    assert.deepEqual([...referenced()].sort(), second.sort());
    // And back to no policy: the rules go, then every set.
    await dp.apply(g.apply([{ ...next, value: null }]));
    assert.deepEqual(kernelSets(sets), {});
    assert.equal(referenced().size, 0);
  });

  test("ordering is checked per apply: the first restore naming a set comes after the set's creation", async () => {
    const { sets, v4, dp } = rig();
    const log: string[] = [];
    const track = <T extends { restore(i: string): Promise<void> }>(b: T, tag: string) => {
      const inner = b.restore.bind(b);
      b.restore = async (input: string) => {
        log.push(`${tag} ${input}`);
        return inner(input);
      };
    };
    track(sets, "ipset");
    track(v4, "iptables");
    const g = new CalcGraph({ nodeName: "node1" });
    await dp.apply(g.apply([namespace("prod"), web("10.65.1.10"), db("10.65.1.11"), dbFromWeb([{ port: "http" }])]));
    const created = log.findIndex((l) => l.startsWith("ipset ") && /^create cali40/m.test(l));
    const named = log.findIndex((l) => l.startsWith("iptables ") && l.includes("--match-set cali40"));
    assert.ok(created >= 0 && named >= 0);
    assert.ok(created < named, `sets created at write ${created}, first named at write ${named}`);
  });
});
