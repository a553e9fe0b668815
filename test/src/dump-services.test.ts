// felix-dump's services view over golden inputs, through the graph; the trace command's packet syntax.

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { computeDesiredState } from "../../calc-graph/calc-graph.js";
import { readManifestDir } from "../../src/datastore/manifests.js";
import { nodeAddresses } from "../../src/dump/node-addresses.js";
import { servicesText, serviceViews } from "../../src/dump/services.js";
import { parseTarget } from "../../src/dump/trace-command.js";
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

  test("felix-dump services says why topology keeps an endpoint from cluster traffic", async () => {
    const { updates } = await readManifestDir(join(GOLDEN_DIR, "svc-topology-iptables"));
    const state = computeDesiredState({ nodeName: "node1", proxyMode: "iptables" }, updates);
    const text = servicesText(serviceViews(state, nodeAddresses(updates, "node1")));
    assert.match(text, /10\.65\.2\.10:8080 .*topology: hinted for zone zone-b, not for this node/);
    assert.match(text, /demo\/same-node:http tcp IPv4 {2}\(trafficDistribution PreferSameNode\)/);
  });
});

// The tracer itself is tested in test/trace/ (services.test.ts: the service chains).
describe("felix-dump trace's packet syntax", () => {
  test("IPv6 destinations and parse errors", () => {
    assert.deepEqual(parseTarget("[fd00:96::10]:80/TCP"), { ip: "fd00:96::10", port: 80, protocol: "tcp" });
    assert.deepEqual(parseTarget("10.96.0.10:53/udp"), { ip: "10.96.0.10", port: 53, protocol: "udp" });
    assert.throws(() => parseTarget("10.0.0.1/tcp"), /<ip>:<port>/);
  });
});
