// NetworkPolicy conformance cases for the kernel e2e suite (conformance.test.ts),
// modelled on the upstream Kubernetes e2e suite test/e2e/network/netpol
// (namespaces x, y, z × pods a, b, c; servers on 80/81 TCP/UDP; named ports
// serve-<port>-<proto>; pods labelled `pod: <name>`; namespaces selected by
// kubernetes.io/metadata.name) and on cyclonus' extra tags (end-port,
// multi-port, set-pod-labels, set-namespace-labels). The cases and their
// truth tables are restated here in our own terms; every case runs on all 9
// pods, so a case's table says what happens to all 81 pairs, not only to the
// pods the upstream case happened to create.
//
// A case is a list of steps. A step is the complete desired state at that
// point — the policies in force and any label changes relative to the base
// cluster — plus, per probed port, the expected reachability. Steps of one
// case apply in order, as upstream's CreatePolicy/UpdatePolicy calls do.

import type { PortSpec } from "../../src/netns/topology.js";

export const NAMESPACES = ["x", "y", "z"] as const;
export const POD_NAMES = ["a", "b", "c"] as const;
/** "x/a", "x/b", … "z/c": the 9 pods, in table order. */
export const ALL_PODS: readonly string[] = NAMESPACES.flatMap((ns) => POD_NAMES.map((p) => `${ns}/${p}`));

/** The label the API server puts on every namespace (the agent must add it itself: our manifests never do). */
export const NS_NAME_LABEL = "kubernetes.io/metadata.name";

export const TCP80: PortSpec = { port: 80, protocol: "tcp" };
export const TCP81: PortSpec = { port: 81, protocol: "tcp" };
export const UDP80: PortSpec = { port: 80, protocol: "udp" };
export const UDP81: PortSpec = { port: 81, protocol: "udp" };

export function portName(p: PortSpec): string {
  return `${p.protocol}/${p.port}`;
}

// ───────────────────────────── expected reachability ─────────────────────────────

/** Selects pods by namespace and/or name; an empty peer selects every pod. */
export interface Peer {
  readonly namespace?: string;
  readonly pod?: string;
}

function matches(peer: Peer, key: string): boolean {
  const [ns, name] = key.split("/");
  return (peer.namespace === undefined || peer.namespace === ns) && (peer.pod === undefined || peer.pod === name);
}

/**
 * A client × server truth table, built like upstream's Reachability: start with
 * everything allowed (or denied) and carve out with expect/expectPeer/
 * expectAllIngress/expectAllEgress; later calls override earlier ones.
 */
export class Reachability {
  private readonly cells = new Map<string, boolean>();

  constructor(
    readonly pods: readonly string[] = ALL_PODS,
    defaultAllowed = true,
  ) {
    for (const c of pods) for (const s of pods) this.cells.set(`${c}>${s}`, defaultAllowed);
  }

  private check(key: string): void {
    if (!this.pods.includes(key)) throw new Error(`Reachability: unknown pod ${key}`);
  }

  /** One pair. */
  expect(from: string, to: string, allowed: boolean): this {
    this.check(from);
    this.check(to);
    this.cells.set(`${from}>${to}`, allowed);
    return this;
  }

  /** Every pair whose client matches `from` and whose server matches `to`. */
  expectPeer(from: Peer, to: Peer, allowed: boolean): this {
    for (const c of this.pods) {
      if (!matches(from, c)) continue;
      for (const s of this.pods) if (matches(to, s)) this.cells.set(`${c}>${s}`, allowed);
    }
    return this;
  }

  /** Every client → `to`. */
  expectAllIngress(to: string, allowed: boolean): this {
    this.check(to);
    for (const c of this.pods) this.cells.set(`${c}>${to}`, allowed);
    return this;
  }

  /** `from` → every server. */
  expectAllEgress(from: string, allowed: boolean): this {
    this.check(from);
    for (const s of this.pods) this.cells.set(`${from}>${s}`, allowed);
    return this;
  }

  get(from: string, to: string): boolean {
    const v = this.cells.get(`${from}>${to}`);
    if (v === undefined) throw new Error(`Reachability: no cell ${from} → ${to}`);
    return v;
  }
}

// ───────────────────────────── cases ─────────────────────────────

/** Label changes relative to the base cluster (pods `pod: <name>`, namespaces `ns: <name>`). */
export interface LabelChanges {
  /** Extra labels per namespace name. */
  readonly namespaces?: Readonly<Record<string, Record<string, string>>>;
  /** Extra (or overriding) labels per pod key "ns/name". */
  readonly pods?: Readonly<Record<string, Record<string, string>>>;
}

export interface Check {
  readonly ports: readonly PortSpec[];
  /** Carves the expectation out of an all-allowed table; omitted: everything allowed. */
  readonly expect?: (r: Reachability) => void;
}

export interface Step {
  /** What this step changes, for reports. */
  readonly note?: string;
  /** All NetworkPolicy objects in force at this step. */
  readonly policies: readonly object[];
  readonly labels?: LabelChanges;
  readonly checks: readonly Check[];
}

export interface ConformanceCase {
  /** The upstream test's name (or, for cases not in upstream's file, a description in that style). */
  readonly name: string;
  /** Where the case comes from. */
  readonly origin: "upstream" | "upstream-udp" | "cyclonus" | "brief";
  readonly steps: readonly Step[];
}

/** The expected table of one check, built fresh. */
export function expectedFor(check: Check): Reachability {
  const r = new Reachability();
  check.expect?.(r);
  return r;
}

// ───────────────────────────── policy builders ─────────────────────────────

type Selector = { matchLabels?: Record<string, string>; matchExpressions?: object[] };

function netpol(namespace: string, name: string, spec: object): object {
  return { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name, namespace }, spec };
}

const everything: Selector = {};
const podIs = (name: string): Selector => ({ matchLabels: { pod: name } });
const nsNamed = (ns: string): Selector => ({ matchLabels: { [NS_NAME_LABEL]: ns } });
const nsNotIn = (...ns: string[]): Selector => ({
  matchExpressions: [{ key: NS_NAME_LABEL, operator: "NotIn", values: ns }],
});

/** podSelector {} with the given types and no rules: default deny for those directions. */
const denyAll = (ns: string, name: string, types: ("Ingress" | "Egress")[]) =>
  netpol(ns, name, { podSelector: everything, policyTypes: types });

/**
 * The cases. `ip` maps a pod key to its IP (ipBlock cases need real addresses).
 * Pod placement (a and c on node1, b on node2) means every table mixes
 * same-node and cross-node pairs.
 */
export function conformanceCases(ip: (podKey: string) => string): ConformanceCase[] {
  return [
    // ── default deny / allow ──────────────────────────────────────────────
    {
      name: "should support a 'default-deny-ingress' policy (TCP and UDP)",
      origin: "upstream",
      steps: [
        {
          policies: [denyAll("x", "deny-ingress", ["Ingress"])],
          checks: [{ ports: [TCP80, UDP80], expect: (r) => r.expectPeer({}, { namespace: "x" }, false) }],
        },
      ],
    },
    {
      name: "should deny egress from all pods in a namespace (default-deny-egress)",
      origin: "upstream",
      steps: [
        {
          policies: [denyAll("x", "deny-egress-ns-x", ["Egress"])],
          checks: [{ ports: [TCP80, UDP81], expect: (r) => r.expectPeer({ namespace: "x" }, {}, false) }],
        },
      ],
    },
    {
      name: "should support a 'default-deny-all' policy",
      origin: "upstream",
      steps: [
        {
          policies: [denyAll("x", "deny-all", ["Ingress", "Egress"])],
          checks: [
            {
              ports: [TCP80],
              expect: (r) => r.expectPeer({}, { namespace: "x" }, false).expectPeer({ namespace: "x" }, {}, false),
            },
          ],
        },
      ],
    },
    {
      name: "should support allow-all policy",
      origin: "upstream",
      steps: [
        {
          policies: [netpol("x", "allow-all", { podSelector: everything, ingress: [{}] })],
          checks: [{ ports: [TCP80, TCP81] }],
        },
      ],
    },
    {
      name: "should stop enforcing policies after they are deleted (deny-all, then delete)",
      origin: "upstream",
      steps: [
        {
          policies: [denyAll("x", "deny-all", ["Ingress", "Egress"])],
          checks: [
            {
              ports: [TCP80],
              expect: (r) => r.expectPeer({ namespace: "x" }, {}, false).expectPeer({}, { namespace: "x" }, false),
            },
          ],
        },
        { note: "policy deleted", policies: [], checks: [{ ports: [TCP80] }] },
      ],
    },

    // ── pod and namespace selectors ───────────────────────────────────────
    {
      name: "should enforce policy to allow traffic from pods within server namespace based on PodSelector",
      origin: "upstream",
      steps: [
        {
          // policyTypes omitted: defaults to Ingress only.
          policies: [
            netpol("x", "x-a-allows-x-b", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ podSelector: podIs("b") }] }],
            }),
          ],
          checks: [{ ports: [TCP80], expect: (r) => r.expectAllIngress("x/a", false).expect("x/b", "x/a", true) }],
        },
      ],
    },
    {
      name: "should enforce policy based on PodSelector with MatchExpressions",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "x-a-allows-x-b", {
              podSelector: podIs("a"),
              policyTypes: ["Ingress"],
              ingress: [
                { from: [{ podSelector: { matchExpressions: [{ key: "pod", operator: "In", values: ["b"] }] } }] },
              ],
            }),
          ],
          checks: [{ ports: [TCP80], expect: (r) => r.expectAllIngress("x/a", false).expect("x/b", "x/a", true) }],
        },
      ],
    },
    {
      name: "should enforce policy to allow ingress traffic for a target (deny-all plus allow-all-to-a)",
      origin: "upstream",
      steps: [
        {
          policies: [
            denyAll("x", "deny-all", ["Ingress"]),
            netpol("x", "allow-all-to-a", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ podSelector: everything, namespaceSelector: everything }] }],
            }),
          ],
          checks: [
            {
              ports: [TCP80],
              expect: (r) =>
                r.expectAllIngress("x/a", true).expectAllIngress("x/b", false).expectAllIngress("x/c", false),
            },
          ],
        },
      ],
    },
    {
      name: "should enforce policy to allow ingress traffic from pods in all namespaces",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-from-another-ns", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ namespaceSelector: { matchLabels: {} } }] }],
            }),
          ],
          checks: [{ ports: [TCP80] }],
        },
      ],
    },
    {
      name: "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector (label ns: y)",
      origin: "upstream",
      steps: [
        {
          // Selects by the label our manifests write (cyclonus style).
          policies: [
            netpol("x", "allow-client-a-via-ns-selector", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }] }],
            }),
          ],
          checks: [
            {
              ports: [TCP80],
              expect: (r) =>
                r
                  .expectPeer({ namespace: "x" }, { namespace: "x", pod: "a" }, false)
                  .expectPeer({ namespace: "z" }, { namespace: "x", pod: "a" }, false),
            },
          ],
        },
      ],
    },
    {
      name: "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label",
      origin: "upstream",
      steps: [
        {
          // kubernetes.io/metadata.name is not in our manifests: the agent must supply it.
          policies: [
            netpol("x", "allow-client-a-via-ns-selector-for-immutable-ns-label", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ namespaceSelector: nsNamed("y") }] }],
            }),
          ],
          checks: [
            {
              ports: [TCP80],
              expect: (r) =>
                r
                  .expectPeer({ namespace: "x" }, { namespace: "x", pod: "a" }, false)
                  .expectPeer({ namespace: "z" }, { namespace: "x", pod: "a" }, false),
            },
          ],
        },
      ],
    },
    {
      name: "should enforce policy based on NamespaceSelector with MatchExpressions",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-ns-y-match-selector", {
              podSelector: podIs("a"),
              ingress: [
                {
                  from: [
                    {
                      namespaceSelector: { matchExpressions: [{ key: NS_NAME_LABEL, operator: "In", values: ["y"] }] },
                    },
                  ],
                },
              ],
            }),
          ],
          checks: [
            {
              ports: [TCP80],
              expect: (r) =>
                r
                  .expectPeer({ namespace: "x" }, { namespace: "x", pod: "a" }, false)
                  .expectPeer({ namespace: "z" }, { namespace: "x", pod: "a" }, false),
            },
          ],
        },
      ],
    },
    {
      name: "should enforce policy based on NamespaceSelector with MatchExpressions using default ns label (egress NotIn)",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-ns-y-match-selector-for-immutable-ns-label", {
              podSelector: podIs("a"),
              policyTypes: ["Egress"],
              egress: [{ to: [{ namespaceSelector: nsNotIn("y") }] }],
            }),
          ],
          checks: [
            { ports: [TCP80], expect: (r) => r.expectPeer({ namespace: "x", pod: "a" }, { namespace: "y" }, false) },
          ],
        },
      ],
    },
    {
      name: "should enforce policy based on PodSelector or NamespaceSelector (separate peers are ORed)",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-ns-y-match-selector", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ namespaceSelector: nsNotIn("x") }, { podSelector: podIs("b") }] }],
            }),
          ],
          checks: [{ ports: [TCP80], expect: (r) => r.expect("x/a", "x/a", false).expect("x/c", "x/a", false) }],
        },
      ],
    },
    {
      name: "should enforce policy based on any PodSelectors",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-ns-x-pod-b-c", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ podSelector: podIs("b") }, { podSelector: podIs("c") }] }],
            }),
          ],
          checks: [
            {
              ports: [TCP80],
              expect: (r) => r.expectAllIngress("x/a", false).expect("x/b", "x/a", true).expect("x/c", "x/a", true),
            },
          ],
        },
      ],
    },
    {
      name: "should enforce policy based on PodSelector and NamespaceSelector (one peer: both must match)",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-ns-y-podselector-and-nsselector", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ namespaceSelector: nsNotIn("x"), podSelector: podIs("b") }] }],
            }),
          ],
          checks: [
            {
              ports: [TCP80],
              expect: (r) => r.expectAllIngress("x/a", false).expect("y/b", "x/a", true).expect("z/b", "x/a", true),
            },
          ],
        },
      ],
    },
    {
      name: "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-ns-y-z-pod-b-c", {
              podSelector: podIs("a"),
              ingress: [
                {
                  from: [
                    {
                      namespaceSelector: nsNotIn("x"),
                      podSelector: { matchExpressions: [{ key: "pod", operator: "In", values: ["b", "c"] }] },
                    },
                  ],
                },
              ],
            }),
          ],
          checks: [
            {
              ports: [TCP80],
              expect: (r) =>
                r
                  .expectPeer({ namespace: "x" }, { namespace: "x", pod: "a" }, false)
                  .expect("y/a", "x/a", false)
                  .expect("z/a", "x/a", false),
            },
          ],
        },
      ],
    },
    {
      name: "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector (TCP and UDP)",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-ns-y-pod-a-via-namespace-pod-selector", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ namespaceSelector: nsNamed("y"), podSelector: podIs("a") }] }],
            }),
          ],
          checks: [
            { ports: [TCP80, UDP80], expect: (r) => r.expectAllIngress("x/a", false).expect("y/a", "x/a", true) },
          ],
        },
      ],
    },
    {
      name: "should deny ingress from pods on other namespaces",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "deny-empty-policy", {
              podSelector: everything,
              ingress: [{ from: [{ podSelector: { matchLabels: {} } }] }],
            }),
          ],
          checks: [
            {
              ports: [TCP80],
              expect: (r) =>
                r
                  .expectPeer({ namespace: "y" }, { namespace: "x" }, false)
                  .expectPeer({ namespace: "z" }, { namespace: "x" }, false),
            },
          ],
        },
      ],
    },

    // ── ports and protocols ───────────────────────────────────────────────
    {
      name: "should enforce policy based on Ports (TCP 81 from namespace y)",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-client-a-via-ns-selector", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ namespaceSelector: nsNamed("y") }], ports: [{ port: 81, protocol: "TCP" }] }],
            }),
          ],
          checks: [
            {
              ports: [TCP81],
              expect: (r) =>
                r
                  .expectPeer({ namespace: "x" }, { namespace: "x", pod: "a" }, false)
                  .expectPeer({ namespace: "z" }, { namespace: "x", pod: "a" }, false),
            },
            { ports: [TCP80, UDP81], expect: (r) => r.expectAllIngress("x/a", false) },
          ],
        },
      ],
    },
    {
      name: "should enforce policy based on Ports (UDP 81 from namespace y)",
      origin: "upstream-udp",
      steps: [
        {
          policies: [
            netpol("x", "allow-ingress-on-port-81-ns-x", {
              podSelector: podIs("a"),
              ingress: [{ from: [{ namespaceSelector: nsNamed("y") }], ports: [{ port: 81, protocol: "UDP" }] }],
            }),
          ],
          checks: [
            {
              ports: [UDP81],
              expect: (r) =>
                r
                  .expectPeer({ namespace: "x" }, { namespace: "x", pod: "a" }, false)
                  .expectPeer({ namespace: "z" }, { namespace: "x", pod: "a" }, false),
            },
            { ports: [TCP81], expect: (r) => r.expectAllIngress("x/a", false) },
          ],
        },
      ],
    },
    {
      name: "should not allow access by TCP when a policy specifies only UDP",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-only-udp-ingress-on-port-81", {
              podSelector: podIs("a"),
              ingress: [{ ports: [{ port: 81, protocol: "UDP" }] }],
            }),
          ],
          checks: [{ ports: [TCP81], expect: (r) => r.expectAllIngress("x/a", false) }, { ports: [UDP81] }],
        },
      ],
    },
    {
      name: "should enforce ingress policy allowing any port traffic to a server on a specific protocol",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-ingress-by-proto", {
              podSelector: podIs("a"),
              ingress: [{ ports: [{ protocol: "TCP" }] }],
            }),
          ],
          checks: [{ ports: [TCP80, TCP81] }, { ports: [UDP80], expect: (r) => r.expectAllIngress("x/a", false) }],
        },
      ],
    },
    {
      name: "should allow ingress access on one named port (serve-81-tcp)",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-all", { podSelector: everything, ingress: [{ ports: [{ port: "serve-81-tcp" }] }] }),
          ],
          checks: [{ ports: [TCP81] }, { ports: [TCP80], expect: (r) => r.expectPeer({}, { namespace: "x" }, false) }],
        },
      ],
    },
    {
      name: "should allow ingress access from namespace on one named port (serve-80-tcp)",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-client-a-via-ns-selector-80", {
              podSelector: podIs("a"),
              ingress: [
                { from: [{ namespaceSelector: nsNamed("y") }], ports: [{ port: "serve-80-tcp", protocol: "TCP" }] },
              ],
            }),
          ],
          checks: [
            {
              ports: [TCP80],
              expect: (r) =>
                r
                  .expectPeer({ namespace: "x" }, { namespace: "x", pod: "a" }, false)
                  .expectPeer({ namespace: "z" }, { namespace: "x", pod: "a" }, false),
            },
            { ports: [TCP81, UDP80], expect: (r) => r.expectAllIngress("x/a", false) },
          ],
        },
      ],
    },
    {
      name: "should allow egress access on one named port (serve-80-tcp)",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-egress", {
              podSelector: everything,
              policyTypes: ["Egress"],
              egress: [{ ports: [{ port: "serve-80-tcp" }] }],
            }),
          ],
          checks: [{ ports: [TCP80] }, { ports: [TCP81], expect: (r) => r.expectPeer({ namespace: "x" }, {}, false) }],
        },
      ],
    },
    {
      name: "should allow egress access on one named port (serve-81-udp); the name resolves per protocol",
      origin: "cyclonus",
      steps: [
        {
          policies: [
            netpol("x", "allow-egress-81-udp", {
              podSelector: everything,
              policyTypes: ["Egress"],
              egress: [{ ports: [{ port: "serve-81-udp", protocol: "UDP" }] }],
            }),
          ],
          checks: [
            { ports: [UDP81] },
            { ports: [TCP81, UDP80], expect: (r) => r.expectPeer({ namespace: "x" }, {}, false) },
          ],
        },
        {
          // protocol defaults to TCP, and no pod has a TCP port named serve-81-udp: nothing is allowed.
          note: "same named port without protocol (defaults to TCP): matches no port",
          policies: [
            netpol("x", "allow-egress-81-udp", {
              podSelector: everything,
              policyTypes: ["Egress"],
              egress: [{ ports: [{ port: "serve-81-udp" }] }],
            }),
          ],
          checks: [{ ports: [UDP81, TCP81], expect: (r) => r.expectPeer({ namespace: "x" }, {}, false) }],
        },
      ],
    },
    {
      name: "should enforce a rule with multiple ports (TCP 80 and UDP 81 in one rule)",
      origin: "cyclonus",
      steps: [
        {
          policies: [
            netpol("x", "allow-multi-port", {
              podSelector: podIs("a"),
              ingress: [
                {
                  ports: [
                    { port: 80, protocol: "TCP" },
                    { port: 81, protocol: "UDP" },
                  ],
                },
              ],
            }),
          ],
          checks: [
            { ports: [TCP80, UDP81] },
            { ports: [TCP81, UDP80], expect: (r) => r.expectAllIngress("x/a", false) },
          ],
        },
      ],
    },
    {
      name: "should pair each rule's peers with that rule's ports only (two rules, different peers and ports)",
      origin: "cyclonus",
      steps: [
        {
          policies: [
            netpol("x", "two-rules", {
              podSelector: podIs("a"),
              ingress: [
                { from: [{ namespaceSelector: nsNamed("y") }], ports: [{ port: 80, protocol: "TCP" }] },
                { from: [{ podSelector: podIs("b") }], ports: [{ port: 81, protocol: "UDP" }] },
              ],
            }),
          ],
          checks: [
            {
              ports: [TCP80],
              expect: (r) =>
                r.expectAllIngress("x/a", false).expectPeer({ namespace: "y" }, { namespace: "x", pod: "a" }, true),
            },
            { ports: [UDP81], expect: (r) => r.expectAllIngress("x/a", false).expect("x/b", "x/a", true) },
            { ports: [TCP81], expect: (r) => r.expectAllIngress("x/a", false) },
          ],
        },
      ],
    },
    {
      name: "should enforce a port range (port 80, endPort 81) from namespace y",
      origin: "cyclonus",
      steps: [
        {
          policies: [
            netpol("x", "allow-port-range", {
              podSelector: podIs("a"),
              ingress: [
                { from: [{ namespaceSelector: nsNamed("y") }], ports: [{ protocol: "TCP", port: 80, endPort: 81 }] },
              ],
            }),
          ],
          checks: [
            {
              ports: [TCP80, TCP81],
              expect: (r) =>
                r
                  .expectPeer({ namespace: "x" }, { namespace: "x", pod: "a" }, false)
                  .expectPeer({ namespace: "z" }, { namespace: "x", pod: "a" }, false),
            },
            { ports: [UDP80], expect: (r) => r.expectAllIngress("x/a", false) },
          ],
        },
      ],
    },

    // ── several policies ──────────────────────────────────────────────────
    {
      name: "should enforce multiple, stacked policies with overlapping podSelectors (union)",
      origin: "upstream",
      steps: (() => {
        const allow81 = netpol("x", "allow-client-a-via-ns-selector", {
          podSelector: podIs("a"),
          ingress: [{ from: [{ namespaceSelector: nsNamed("y") }], ports: [{ port: 81, protocol: "TCP" }] }],
        });
        const allow80 = netpol("x", "allow-client-a-via-ns-selector-80", {
          podSelector: podIs("a"),
          ingress: [{ from: [{ namespaceSelector: nsNamed("y") }], ports: [{ port: 80, protocol: "TCP" }] }],
        });
        const onlyY = (r: Reachability) =>
          r
            .expectPeer({ namespace: "x" }, { namespace: "x", pod: "a" }, false)
            .expectPeer({ namespace: "z" }, { namespace: "x", pod: "a" }, false);
        return [
          {
            policies: [allow81],
            checks: [
              { ports: [TCP81], expect: onlyY },
              { ports: [TCP80], expect: (r) => r.expectAllIngress("x/a", false) },
            ],
          },
          {
            note: "second policy opens port 80",
            policies: [allow81, allow80],
            checks: [{ ports: [TCP80, TCP81], expect: onlyY }],
          },
        ];
      })(),
    },
    {
      name: "should enforce multiple ingress policies with ingress allow-all policy taking precedence",
      origin: "upstream",
      steps: (() => {
        const only80 = netpol("x", "allow-ingress-port-80", {
          podSelector: everything,
          ingress: [{ ports: [{ port: 80 }] }],
        });
        return [
          {
            policies: [only80],
            checks: [
              { ports: [TCP81], expect: (r) => r.expectPeer({}, { namespace: "x" }, false) },
              { ports: [TCP80] },
            ],
          },
          {
            note: "allow-all added",
            policies: [only80, netpol("x", "allow-ingress", { podSelector: everything, ingress: [{}] })],
            checks: [{ ports: [TCP81] }],
          },
        ];
      })(),
    },
    {
      name: "should enforce multiple egress policies with egress allow-all policy taking precedence",
      origin: "upstream",
      steps: (() => {
        const only80 = netpol("x", "allow-egress-port-80", {
          podSelector: everything,
          policyTypes: ["Egress"],
          egress: [{ ports: [{ port: 80 }] }],
        });
        return [
          {
            policies: [only80],
            checks: [{ ports: [TCP81], expect: (r) => r.expectPeer({ namespace: "x" }, {}, false) }],
          },
          {
            note: "allow-all egress added",
            policies: [
              only80,
              netpol("x", "allow-egress", { podSelector: everything, policyTypes: ["Egress"], egress: [{}] }),
            ],
            checks: [{ ports: [TCP81] }],
          },
        ];
      })(),
    },
    {
      name: "should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector",
      origin: "upstream",
      steps: (() => {
        const allowEgress = netpol("x", "allow-egress-for-target", {
          podSelector: podIs("a"),
          policyTypes: ["Egress"],
          egress: [{}],
        });
        return [
          { policies: [allowEgress], checks: [{ ports: [TCP80] }] },
          {
            note: "deny-ingress for x/a added",
            policies: [
              allowEgress,
              netpol("x", "deny-ingress-via-label-selector", { podSelector: podIs("a"), policyTypes: ["Ingress"] }),
            ],
            checks: [{ ports: [TCP80], expect: (r) => r.expectAllIngress("x/a", false) }],
          },
        ];
      })(),
    },

    // ── egress ────────────────────────────────────────────────────────────
    {
      name: "should deny egress from pods based on PodSelector",
      origin: "upstream",
      steps: [
        {
          policies: [netpol("x", "deny-egress-pod-a", { podSelector: podIs("a"), policyTypes: ["Egress"] })],
          checks: [{ ports: [TCP80, UDP80], expect: (r) => r.expectAllEgress("x/a", false) }],
        },
      ],
    },
    {
      name: "should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-to-ns-y-pod-a", {
              podSelector: podIs("a"),
              policyTypes: ["Egress"],
              egress: [{ to: [{ namespaceSelector: nsNamed("y"), podSelector: podIs("a") }] }],
            }),
          ],
          checks: [
            { ports: [TCP80, UDP81], expect: (r) => r.expectAllEgress("x/a", false).expect("x/a", "y/a", true) },
          ],
        },
      ],
    },
    {
      name: "should work with Ingress, Egress specified together",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-client-a-via-pod-selector", {
              podSelector: podIs("a"),
              policyTypes: ["Egress", "Ingress"],
              ingress: [{ from: [{ podSelector: podIs("b") }] }],
              egress: [{ ports: [{ port: 80 }] }],
            }),
          ],
          checks: [
            { ports: [TCP80], expect: (r) => r.expectAllIngress("x/a", false).expect("x/b", "x/a", true) },
            {
              ports: [TCP81],
              expect: (r) => r.expectAllIngress("x/a", false).expectAllEgress("x/a", false).expect("x/b", "x/a", true),
            },
          ],
        },
      ],
    },
    {
      name: "should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)",
      origin: "upstream",
      steps: (() => {
        const fromXA = [{ namespaceSelector: nsNamed("x"), podSelector: podIs("a") }];
        return [
          {
            policies: [
              netpol("x", "allow-to-ns-y-pod-a", {
                podSelector: podIs("a"),
                policyTypes: ["Egress"],
                egress: [{ to: [{ namespaceSelector: nsNamed("y"), podSelector: podIs("a") }] }],
              }),
              netpol("y", "allow-from-xa-on-ya-match-selector", {
                podSelector: podIs("a"),
                ingress: [{ from: fromXA }],
              }),
              netpol("y", "allow-from-xa-on-yb-match-selector", {
                podSelector: podIs("b"),
                ingress: [{ from: fromXA }],
              }),
            ],
            checks: [
              {
                ports: [TCP80],
                expect: (r) =>
                  r
                    .expectPeer({ namespace: "x", pod: "a" }, {}, false)
                    .expectPeer({}, { namespace: "y", pod: "a" }, false)
                    .expectPeer({ namespace: "x", pod: "a" }, { namespace: "y", pod: "a" }, true)
                    .expectPeer({}, { namespace: "y", pod: "b" }, false),
              },
            ],
          },
        ];
      })(),
    },

    // ── ipBlock ───────────────────────────────────────────────────────────
    {
      name: "should allow egress access to server in CIDR block (a pod's /32)",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-client-a-via-cidr-egress-rule", {
              podSelector: podIs("a"),
              policyTypes: ["Egress"],
              egress: [{ to: [{ ipBlock: { cidr: `${ip("y/b")}/32` } }] }],
            }),
          ],
          checks: [
            { ports: [TCP80, UDP80], expect: (r) => r.expectAllEgress("x/a", false).expect("x/a", "y/b", true) },
          ],
        },
      ],
    },
    {
      name: "should enforce except clause while egress access to server in CIDR block",
      origin: "upstream",
      steps: [
        {
          policies: [
            netpol("x", "allow-client-a-via-cidr-egress-rule", {
              podSelector: podIs("a"),
              policyTypes: ["Egress"],
              egress: [{ to: [{ ipBlock: { cidr: largeCidr(ip("x/b")), except: [`${ip("x/b")}/32`] } }] }],
            }),
          ],
          checks: [{ ports: [TCP80], expect: (r) => r.expect("x/a", "x/b", false) }],
        },
      ],
    },
    {
      name: "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed",
      origin: "upstream",
      steps: (() => {
        const withExcept = netpol("x", "allow-client-a-via-cidr-egress-rule", {
          podSelector: podIs("a"),
          policyTypes: ["Egress"],
          egress: [{ to: [{ ipBlock: { cidr: largeCidr(ip("x/b")), except: [`${ip("x/b")}/32`] } }] }],
        });
        const onlyB = (name: string) =>
          netpol("x", name, {
            podSelector: podIs("a"),
            policyTypes: ["Egress"],
            egress: [{ to: [{ ipBlock: { cidr: `${ip("x/b")}/32` } }] }],
          });
        return [
          { policies: [withExcept], checks: [{ ports: [TCP80], expect: (r) => r.expect("x/a", "x/b", false) }] },
          {
            note: "a second policy allows x/b's /32: the other policy's except does not deny it",
            policies: [withExcept, onlyB("allow-client-a-to-b-cidr")],
            checks: [{ ports: [TCP80] }],
          },
          {
            note: "the first policy updated in place to allow only x/b's /32",
            policies: [onlyB("allow-client-a-via-cidr-egress-rule")],
            checks: [{ ports: [TCP80], expect: (r) => r.expectAllEgress("x/a", false).expect("x/a", "x/b", true) }],
          },
        ];
      })(),
    },

    // ── updates ───────────────────────────────────────────────────────────
    {
      name: "should enforce updated policy (allow-all mutated to deny-all)",
      origin: "upstream",
      steps: [
        {
          policies: [netpol("x", "allow-all-mutate-to-deny-all", { podSelector: everything, ingress: [{}] })],
          checks: [{ ports: [TCP81] }],
        },
        {
          note: "ingress rules removed",
          policies: [
            netpol("x", "allow-all-mutate-to-deny-all", {
              podSelector: everything,
              policyTypes: ["Ingress"],
              ingress: [],
            }),
          ],
          checks: [{ ports: [TCP81], expect: (r) => r.expectPeer({}, { namespace: "x" }, false) }],
        },
      ],
    },
    {
      name: "should enforce a policy whose podSelector is updated (pod a, then pod b)",
      origin: "brief",
      steps: [
        {
          policies: [netpol("x", "isolate", { podSelector: podIs("a"), policyTypes: ["Ingress"] })],
          checks: [{ ports: [TCP80], expect: (r) => r.expectAllIngress("x/a", false) }],
        },
        {
          note: "podSelector changed to pod b",
          policies: [netpol("x", "isolate", { podSelector: podIs("b"), policyTypes: ["Ingress"] })],
          checks: [{ ports: [TCP80], expect: (r) => r.expectAllIngress("x/b", false) }],
        },
      ],
    },
    {
      name: "should allow ingress access from updated namespace",
      origin: "upstream",
      steps: (() => {
        const policy = netpol("x", "allow-client-a-via-ns-selector", {
          podSelector: podIs("a"),
          ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns2: "updated" } } }] }],
        });
        return [
          { policies: [policy], checks: [{ ports: [TCP80], expect: (r) => r.expectAllIngress("x/a", false) }] },
          {
            note: "namespace y labelled ns2=updated",
            policies: [policy],
            labels: { namespaces: { y: { ns2: "updated" } } },
            checks: [
              {
                ports: [TCP80],
                expect: (r) => r.expectAllIngress("x/a", false).expectPeer({ namespace: "y" }, {}, true),
              },
            ],
          },
        ];
      })(),
    },
    {
      name: "should allow ingress access from updated pod",
      origin: "upstream",
      steps: (() => {
        const policy = netpol("x", "allow-client-a-via-pod-selector", {
          podSelector: podIs("a"),
          ingress: [{ from: [{ podSelector: { matchLabels: { pod: "b", pod2: "updated" } } }] }],
        });
        return [
          { policies: [policy], checks: [{ ports: [TCP80], expect: (r) => r.expectAllIngress("x/a", false) }] },
          {
            note: "pod x/b labelled pod2=updated",
            policies: [policy],
            labels: { pods: { "x/b": { pod2: "updated" } } },
            checks: [{ ports: [TCP80], expect: (r) => r.expectAllIngress("x/a", false).expect("x/b", "x/a", true) }],
          },
        ];
      })(),
    },
    {
      name: "should deny ingress access to updated pod",
      origin: "upstream",
      steps: (() => {
        const policy = netpol("x", "deny-ingress-via-label-selector", {
          podSelector: { matchLabels: { target: "isolated" } },
          policyTypes: ["Ingress"],
        });
        return [
          { policies: [policy], checks: [{ ports: [TCP80] }] },
          {
            note: "pod x/a labelled target=isolated",
            policies: [policy],
            labels: { pods: { "x/a": { target: "isolated" } } },
            checks: [{ ports: [TCP80], expect: (r) => r.expectAllIngress("x/a", false) }],
          },
        ];
      })(),
    },
  ];
}

/** The /4 containing an IPv4 address, like upstream's makeLargeCIDRForIP. */
export function largeCidr(ipv4: string): string {
  const first = Number(ipv4.split(".")[0]);
  return `${first & 0xf0}.0.0.0/4`;
}
