// The daemon logs a service's refused addresses as a warning naming the
// service, once per new message (when a node claiming one of its external IPs
// appears later too).

import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import pino from "pino";
import { Subject } from "rxjs";
import type { ResourceUpdate } from "../../model/resource.js";
import { Daemon } from "../../src/daemon.js";
import type { Dataplane } from "../../src/dataplane.js";
import { node } from "../calc-graph/fixtures.js";
import { sliceUpdate, svcUpdate } from "../calc-graph/services/fixtures.js";

test("hostile input: the daemon warns about a service whose external IP is a node's address", async () => {
  const lines: { level: number; resource?: string; msg: string }[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  const updates = new Subject<ResourceUpdate[]>();
  const dataplane = {
    apply: async () => ({ changes: 0, warnings: [], routes: {} }),
    resync() {},
    linksChanged() {},
  } as unknown as Dataplane;
  const d = new Daemon({
    graph: { nodeName: "node1", proxyMode: "iptables" },
    updates,
    dataplane,
    log: pino({ level: "warn" }, sink),
    refreshIntervalSecs: 0,
  });
  d.start();
  updates.next([
    node("node1", "10.65.1.0/24", "172.18.0.1"),
    svcUpdate("x", { clusterIP: "10.96.0.20", externalIPs: ["172.18.0.3"], ports: [{ name: "http", port: 80 }] }),
    sliceUpdate("x-1", "x", [{ ip: "10.65.1.7" }]),
  ]);
  assert.equal(lines.length, 0, JSON.stringify(lines));
  updates.next([node("node3", "10.65.3.0/24", "172.18.0.3")]);
  updates.next([node("node3", "10.65.3.0/24", "172.18.0.3")]);
  const warned = lines.filter((l) => l.resource === "Service/demo/x/addresses");
  assert.equal(warned.length, 1, JSON.stringify(lines));
  assert.equal(warned[0].level, 40);
  assert.match(warned[0].msg, /service demo\/x: external\/load-balancer IP 172\.18\.0\.3 is a node or gateway address/);
  await d.stop();
});
