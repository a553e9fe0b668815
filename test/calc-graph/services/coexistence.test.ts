// Coexistence with another service proxy: Services and EndpointSlices labelled
// service.kubernetes.io/service-proxy-name or service.kubernetes.io/headless
// are left alone (kube-proxy's informer label selector), in both proxy modes.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CalcGraph } from "../../../calc-graph/calc-graph.js";
import type { DesiredState } from "../../../calc-graph/desired-state.js";
import type { ProxyMode } from "../../../calc-graph/services/model.js";
import { servicePortIds, servicePortOf } from "../../../calc-graph/services/port-shards.js";
import type { ResourceUpdate } from "../../../model/resource.js";
import { chainNames } from "../../../model/tables.js";
import { node } from "../fixtures.js";
import { sliceUpdate, svcUpdate } from "./fixtures.js";

const spec = { clusterIP: "10.96.0.1", ports: [{ name: "dns", port: 53, protocol: "UDP" }] };
const eps = [{ ip: "10.65.2.10", node: "node2" }];
const ports = [{ name: "dns", port: 53, protocol: "UDP" }];

const labelled = (labels: Record<string, string> | undefined): ResourceUpdate =>
  svcUpdate("dns", spec, labels ? { metadata: { name: "dns", namespace: "demo", labels } } : {});

/** The service's traces in the state: its model entry, iptables chains (mode iptables) or IPVS services. */
function traces(s: DesiredState): string[] {
  const out = servicePortIds(s.services);
  for (const c of chainNames(s.iptables.ipv4.nat)) if (/^cali-(SVC|SEP)-/.test(c)) out.push(c);
  for (const v of Object.values(s.ipvs?.services ?? {})) out.push(`ipvs ${v.service.address}:${v.service.port}`);
  return out;
}

for (const mode of ["iptables", "ipvs"] as ProxyMode[]) {
  describe(`coexistence with other service proxies (proxy mode ${mode})`, () => {
    const start = (labels?: Record<string, string>) => {
      const g = new CalcGraph({ nodeName: "node1", proxyMode: mode });
      g.apply([
        node("node1", "10.65.1.0/24", "172.18.0.1"),
        node("node2", "10.65.2.0/24", "172.18.0.2"),
        labelled(labels),
        sliceUpdate("dns-1", "dns", eps, ports),
      ]);
      return g;
    };

    test("an unlabelled service is proxied (the control case)", () => {
      const t = traces(start().current);
      assert.ok(t.includes("demo/dns:dns/udp/v4"), t.join(" "));
      assert.ok(t.length >= 2, t.join(" "));
    });

    for (const labels of <Record<string, string>[]>[
      { "service.kubernetes.io/service-proxy-name": "other-proxy" },
      { "service.kubernetes.io/service-proxy-name": "" },
      { "service.kubernetes.io/headless": "" },
    ]) {
      test(`a service labelled ${JSON.stringify(labels)} is not ours: no model entry, no rules, no problem`, () => {
        const s = start(labels).current;
        assert.deepEqual(traces(s), []);
        assert.equal(s.problems["Service/demo/dns"], undefined);
      });
    }

    test("a service gaining the label loses its rules; losing it again brings them back", () => {
      const g = start();
      assert.notDeepEqual(traces(g.current), []);
      g.apply([labelled({ app: "dns", "service.kubernetes.io/service-proxy-name": "other-proxy" })]);
      assert.deepEqual(traces(g.current), []);
      g.apply([labelled({ app: "dns" })]);
      assert.ok(traces(g.current).includes("demo/dns:dns/udp/v4"));
    });

    test("a labelled EndpointSlice contributes no endpoints (its copy of the service's label)", () => {
      const g = start();
      const slice = sliceUpdate("dns-1", "dns", eps, ports);
      const v = slice.value as { metadata: { labels: Record<string, string> } };
      v.metadata.labels["service.kubernetes.io/headless"] = "";
      g.apply([slice]);
      assert.deepEqual(servicePortOf(g.current.services, "demo/dns:dns/udp/v4")!.endpoints, []);
    });

    test("malformed labels do not crash the graph: the service is reported, not proxied", () => {
      const g = new CalcGraph({ nodeName: "node1", proxyMode: mode });
      const u = svcUpdate("dns", spec, { metadata: { name: "dns", namespace: "demo", labels: "x" } });
      g.apply([node("node1", "10.65.1.0/24", "172.18.0.1"), u]);
      assert.deepEqual(traces(g.current), []);
      assert.match(g.current.problems["Service/demo/dns"]?.message ?? "", /labels/);
    });
  });
}
