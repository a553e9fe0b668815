// felix-dump's services and trace views over golden inputs, through the graph.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import { readManifestDir } from "../../src/datastore/manifests.js";
import { nodeAddresses } from "../../src/dump/node-addresses.js";
import { servicesText, serviceViews } from "../../src/dump/services.js";
import { parseTarget, traceService, traceText } from "../../src/dump/trace.js";
import { GOLDEN_DIR } from "../golden-cases.js";

async function load(c: string) {
  const { updates } = await readManifestDir(join(GOLDEN_DIR, c));
  return {
    state: computeDesiredState({ nodeName: "node1", proxyMode: "iptables" }, updates),
    addrs: nodeAddresses(updates, "node1"),
  };
}

describe("felix-dump services", () => {
  test("frontends and endpoints with the reason each is (not) used", async () => {
    const { state, addrs } = await load("svc-terminating-fallback");
    const text = servicesText(serviceViews(state, addrs));
    assert.match(text, /10\.96\.0\.90:80 +cluster IP/);
    assert.match(
      text,
      /10\.65\.1\.2:8080 +node1 \(local\) +serving,terminating +→ cluster +terminating, still serving/,
    );
    assert.match(text, /10\.65\.2\.3:8080 .*→ unused +terminating and not serving/);
    assert.match(text, /10\.65\.2\.4:8080 .*→ unused +not ready/);
  });

  test("node ports on the node's addresses, LB source ranges, verdicts without local endpoints", async () => {
    const { state, addrs } = await load("svc-etp-local-without-local-endpoints");
    const [v] = serviceViews(state, addrs);
    assert.deepEqual(
      v.frontends.map((f) => `${f.kind} ${f.address}:${f.port}`),
      ["cluster IP 10.96.0.71:80", "node port 172.31.250.1:30071", "load balancer IP 192.0.2.71:80"],
    );
    assert.deepEqual(v.verdicts, ["no local endpoint: external traffic from outside the cluster is dropped"]);
  });
});

describe("felix-dump trace", () => {
  test("every endpoint of a probabilistic choice, with the masquerade decision", async () => {
    const { state, addrs } = await load("svc-nodeport");
    const pod = traceService(state, { src: "10.65.1.3", dst: "10.96.0.30", dport: 80, protocol: "tcp" }, addrs);
    assert.deepEqual(
      pod.branches.map((b) => `${b.result} ${b.probability.toFixed(4)} ${b.masquerade}`),
      [
        "DNAT to 10.65.1.2:8080 0.3333 false",
        "DNAT to 10.65.1.3:8080 0.3333 true",
        "DNAT to 10.65.2.2:8080 0.3333 false",
      ],
      "pod → ClusterIP keeps its source, except the hairpin back to itself",
    );
    const outside = traceService(
      state,
      { src: "192.0.2.9", dst: "172.31.250.1", dport: 30080, protocol: "tcp" },
      addrs,
    );
    assert.ok(outside.branches.every((b) => b.masquerade && /external destinations/.test(b.masqueradeWhy)));
    assert.match(traceText(outside), /cali-NODEPORTS#1/);
  });

  test("no endpoints: the filter chain's REJECT; source ranges: LB traffic from elsewhere is dropped", async () => {
    const dead = await load("svc-no-endpoints-reject");
    const r = traceService(
      dead.state,
      { src: "10.65.1.3", dst: "10.96.0.100", dport: 80, protocol: "tcp" },
      dead.addrs,
    );
    assert.deepEqual(
      r.branches.map((b) => b.result),
      ["REJECT (filter FORWARD: demo/dead has no endpoints)"],
    );
    const lb = await load("svc-loadbalancer-source-ranges");
    const denied = traceService(
      lb.state,
      { src: "192.0.2.200", dst: "192.0.2.50", dport: 80, protocol: "tcp" },
      lb.addrs,
    );
    assert.match(denied.branches[0].result, /^DROP .*not accepted by cali-FW-/);
    const allowed = traceService(
      lb.state,
      { src: "203.0.113.9", dst: "192.0.2.50", dport: 80, protocol: "tcp" },
      lb.addrs,
    );
    assert.equal(allowed.branches.length, 2);
    assert.ok(allowed.branches.every((b) => b.result.startsWith("DNAT")));
  });

  test("the filter INPUT chains: a health check node port is accepted; 127.0.0.1 from elsewhere meets the localnet firewall", async () => {
    const { state, addrs } = await load("svc-etp-local-with-local-endpoints");
    const hc = traceService(state, { src: "203.0.113.5", dst: addrs[0], dport: 32000, protocol: "tcp" }, addrs);
    assert.match(hc.branches[0].result, /^ACCEPT \(filter INPUT: .*health check node port\)$/);
    assert.ok(hc.branches[0].path.some((step) => step.startsWith("filter cali-NODEPORTS#")));
    // A packet for 127.0.0.1 that came from outside (route_localnet lets it be routed) and was not DNATed.
    const lo = traceService(state, { src: "203.0.113.5", dst: "127.0.0.1", dport: 22, protocol: "tcp" }, [
      ...addrs,
      "127.0.0.1",
    ]);
    assert.equal(lo.branches[0].result, "DROP (filter INPUT: block incoming localnet connections)");
    // The same port through the node port DNAT: not a localnet connection any more.
    const np = traceService(state, { src: "203.0.113.5", dst: "127.0.0.1", dport: 30070, protocol: "tcp" }, [
      ...addrs,
      "127.0.0.1",
    ]);
    assert.ok(
      np.branches.every((b) => b.result.startsWith("DNAT") && !b.result.includes("then")),
      JSON.stringify(np),
    );
  });

  test("felix-dump services says why topology keeps an endpoint from cluster traffic", async () => {
    const { updates } = await readManifestDir(join(GOLDEN_DIR, "svc-topology-iptables"));
    const state = computeDesiredState({ nodeName: "node1", proxyMode: "iptables" }, updates);
    const text = servicesText(serviceViews(state, nodeAddresses(updates, "node1")));
    assert.match(text, /10\.65\.2\.10:8080 .*topology: hinted for zone zone-b, not for this node/);
    assert.match(text, /demo\/same-node:http tcp IPv4 {2}\(trafficDistribution PreferSameNode\)/);
  });

  test("IPv6 destinations and parse errors", async () => {
    assert.deepEqual(parseTarget("[fd00:96::10]:80/TCP"), { ip: "fd00:96::10", port: 80, protocol: "tcp" });
    assert.throws(() => parseTarget("10.0.0.1/tcp"), /<ip>:<port>/);
    const { state, addrs } = await load("svc-ipv6");
    const r = traceService(state, { src: "fd00:65:2::9", dst: "fd00:96::10", dport: 80, protocol: "tcp" }, addrs);
    assert.deepEqual(
      r.branches.filter((b) => !b.conditions.some((c) => c.startsWith("the client"))).map((b) => b.result),
      ["DNAT to [fd00:65:1::2]:8080", "DNAT to [fd00:65:2::2]:8080"],
    );
  });
});
