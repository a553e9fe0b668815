// `felix-dump policies` never says "allowed" where the rendered chains drop:
// over every golden case, every local workload and both directions, its claim
// for traffic no policy decides (a Deny rule's drop is the policy's) is checked against the packet tracer run over
// the full rendered filter table (FORWARD and everything below it).

import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { computeDesiredState } from "../../../calc-graph/calc-graph.js";
import { type DesiredState, familyKey } from "../../../calc-graph/desired-state.js";
import { type TracePacket, Tracer } from "../../../iptables/tracer.js";
import { ipSetList } from "../../../model/ipset-shards.js";
import { chainList } from "../../../model/tables.js";
import { readManifestDir } from "../../../src/datastore/manifests.js";
import { explainPolicies } from "../../../src/dump/policies.js";
import { caseNames, GOLDEN_DIR } from "../../golden-cases.js";

function forwardTracer(s: DesiredState, v: 4 | 6): Tracer {
  const filter = s.iptables[familyKey(v)].filter;
  const chains: Record<string, string[]> = {};
  for (const c of chainList(filter)) chains[c.name] = c.rules.map((r) => r.text);
  for (const [name, h] of Object.entries(filter.hooks)) chains[name] = [...h.insert, ...h.append].map((r) => r.text);
  const ipsets: Record<string, Iterable<string>> = {};
  for (const set of ipSetList(s.ipsets)) ipsets[set.name] = set.members;
  return new Tracer({ chains }, { localAddresses: [], ipsets });
}

const PEERS = { 4: ["198.51.100.7", "10.0.0.1"], 6: ["2001:db8:5::7"] } as const;
const PORTS = [
  { dport: 80, protocol: "tcp" },
  { dport: 53, protocol: "udp" },
  { dport: 9100, protocol: "tcp" },
] as const;

describe("felix-dump policies agrees with the rendered chains", () => {
  let checked = 0;
  let deniedClaims = 0;
  for (const name of caseNames()) {
    it(name, async () => {
      const dir = join(GOLDEN_DIR, name);
      const spec = (await import(join(dir, "case.json"), { with: { type: "json" } })).default as {
        node: string;
        proxyMode?: "off" | "iptables" | "ipvs" | "nftables";
      };
      const { updates } = await readManifestDir(dir);
      // Policy chains do not depend on the proxy mode; kube-proxy's nftables layout has no iptables form.
      const proxyMode = spec.proxyMode === "nftables" ? "iptables" : spec.proxyMode;
      const s = computeDesiredState({ nodeName: spec.node, proxyMode }, updates);
      for (const ep of Object.values(s.endpoints)) {
        const e = explainPolicies(s, ep.key);
        for (const v of [4, 6] as const) {
          const own = (v === 4 ? ep.ipv4Nets : ep.ipv6Nets)[0]?.split("/")[0];
          // ipv6Support false: no IPv6 rules at all, nothing to compare.
          if (!own || (v === 6 && s.config?.settings.ipv6Support === false)) continue;
          const tracer = forwardTracer(s, v);
          for (const dir of ["ingress", "egress"] as const) {
            const d = e[dir];
            const claimsAllowed = d.otherwise.startsWith("allowed");
            if (!claimsAllowed) deniedClaims++;
            const policyChains = new Set(d.policies.map((p) => p.chain));
            for (const peer of PEERS[v]) {
              for (const port of PORTS) {
                const pkt: TracePacket =
                  dir === "ingress"
                    ? { src: peer, dst: own, ...port, inIface: "eth0", outIface: ep.iface }
                    : { src: own, dst: peer, ...port, inIface: ep.iface, outIface: "eth0" };
                for (const o of tracer.trace("FORWARD", pkt)) {
                  checked++;
                  const what = `${name}: ${ep.key} ${dir} ${peer} ${port.dport}/${port.protocol}: dump says "${d.otherwise}", trace ${o.verdict} via ${o.path.join(" ")}`;
                  // Falling off FORWARD is its policy, ACCEPT here (iptablesFilterAllowAction Return ends there).
                  const verdict = o.verdict === "continue" ? "accept" : o.verdict;
                  const last = o.path.at(-1)?.split("#")[0] ?? "";
                  if (verdict !== "accept" && policyChains.has(last)) {
                    // Dropped by a listed policy's Deny rule (a tier ending in Pass goes on only for what
                    // no policy decided): "otherwise" is about traffic no policy decides.
                  } else if (verdict !== "accept") {
                    // Dropped: the dump must not have claimed this traffic allowed.
                    assert.ok(!claimsAllowed, what);
                  } else if (!claimsAllowed) {
                    // Accepted although the dump says "otherwise denied": a listed policy allowed it.
                    assert.ok(
                      o.path.some((p) => policyChains.has(p.split("#")[0])),
                      what,
                    );
                  }
                }
              }
            }
          }
        }
      }
    });
  }
  it("checked something", () => {
    assert.ok(checked > 500, `only ${checked} traces`);
    assert.ok(deniedClaims > 0);
  });
});
