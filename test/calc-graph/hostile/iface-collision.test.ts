// Attack: two pods whose interface names collide (`cali` + 44 bits of
// sha1(`<ns>.<pod>`); the pair below was found by a birthday search). Neither
// may run the other's chains; both fail closed; removing one must leave every
// jump pointing at an existing chain.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import { vethNameForWorkload } from "../../../calc-graph/conversion/pod.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { FakeIptablesBackend } from "../../../iptables/fake-backend.js";
import { TableSyncer } from "../../../iptables/table-syncer.js";
import { iptablesText, routesText } from "../../../src/dump/views.js";
import { deleted, namespace, pod, policy } from "../fixtures.js";

export const COLLIDING = [
  ["red", "p2272271"],
  ["red", "p4484179"],
] as const;
const IFACE = "cali65e9ac57649";

const victim = pod("red", "p2272271", { ip: "10.0.1.2", labels: { app: "secret" } });
const attacker = pod("red", "p4484179", { ip: "10.0.1.3", labels: { app: "open" } });
const base = [
  namespace("red"),
  // The victim is isolated for ingress; the attacker is open.
  policy("red", "deny-secret", { podSelector: { matchLabels: { app: "secret" } }, policyTypes: ["Ingress"] }),
];

/** Applies a state through the fake kernel, which refuses a jump to a missing chain. */
async function applied(syncer: TableSyncer, s: DesiredState) {
  await syncer.apply(s.iptables.ipv4);
}

describe("interface-name collisions", () => {
  it("the pair collides", () => {
    assert.equal(vethNameForWorkload(...COLLIDING[0]), IFACE);
    assert.equal(vethNameForWorkload(...COLLIDING[1]), IFACE);
  });

  it("programs neither pod on the shared interface: its chains drop, no routes, a problem naming both", () => {
    const s = new CalcGraph({ nodeName: "node1" }).apply([...base, victim, attacker]);
    const text = iptablesText(s, 4);
    const tw = text.split("\n").filter((l) => l.startsWith(`-A cali-tw-${IFACE} `));
    const fw = text.split("\n").filter((l) => l.startsWith(`-A cali-fw-${IFACE} `));
    assert.equal(tw.length, 1);
    assert.match(tw[0], /-j DROP$/);
    assert.equal(fw.length, 1);
    assert.match(fw[0], /-j DROP$/);
    assert.match(text, new RegExp(`-A cali-to-wl-dispatch -o ${IFACE} .*-g cali-tw-${IFACE}`));
    assert.deepEqual(Object.keys(s.endpoints), []);
    assert.ok(!routesText(s).includes("10.0.1.2") && !routesText(s).includes("10.0.1.3"), routesText(s));
    const a = s.problems["Pod/red/p2272271/iface"];
    const b = s.problems["Pod/red/p4484179/iface"];
    assert.match(a.message, /red\/p4484179/);
    assert.match(b.message, /red\/p2272271/);
    assert.equal(a.node, "node1");
  });

  it("the same, whatever the order and batching; removing either leaves the other programmed as itself", async () => {
    for (const order of [
      [victim, attacker],
      [attacker, victim],
    ]) {
      const g = new CalcGraph({ nodeName: "node1" });
      const syncer = new TableSyncer(new FakeIptablesBackend());
      await applied(syncer, g.apply(base));
      await applied(syncer, g.apply([order[0]]));
      const collided = g.apply([order[1]]);
      await applied(syncer, collided);
      assert.equal(Object.keys(collided.endpoints).length, 0);

      // Remove the second one: the first is programmed again, as itself.
      const after = g.apply([deleted(order[1])]);
      await applied(syncer, after); // the fake kernel throws on a jump to a missing chain
      const survivor = order[0] === victim ? "red/p2272271" : "red/p4484179";
      assert.deepEqual(Object.keys(after.endpoints), [survivor]);
      assert.deepEqual(
        Object.keys(after.problems).filter((k) => k.endsWith("/iface")),
        [],
      );
      const tw = iptablesText(after, 4)
        .split("\n")
        .filter((l) => l.startsWith(`-A cali-tw-${IFACE} `));
      const isolated = tw.some((l) => l.includes("End of tier default"));
      assert.equal(isolated, survivor === "red/p2272271", `the survivor's own policy: ${tw.join("\n")}`);
      assert.match(routesText(after), new RegExp(survivor === "red/p2272271" ? "10.0.1.2" : "10.0.1.3"));

      // And the last one going removes the chains and the dispatch entry together.
      const empty = g.apply([deleted(order[0])]);
      await applied(syncer, empty);
      assert.ok(!iptablesText(empty, 4).includes(IFACE));
    }
  });
});

describe("felix-dump policies on a colliding pod", () => {
  it("says why it is not programmed", async () => {
    const { explainPolicies } = await import("../../../src/dump/policies.js");
    const s = new CalcGraph({ nodeName: "node1" }).apply([...base, victim, attacker]);
    assert.throws(
      () => explainPolicies(s, "red/p2272271"),
      /red\/p2272271 is not programmed: interface cali65e9ac57649/,
    );
  });
});
