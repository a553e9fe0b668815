// f13a's protections driven by the one settings source (FelixConfiguration
// default < node.<name> < FELIX_*): chainInsertMode, the encapsulation
// allowances, kubeNodePortRanges, featureDetectOverride; IPVS endpoint marks
// allocated from iptablesMarkMask as Felix's markbits does; an interface
// collision under IPVS support leads no endpoint mark to either pod's chains.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { endpointMarks } from "../../../calc-graph/rules/endpoint-mark.js";
import { allocateMarks, DEFAULT_MARKS } from "../../../calc-graph/rules/marks.js";
import { chainOf } from "../../../model/tables.js";
import { iptablesText } from "../../../src/dump/views.js";
import { namespace, node, pod, update } from "../fixtures.js";

/** Two pods whose interface names collide (the pair of test/calc-graph/hostile/iface-collision.test.ts). */
const COLLIDING = [
  ["red", "p2272271"],
  ["red", "p4484179"],
] as const;

const felixConfig = (name: string, spec: Record<string, unknown>) =>
  update("FelixConfiguration", "", name, { kind: "FelixConfiguration", metadata: { name }, spec });
const cluster = () => [
  node("node1", "10.244.1.0/24", "172.31.250.1"),
  namespace("prod"),
  pod("prod", "web", { ip: "10.244.1.10" }),
];
const rules = (s: DesiredState, chain: string) =>
  (chainOf(s.iptables.ipv4.filter, chain)?.rules ?? []).map((r) => r.text);
const fwChain = (s: DesiredState) => `cali-fw-${Object.values(s.endpoints)[0].iface}`;

describe("protections from FelixConfiguration", () => {
  it("allowVXLANPacketsFromWorkloads / allowIPIPPacketsFromWorkloads true drop the egress encapsulation rules; vxlanPort moves the drop", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const before = rules(g.apply(cluster()), fwChain(g.current));
    assert.ok(before.some((r) => /-p udp .*--dports 4789 -j DROP$/.test(r)));
    assert.ok(before.some((r) => /-p ipencap .*-j DROP$/.test(r)));
    const port = rules(g.apply([felixConfig("default", { vxlanPort: 8472 })]), fwChain(g.current));
    assert.ok(port.some((r) => /--dports 8472 -j DROP$/.test(r)) && !port.some((r) => r.includes("4789")));
    const s = g.apply([
      felixConfig("node.node1", { allowVXLANPacketsFromWorkloads: true, allowIPIPPacketsFromWorkloads: "true" }),
    ]);
    const after = rules(s, fwChain(s));
    assert.ok(!after.some((r) => r.includes("encapped packets")), after.join("\n"));
  });

  it("chainInsertMode Append puts every hook after other programs' rules; Insert keeps the jumps on top", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const ins = g.apply(cluster()).iptables.ipv4;
    assert.equal(ins.filter.hooks.FORWARD.insert.length, 1, "the cali-FORWARD jump on top");
    assert.equal(ins.filter.hooks.FORWARD.append.length, 2, "the accept-mark rules appended in both modes");
    const app = g.apply([felixConfig("default", { chainInsertMode: "Append" })]).iptables.ipv4;
    for (const t of ["raw", "mangle", "nat", "filter"] as const) {
      for (const [b, h] of Object.entries(app[t].hooks)) assert.equal(h.insert.length, 0, `${t} ${b}`);
    }
    assert.match(app.filter.hooks.FORWARD.append[0].text, /-j cali-FORWARD$/, "the jump first, then the accept rule");
    assert.match(app.filter.hooks.FORWARD.append[1].text, /Policy explicitly accepted packet/);
  });

  it("featureDetectOverride MASQFullyRandom=false drops --random-fully, whatever detection found", () => {
    const g = new CalcGraph({ nodeName: "node1", masqFullyRandom: true });
    const pool = update("IPPool", "", "p", {
      kind: "IPPool",
      metadata: { name: "p" },
      spec: { cidr: "10.244.0.0/16", natOutgoing: true },
    });
    assert.match(iptablesText(g.apply([...cluster(), pool]), 4), /MASQUERADE --random-fully/);
    const s = g.apply([felixConfig("default", { featureDetectOverride: "MASQFullyRandom=false" })]);
    assert.doesNotMatch(iptablesText(s, 4), /random-fully/);
    assert.equal(s.config?.ignored.length, 0, "an honoured field, not reported as ignored");
    const old = new CalcGraph({ nodeName: "node1", masqFullyRandom: false }).apply([...cluster(), pool]);
    assert.doesNotMatch(iptablesText(old, 4), /random-fully/, "detection alone decides without an override");
  });

  it("kubeNodePortRanges, vxlanEnabledV6, vxlanMTUV6 are honoured fields (never reported as ignored)", () => {
    const g = new CalcGraph({ nodeName: "node1", kubeIPVSSupport: true });
    const s = g.apply([
      ...cluster(),
      felixConfig("default", { kubeNodePortRanges: ["31000:31999"], vxlanEnabledV6: true, vxlanMTUV6: 1380 }),
    ]);
    assert.deepEqual(s.config?.ignored, []);
    assert.ok(rules(s, "cali-forward-check").some((r) => r.includes("--dports 31000:31999")));
  });
});

describe("IPVS endpoint marks from iptablesMarkMask", () => {
  it("the endpoint mark is every bit the single-bit marks leave (default 0xff800000, non-workload its lowest bit)", () => {
    assert.equal(DEFAULT_MARKS.endpoint, 0xff800000);
    assert.equal(DEFAULT_MARKS.endpointNonCali, 0x800000);
    assert.equal(DEFAULT_MARKS.calico, 0x1b0000);
    const m = allocateMarks(0xfff00000);
    assert.equal(m.endpoint, 0xf8000000);
    assert.equal(m.endpointNonCali, 0x8000000);
    // A non-contiguous remainder: values are spread over the mask's bits.
    const odd = allocateMarks(0x0f0f0f00);
    for (const mark of endpointMarks(["cali1", "cali2", "cali3"], odd).values()) {
      assert.equal((mark & ~odd.endpoint) >>> 0, 0, "within the endpoint bits");
      assert.notEqual(mark, odd.endpointNonCali);
      assert.notEqual(mark, 0);
    }
  });

  it("a FelixConfiguration mask moves every endpoint-mark rule into its bits", () => {
    const g = new CalcGraph({ nodeName: "node1", kubeIPVSSupport: true });
    const s = g.apply([...cluster(), felixConfig("default", { iptablesMarkMask: "0xfff00000" })]);
    const iface = Object.values(s.endpoints)[0].iface;
    const [set] = rules(s, `cali-sm-${iface}`);
    const mark = Number(/--set-xmark (0x[0-9a-f]+)\/0xf8000000$/.exec(set)?.[1]);
    assert.ok(mark > 0 && (mark & ~0xf8000000) === 0, set);
    assert.ok(rules(s, "cali-INPUT").some((r) => r.endsWith("-j MARK --set-xmark 0x0/0xf8000000")));
    assert.ok(rules(s, "cali-from-endpoint-mark").some((r) => r.includes(`--mark ${set.split(" ").at(-1)}`)));
    assert.equal(s.problems["Node//node1/endpoint-marks"], undefined);
  });

  it("a mask with no bits left for endpoint marks: IPVS-forwarded traffic is refused and a problem says why", () => {
    const g = new CalcGraph({ nodeName: "node1", kubeIPVSSupport: true });
    const s = g.apply([...cluster(), felixConfig("default", { iptablesMarkMask: "0xfe000000" })]);
    const check = rules(s, "cali-forward-check");
    assert.ok(
      check.filter((r) => r.includes("kubernetes")).every((r) => r.endsWith("-j DROP")),
      check.join("\n"),
    );
    assert.ok(!rules(s, "cali-OUTPUT").some((r) => r.includes("cali-forward-endpoint-mark")));
    assert.match(s.problems["Node//node1/endpoint-marks"].message, /no bits for IPVS endpoint marks/);
    const ok = g.apply([felixConfig("default", {})]);
    assert.equal(ok.problems["Node//node1/endpoint-marks"], undefined, "gone with a usable mask");
  });

  it("an interface claimed by two pods: its endpoint mark leads only to the collision's drop chain", () => {
    const [a, b] = COLLIDING;
    const g = new CalcGraph({ nodeName: "node1", kubeIPVSSupport: true });
    const s = g.apply([
      node("node1", "10.0.1.0/24", "172.31.250.1"),
      namespace("red"),
      pod(a[0], a[1], { ip: "10.0.1.2" }),
      pod(b[0], b[1], { ip: "10.0.1.3" }),
    ]);
    const iface = "cali65e9ac57649";
    const from = rules(s, "cali-from-endpoint-mark").filter((r) => r.includes(iface));
    assert.equal(from.length, 1);
    assert.match(from[0], new RegExp(`-g cali-fw-${iface}$`));
    assert.deepEqual(
      rules(s, `cali-fw-${iface}`).map((r) => r.replace(/.* -j /, "-j ")),
      ["-j DROP"],
      "the chain the mark leads to drops",
    );
    assert.equal(Object.keys(s.endpoints).length, 0, "neither pod is programmed");
  });
});
