import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { placePods } from "../../../src/demo/placement.js";
import { parseScenario, ScenarioError } from "../../../src/demo/scenario.js";

const scenario = (text: string) => parseScenario(parse(text), "t", "/tmp/t");

describe("demo placement", () => {
  it("spreads unplaced pods over the nodes in order, addresses from .10 in each node's pod CIDR", () => {
    const s = scenario(`
pods:
  - {name: a}
  - {name: b}
  - {name: c, node: node1, ip: 10.65.1.10}
  - {name: d}
`);
    const p = placePods(s, 2);
    assert.deepEqual(p.nodes, [
      { name: "node1", underlayIp: "172.31.250.1", podCIDR: "10.65.1.0/24" },
      { name: "node2", underlayIp: "172.31.250.2", podCIDR: "10.65.2.0/24" },
    ]);
    assert.deepEqual(
      p.pods.map((x) => `${x.pod.name} ${x.node} ${x.ip}`),
      ["a node1 10.65.1.11", "b node2 10.65.2.10", "c node1 10.65.1.10", "d node1 10.65.1.12"],
    );
    assert.deepEqual(
      placePods(s, 3).pods.map((x) => x.node),
      ["node1", "node2", "node1", "node3"],
    );
  });

  it("the scenario's nodes win over a smaller --nodes", () => {
    const p = placePods(scenario("pods: [{name: a, node: node3}]"), 1);
    assert.equal(p.nodes.length, 3);
    assert.equal(p.pods[0]!.ip, "10.65.3.10");
  });

  it("rejects an address outside the pod's node, or used twice", () => {
    assert.throws(
      () => placePods(scenario("pods: [{name: a, node: node2, ip: 10.65.1.5}]"), 2),
      (e) => e instanceof ScenarioError && /not a pod address of node2 \(10\.65\.2\.2–254\)/.test(e.message),
    );
    assert.throws(
      () =>
        placePods(scenario("pods: [{name: a, node: node1, ip: 10.65.1.5}, {name: b, node: node1, ip: 10.65.1.5}]"), 2),
      /used twice/,
    );
  });
});
