import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { computeDesiredState } from "../../../calc-graph/calc-graph.js";
import { readManifestDir } from "../../../src/datastore/manifests.js";
import { explainPolicies, policiesText } from "../../../src/dump/policies.js";
import { GOLDEN_DIR } from "../../golden-cases.js";

test("felix-dump policies names the forward-check path with IPVS support, and not without", async () => {
  const { updates } = await readManifestDir(join(GOLDEN_DIR, "ipvs-forward-check"));
  const ipvs = explainPolicies(computeDesiredState({ nodeName: "node1", proxyMode: "ipvs" }, updates), "demo/web");
  const iface = ipvs.interface;
  assert.match(ipvs.ipvs!.endpointMark, /^0x[0-9a-f]+\/0xff800000$/);
  const text = policiesText(ipvs);
  assert.match(text, /INPUT: {2}cali-INPUT → cali-forward-check → cali-set-endpoint-mark → cali-sm-/);
  assert.ok(text.includes(`cali-to-wl-dispatch → cali-tw-${iface} (ingress)`), text);
  const off = explainPolicies(computeDesiredState({ nodeName: "node1" }, updates), "demo/web");
  assert.equal(off.ipvs, undefined);
  assert.doesNotMatch(policiesText(off), /IPVS/);
});
