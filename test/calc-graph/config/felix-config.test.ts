// FelixConfiguration (`default` < `node.<name>` < FELIX_*) reaches every
// rendered rule, in both datastores' spellings; a change at run time
// re-renders to exactly what a fresh graph renders; fields felix-ts does not
// implement are named, those at "off" values are not.

import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import {
  felixConfigFromEnv,
  felixConfigFromSpec,
  HONOURED,
  ignoredFields,
  isInert,
  mergeConfigs,
} from "../../../calc-graph/config/fields.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import { felixNetworkConfigFromEnv } from "../../../calc-graph/network/convert.js";
import { allocateMarks, DEFAULT_MARKS } from "../../../calc-graph/rules/marks.js";
import { ipSetList } from "../../../model/ipset-shards.js";
import { chainOf } from "../../../model/tables.js";
import { graphConfigFromEnv } from "../../../src/config.js";
import { deleted, namespace, node, pod, policy, update } from "../fixtures.js";

const felixConfig = (name: string, spec: Record<string, unknown>) =>
  update("FelixConfiguration", "", name, { kind: "FelixConfiguration", metadata: { name }, spec });

const cluster = () => [
  node("node1", "10.244.1.0/24", "172.31.250.1"),
  namespace("prod"),
  pod("prod", "web", { ip: "10.244.1.10", ips: ["10.244.1.10", "fd00::a"], labels: { app: "web" } }),
  policy("prod", "deny-web", { podSelector: { matchLabels: { app: "web" } }, policyTypes: ["Ingress"] }),
  update("IPPool", "", "p", {
    kind: "IPPool",
    metadata: { name: "p" },
    spec: { cidr: "10.244.0.0/16", natOutgoing: true },
  }),
];

const rules = (s: DesiredState, chain: string, v: 4 | 6 = 4, table: "filter" | "raw" | "nat" = "filter") =>
  (chainOf(s.iptables[v === 4 ? "ipv4" : "ipv6"][table], chain)?.rules ?? []).map((r) => r.text);
const wlToHostAction = (s: DesiredState) =>
  rules(s, "cali-wl-to-host")
    .at(-1)!
    .replace(/.* -j /, "");
/** Every chain's rule texts, per family and table: what the kernel would get. */
const allText = (s: DesiredState) =>
  JSON.stringify(
    (["ipv4", "ipv6"] as const).map((f) =>
      Object.entries(s.iptables[f]).map(([t, table]) => [
        t,
        Object.values(table.shards)
          .flatMap((sh) => Object.values(sh))
          .map((c) => [c.name, c.rules.map((r) => r.text)])
          .sort(),
        table.hooks,
      ]),
    ),
  );

describe("defaultEndpointToHostAction", () => {
  it("default < node.<name> < env, in FelixConfiguration's spelling (Drop) and env's (DROP)", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    assert.equal(wlToHostAction(g.apply(cluster())), "ACCEPT", "no setting: ACCEPT (Calico's manifests)");
    assert.equal(wlToHostAction(g.apply([felixConfig("default", { defaultEndpointToHostAction: "Drop" })])), "DROP");
    g.apply([felixConfig("node.node1", { defaultEndpointToHostAction: "Return" })]);
    assert.equal(wlToHostAction(g.current), "RETURN", "node.node1 wins over default");
    g.apply([felixConfig("node.node2", { defaultEndpointToHostAction: "Accept" })]);
    assert.equal(wlToHostAction(g.current), "RETURN", "another node's configuration does not apply");
    const env = graphConfigFromEnv("node1", { FELIX_DEFAULTENDPOINTTOHOSTACTION: "accept" });
    const withEnv = new CalcGraph(env);
    withEnv.apply([...cluster(), felixConfig("default", { defaultEndpointToHostAction: "Drop" })]);
    assert.equal(wlToHostAction(withEnv.current), "ACCEPT", "env wins over every FelixConfiguration");
  });

  it("an invalid value is a problem and the last valid configuration stays in force", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    g.apply([...cluster(), felixConfig("default", { defaultEndpointToHostAction: "Drop" })]);
    const s = g.apply([felixConfig("default", { defaultEndpointToHostAction: "Dropp" })]);
    assert.equal(wlToHostAction(s), "DROP");
    assert.match(
      s.problems["FelixConfiguration//default"].message,
      /defaultEndpointToHostAction must be DROP, RETURN, ACCEPT/,
    );
    assert.throws(
      () => graphConfigFromEnv("node1", { FELIX_DEFAULTENDPOINTTOHOSTACTION: "maybe" }),
      /FELIX_DEFAULTENDPOINTTOHOSTACTION/,
    );
  });
});

test("iptablesFilterDenyAction Reject: every filter refusal rejects, per family; Drop is the default", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  const before = g.apply(cluster());
  assert.ok(rules(before, "cali-to-wl-dispatch").at(-1)!.endsWith("-j DROP"));
  const s = g.apply([felixConfig("default", { iptablesFilterDenyAction: "Reject" })]);
  const iface = Object.values(s.endpoints)[0].iface;
  for (const [v, reject] of [
    [4, "-j REJECT --reject-with icmp-port-unreachable"],
    [6, "-j REJECT --reject-with icmp6-port-unreachable"],
  ] as const) {
    const tw = rules(s, `cali-tw-${iface}`, v);
    assert.ok(
      tw.some((r) => r.includes("End of tier default") && r.endsWith(reject)),
      `tier end, v${v}`,
    );
    assert.ok(
      tw.some((r) => r.includes("--ctstate INVALID") && r.endsWith(reject)),
      `invalid, v${v}`,
    );
    assert.ok(tw.at(-1)!.endsWith(reject), `no profile matched, v${v}`);
    assert.ok(rules(s, "cali-to-wl-dispatch", v).at(-1)!.endsWith(reject), `unknown interface, v${v}`);
    assert.ok(!JSON.stringify(rules(s, `cali-tw-${iface}`, v)).includes("-j DROP"));
  }
  // The raw anti-spoofing check cannot REJECT (filter-only target) and stays DROP, as in Felix.
  assert.ok(rules(s, "cali-PREROUTING", 4, "raw").at(-1)!.endsWith("-j DROP"));
});

test("iptablesFilterAllowAction Return: accepted traffic returns to FORWARD's other rules, established traffic carries the accept mark", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  const s = g.apply([...cluster(), felixConfig("default", { iptablesFilterAllowAction: "Return" })]);
  const hook = s.iptables.ipv4.filter.hooks.FORWARD;
  const fwd = [...hook.insert, ...hook.append].map((r) => r.text);
  assert.ok(fwd.some((r) => r.includes("Policy explicitly accepted packet.") && r.endsWith("-j RETURN")));
  const fw = rules(s, `cali-fw-${Object.values(s.endpoints)[0].iface}`);
  assert.match(fw[0], /--ctstate RELATED,ESTABLISHED -j MARK --set-xmark 0x10000\/0x10000$/);
  assert.match(fw[1], /--ctstate RELATED,ESTABLISHED -j RETURN$/);
});

test("natOutgoingAddress, natPortRange, iptablesNATOutgoingInterfaceFilter shape cali-nat-outgoing (IPv4 SNAT, IPv6 keeps MASQUERADE)", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  assert.deepEqual(
    rules(g.apply(cluster()), "cali-nat-outgoing", 4, "nat").map((r) => r.replace(/.* -j /, "-j ")),
    ["-j MASQUERADE --random-fully"],
  );
  const s = g.apply([
    felixConfig("default", { natOutgoingAddress: "172.31.250.9", natPortRange: "32768:65535" }),
    felixConfig("node.node1", { iptablesNATOutgoingInterfaceFilter: "eth0" }),
  ]);
  const nat = rules(s, "cali-nat-outgoing", 4, "nat");
  assert.equal(nat.length, 5);
  assert.ok(nat.every((r) => r.startsWith("-o eth0 ")));
  assert.match(nat[0], /-p tcp .*-j SNAT --to-source 172\.31\.250\.9:32768-65535 --random-fully$/);
  assert.match(nat[1], /-p tcp .*-j RETURN$/);
  assert.match(nat[4], /-j SNAT --to-source 172\.31\.250\.9 --random-fully$/);
  assert.throws(
    () => felixConfigFromSpec({ natOutgoingAddress: "fd00::1" }),
    /natOutgoingAddress must be an IPv4 address/,
  );
  assert.throws(() => felixConfigFromSpec({ natPortRange: "9:1" }), /natPortRange/);
  const only = new CalcGraph({ nodeName: "node1" }).apply([
    ...cluster(),
    felixConfig("default", { natPortRange: 40000 }),
  ]);
  assert.match(
    rules(only, "cali-nat-outgoing", 4, "nat")[0],
    /-p tcp .*-j MASQUERADE --to-ports 40000-40000 --random-fully$/,
  );
});

test("workloadSourceSpoofing: allowedSourcePrefixes skip the anti-spoofing check only when Any", () => {
  const spoofer = update("Pod", "prod", "router", {
    kind: "Pod",
    metadata: {
      name: "router",
      namespace: "prod",
      annotations: { "cni.projectcalico.org/allowedSourcePrefixes": '["192.0.2.7/24"]' },
    },
    spec: { nodeName: "node1", containers: [{ name: "c" }] },
    status: { phase: "Running", podIP: "10.244.1.20" },
  });
  const g = new CalcGraph({ nodeName: "node1" });
  const off = g.apply([...cluster(), spoofer]);
  const iface = off.endpoints["prod/router"].iface;
  assert.equal(chainOf(off.iptables.ipv4.raw, "cali-rpf-skip"), undefined, "Disabled (default): no exemption");
  assert.ok(!rules(off, "cali-PREROUTING", 4, "raw").some((r) => r.includes("cali-rpf-skip")));
  assert.equal(off.sysctls[`net/ipv4/conf/${iface}/rp_filter`], "1");
  const on = g.apply([felixConfig("default", { workloadSourceSpoofing: "Any" })]);
  assert.deepEqual(
    rules(on, "cali-rpf-skip", 4, "raw").map((r) => r.replace(/ -m comment --comment "[^"]*"/, "")),
    [`-s 192.0.2.0/24 -i ${iface} -j ACCEPT`],
  );
  assert.equal(on.sysctls[`net/ipv4/conf/${iface}/rp_filter`], "0", "the kernel's own check is off for it");
  assert.equal(on.sysctls[`net/ipv4/conf/${off.endpoints["prod/web"].iface}/rp_filter`], "1", "others keep it");
  const back = g.apply([deleted(felixConfig("default", {}))]);
  assert.equal(allText(back), allText(off), "Disabled again: exactly the first rules");
  assert.equal(back.sysctls[`net/ipv4/conf/${iface}/rp_filter`], "1");
  const bad = new CalcGraph({ nodeName: "node1" }).apply([
    ...cluster(),
    update("Pod", "prod", "x", {
      kind: "Pod",
      metadata: {
        name: "x",
        namespace: "prod",
        annotations: { "cni.projectcalico.org/allowedSourcePrefixes": "[nope" },
      },
      spec: { nodeName: "node1", containers: [] },
      status: { phase: "Running", podIP: "10.244.1.30" },
    }),
  ]);
  assert.match(bad.problems["Pod/prod/x"].message, /allowedSourcePrefixes: not JSON/);
  assert.equal(bad.endpoints["prod/x"], undefined, "a malformed annotation fails closed: no endpoint");
});

test("ipv6Support false: no ip6tables rules, IPv6 sets, routes or sysctls; true again restores them", () => {
  const g = new CalcGraph({ nodeName: "node1" });
  const on = g.apply(cluster());
  assert.ok(Object.keys(on.routes).some((d) => d.includes(":")));
  const off = g.apply([felixConfig("default", { ipv6Support: false })]);
  for (const table of Object.values(off.iptables.ipv6)) {
    assert.deepEqual(table.hooks, {});
    assert.deepEqual(Object.keys(table.shards), []);
  }
  assert.ok(ipSetList(off.ipsets).every((s) => s.family === 4));
  assert.deepEqual(
    ipSetList(off.ipsets)
      .map((s) => s.name)
      .sort(),
    ipSetList(on.ipsets)
      .filter((s) => s.family === 4)
      .map((s) => s.name)
      .sort(),
    "every IPv4 set stays",
  );
  const offAgain = g.apply([felixConfig("default", { ipv6Support: false })]);
  assert.equal(offAgain.ipsets, off.ipsets, "a flush that changed no set keeps the filtered sets (by reference)");
  assert.ok(!Object.keys(off.routes).some((d) => d.includes(":")));
  assert.ok(!Object.keys(off.sysctls).some((k) => k.startsWith("net/ipv6/")));
  assert.equal(off.iptables.ipv4, on.iptables.ipv4, "IPv4 untouched (same object)");
  const again = g.apply([deleted(felixConfig("default", {}))]);
  assert.equal(allText(again), allText(on));
  assert.deepEqual(Object.keys(again.routes).sort(), Object.keys(on.routes).sort());
  const env = new CalcGraph(graphConfigFromEnv("node1", { FELIX_IPV6SUPPORT: "false" })).apply(cluster());
  assert.ok(!Object.keys(env.routes).some((d) => d.includes(":")), "FELIX_IPV6SUPPORT=false too");
});

test("interfacePrefix list: every workload-interface rule once per prefix; veths keep the first env prefix", () => {
  const g = new CalcGraph(graphConfigFromEnv("node1", {}));
  const s = g.apply([...cluster(), felixConfig("default", { interfacePrefix: "cali, tap" })]);
  assert.deepEqual(
    rules(s, "cali-FORWARD").map((r) => r.replace(/ ?-m comment.*/, "")),
    ["", "-i cali+", "-i tap+", "-o cali+", "-o tap+"],
  );
  assert.deepEqual(
    rules(s, "cali-INPUT").map((r) => r.replace(/ ?-m comment.*/, "")),
    ["-i cali+", "-i tap+"],
  );
  assert.match(s.endpoints["prod/web"].iface, /^cali[0-9a-f]{11}$/);
  assert.throws(() => felixConfigFromSpec({ interfacePrefix: "cali,bad iface" }), /interfacePrefix/);
  const env = graphConfigFromEnv("node1", { FELIX_INTERFACEPREFIX: "tap,cali" });
  const t = new CalcGraph(env).apply(cluster());
  assert.match(t.endpoints["prod/web"].iface, /^tap[0-9a-f]{11}$/, "libcalico-go names veths with the first");
  assert.deepEqual(t.config?.settings.interfacePrefixes, ["tap", "cali"]);
});

test("a settings change at run time renders exactly what a fresh graph renders, in any order", () => {
  const cfg = felixConfig("default", {
    defaultEndpointToHostAction: "Drop",
    iptablesFilterDenyAction: "Reject",
    iptablesFilterAllowAction: "Return",
    interfacePrefix: "cali,tap",
    workloadSourceSpoofing: "Any",
    natPortRange: "1000:2000",
  });
  const fresh = new CalcGraph({ nodeName: "node1" }).apply([cfg, ...cluster()]);
  const g = new CalcGraph({ nodeName: "node1" });
  const plain = g.apply(cluster());
  assert.equal(allText(g.apply([cfg])), allText(fresh));
  assert.equal(allText(g.apply([deleted(cfg)])), allText(plain), "and back");
});

describe("the fields table", () => {
  it("maps chainInsertMode and the encapsulation allowances onto the settings (rendering is static.ts's)", () => {
    const g = new CalcGraph({ nodeName: "node1" });
    const s = g.apply([
      ...cluster(),
      felixConfig("default", {
        chainInsertMode: "Append",
        allowVXLANPacketsFromWorkloads: true,
        allowIPIPPacketsFromWorkloads: "true",
      }),
    ]);
    assert.equal(s.config?.settings.chainInsertMode, "append");
    assert.equal(s.config?.settings.allowVXLANPacketsFromWorkloads, true);
    assert.equal(s.config?.settings.allowIPIPPacketsFromWorkloads, true);
    const d = new CalcGraph({ nodeName: "node1" }).apply(cluster()).config?.settings;
    assert.deepEqual(
      [d?.chainInsertMode, d?.allowVXLANPacketsFromWorkloads, d?.allowIPIPPacketsFromWorkloads],
      ["insert", false, false],
    );
  });

  it("reads every honoured field from env under Felix's name", () => {
    const env = felixConfigFromEnv({
      FELIX_IPTABLESFILTERDENYACTION: "REJECT",
      FELIX_IPTABLESMARKMASK: "0xff000000",
      FELIX_IPINIPENABLED: "true",
      FELIX_NATPORTRANGE: "100:200",
      FELIX_INTERFACEEXCLUDE: "kube-ipvs0,/^veth.*/",
    });
    assert.equal(env.iptablesFilterDenyAction, "REJECT");
    assert.equal(env.iptablesMarkMask, 0xff000000);
    assert.equal(env.ipipEnabled, true);
    assert.deepEqual(env.natPortRange, { min: 100, max: 200 });
    assert.deepEqual(env.interfaceExclude, ["^kube-ipvs0$", "^veth.*"]);
    assert.deepEqual(felixNetworkConfigFromEnv({ FELIX_VXLANVNI: "7" }), { vxlanVNI: 7 });
    assert.ok(Object.keys(HONOURED).length >= 21);
  });

  it("names set fields felix-ts does not implement, not those at their off values or logging knobs", () => {
    const d = felixConfigFromSpec({
      wireguardEnabled: true,
      bpfEnabled: false,
      bpfLogLevel: "Debug",
      logSeverityScreen: "Info",
      floatingIPs: "Disabled",
      serviceLoopPrevention: "Drop",
      natOutgoingExclusions: "IPPoolsAndHostIPs",
    });
    assert.deepEqual(ignoredFields(d), [
      "natOutgoingExclusions=IPPoolsAndHostIPs",
      "serviceLoopPrevention=Drop",
      "wireguardEnabled=true",
    ]);
    const node = felixConfigFromSpec({ wireguardEnabled: false });
    assert.deepEqual(
      ignoredFields(mergeConfigs(d, node)),
      ["natOutgoingExclusions=IPPoolsAndHostIPs", "serviceLoopPrevention=Drop"],
      "node.<name> turning it off wins",
    );
    assert.deepEqual(ignoredFields(felixConfigFromEnv({ FELIX_WIREGUARDENABLED: "true" })), ["wireguardEnabled=true"]);
    assert.ok(isInert("bpfMapSizeNATFrontend", "65536") && !isInert("bpfEnabled", "true"));
  });

  it("the snapshot carries the ignored fields, default < node.<name> < env", () => {
    const g = new CalcGraph(graphConfigFromEnv("node1", { FELIX_BPFENABLED: "true" }));
    const s = g.apply([...cluster(), felixConfig("default", { wireguardEnabled: true })]);
    assert.deepEqual(s.config?.ignored, ["bpfEnabled=true", "wireguardEnabled=true"]);
    const t = g.apply([felixConfig("node.node1", { wireguardEnabled: false })]);
    assert.deepEqual(t.config?.ignored, ["bpfEnabled=true"]);
  });
});

describe("iptablesMarkMask", () => {
  it("allocates Felix's marks lowest first from the mask, then the two service masquerade marks", () => {
    assert.deepEqual(allocateMarks(0xffff0000), DEFAULT_MARKS);
    assert.deepEqual(
      [DEFAULT_MARKS.accept, DEFAULT_MARKS.all, DEFAULT_MARKS.masq, DEFAULT_MARKS.ipvsMasq],
      [0x10000, 0x1f0000, 0x200000, 0x400000],
    );
    const m = allocateMarks(0xfe000000);
    assert.deepEqual(
      [m.accept, m.pass, m.drop, m.scratch0, m.scratch1, m.masq, m.ipvsMasq],
      [0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000, 0x80000000],
    );
    assert.throws(() => felixConfigFromSpec({ iptablesMarkMask: "0xf0" }), /has 4 bits; felix-ts needs at least 7/);
    assert.throws(() => felixConfigFromSpec({ iptablesMarkMask: 0 }), /non-zero/);
  });

  it("every mark in every table follows the mask, the services' masquerade mark included", () => {
    const svc = update("Service", "x", "api", {
      kind: "Service",
      metadata: { name: "api", namespace: "x" },
      spec: { clusterIP: "10.96.0.5", ports: [{ port: 80 }] },
    });
    const g = new CalcGraph({ nodeName: "node1", proxyMode: "iptables" });
    const before = allText(g.apply([...cluster(), svc]));
    assert.match(before, /0x200000\/0x200000/, "the default masquerade mark");
    const s = g.apply([felixConfig("default", { iptablesMarkMask: 4278190080 })]); // 0xff000000, as a number
    const text = allText(s);
    for (const old of ["0x10000", "0x20000", "0x80000", "0x1f0000", "0x200000"]) {
      assert.doesNotMatch(text, new RegExp(`${old}(?![0-9a-f])`), `no ${old} left`);
    }
    // Felix's clearing: accept|pass|scratch0|scratch1 in raw, less the accept bit in cali-FORWARD.
    assert.match(text, /-j MARK --set-xmark 0x0\/0x1b000000/, "raw clears the policy marks within the mask");
    assert.match(text, /-j MARK --set-xmark 0x0\/0x1a000000/, "cali-FORWARD keeps the accept bit");
    assert.match(text, /-j MARK --set-xmark 0x20000000\/0x20000000/, "services masquerade with the sixth bit");
    assert.match(
      rules(s, `cali-tw-${Object.values(s.endpoints)[0].iface}`).join("\n"),
      /--mark 0x1000000\/0x1000000 -j RETURN/,
    );
  });
});
