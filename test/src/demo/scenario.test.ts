import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import {
  EXPECTED_FILE,
  listScenarios,
  loadScenario,
  parseScenario,
  resolveScenario,
  ScenarioError,
} from "../../../src/demo/scenario.js";

const parseText = (text: string) => parseScenario(parse(text), "t", "/tmp/t");

describe("demo scenario", () => {
  it("reads pods, namespaces, nodes and probed ports, with defaults", () => {
    const s = parseText(`
description: hello
namespaces: {web: {tier: web}}
pods:
  - {namespace: web, name: a, node: node3, labels: {app: a}, ports: [{name: http, port: 8080}]}
  - {name: b, ip: 10.65.1.7, ports: [{port: 53, protocol: udp}]}
probe: [tcp/8080, UDP/53]
`);
    assert.equal(s.description, "hello");
    assert.equal(s.nodes, 3);
    assert.deepEqual(s.namespaces, { web: { tier: "web" }, default: {} });
    assert.deepEqual(s.pods[0], {
      namespace: "web",
      name: "a",
      node: "node3",
      ip: undefined,
      labels: { app: "a" },
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    });
    assert.equal(s.pods[1]!.namespace, "default");
    assert.deepEqual(s.pods[1]!.ports, [{ name: undefined, port: 53, protocol: "UDP" }]);
    assert.deepEqual(s.probe, [
      { protocol: "tcp", port: 8080 },
      { protocol: "udp", port: 53 },
    ]);
    assert.deepEqual(parseText("pods: [{name: a}]").probe, [{ protocol: "tcp", port: 80 }]);
  });

  it("says what is wrong, with the field", () => {
    const bad: [string, RegExp][] = [
      ["pods: []", /pods: expected a non-empty list/],
      ["pods: [{name: A}]", /pods\[0\]\.name: "A" is not a DNS label/],
      ["pods: [{name: a}, {name: a}]", /pods\[1\]: pod default\/a appears twice/],
      ["pods: [{name: a, node: worker}]", /nodes are named node1, node2/],
      ["pods: [{name: a, ports: [{port: 70000}]}]", /ports\[0\]\.port: expected a port number/],
      ["pods: [{name: a}]\nprobe: [http/80]", /probe: "http\/80" is not <tcp\|udp>\/<port>/],
      ["pods: [{name: a}]\nnodes: 20", /nodes: expected a number from 1 to 9/],
      ["[1, 2]", /expected a mapping/],
    ];
    for (const [text, re] of bad)
      assert.throws(
        () => parseText(text),
        (e) => e instanceof ScenarioError && re.test(e.message),
        text,
      );
  });

  it("every shipped scenario loads and has a README and an expected matrix", () => {
    const names = listScenarios();
    for (const n of ["default-deny", "three-tier", "egress-cidr"]) assert.ok(names.includes(n), n);
    for (const n of names) {
      const dir = resolveScenario(n);
      const s = loadScenario(dir);
      assert.ok(s.pods.length > 0);
      assert.ok(existsSync(join(dir, "README.md")), `${n}/README.md`);
      assert.ok(existsSync(join(dir, EXPECTED_FILE)), `${n}/${EXPECTED_FILE}`);
    }
    assert.throws(() => resolveScenario("no-such-scenario"), /one of: .*default-deny/);
  });
});
