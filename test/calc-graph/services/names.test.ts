import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServicePort } from "../../../calc-graph/services/model.js";
import { endpointChainName, serviceChainNames } from "../../../calc-graph/services/names.js";

const sp = { namespace: "ns1", service: "svc1", portName: "p80", protocol: "tcp" } as ServicePort;

test("chain names carry kube-proxy's hashes (its published test vectors)", () => {
  assert.equal(serviceChainNames(sp).svc, "cali-SVC-XPGD46QRK7WJZT7O");
  assert.equal(endpointChainName(sp, { ip: "10.180.0.1", port: 80 } as never), "cali-SEP-SXIVWICOYRO3J4NJ");
});

test("every name fits iptables' 28 characters", () => {
  const n = serviceChainNames(sp);
  for (const c of [n.svc, n.svl, n.ext, n.fw, endpointChainName(sp, { ip: "fd00::1", port: 65535 } as never)]) {
    assert.ok(c.length <= 28, c);
  }
});
