// The 24 tests of network-policy-api's ClusterNetworkPolicy conformance
// profile (conformance/tests/*.go), ported: each keeps its upstream ShortName,
// source file, features and sub-test names; its manifests (cnp-fixtures.ts)
// are applied at its start and removed at its end, and its sub-tests run in
// order with their mutations persisting, as upstream. A poke is
// "<client> > <server> <proto>/<port> +|-" (+ connects, - is blocked); pods are
// <first name>-<ordinal> (harry-0 is gryffindor/harry-potter-0), `centaur` is
// the host-network server of the suite's forbidden-forrest namespace (a node).

import { P } from "./cnp-conformance-pokes.js";
import {
  gressFixture,
  HNP,
  inlineCidrFixture,
  integrationFixture,
  nodePeersFixture,
  priorityFixture,
  protocolFixture,
  type TEMPLATES,
} from "./cnp-fixtures.js";

export type Feature = "ClusterNetworkPolicy" | "ClusterNetworkPolicyNamedPorts" | "ClusterNetworkPolicyEgressNodePeers";
type Obj = Record<string, unknown>;

/** What a sub-test changes before it pokes (upstream: a patch of a CNP or namespace, a deleted NetworkPolicy). */
export type Mutation =
  | { swap: { cnp: string; dir: "ingress" | "egress"; i: number; j: number } }
  | { action: { cnp: string; dir: "ingress" | "egress"; i: number; to: string } }
  | { priority: { cnp: string; to: number } }
  | { namedPort: { cnp: string; dir: "ingress" | "egress"; i: number; port: string } }
  | { prependEgress: { cnp: string; rule: (ip: (pod: string) => string) => Obj } }
  | { namespaceLabel: { ns: string; value: string } }
  | { deleteNetworkPolicy: { namespace: string; name: string } };

export interface SubTest {
  readonly name: string;
  readonly mutations?: readonly Mutation[];
  readonly pokes: readonly string[];
}

export interface UpstreamTest {
  readonly shortName: string;
  /** conformance/tests/<file> */
  readonly file: string;
  readonly features: readonly Feature[];
  readonly manifests: () => Obj[];
  readonly subtests: readonly SubTest[];
}

const CNP: Feature = "ClusterNetworkPolicy";
const swap = (cnp: string, dir: "ingress" | "egress", i: number, j: number): Mutation => ({ swap: { cnp, dir, i, j } });

/** The six (Admin) or four (Baseline) sub-tests of a single-protocol test, from its pokes. */
function protocolSubtests(
  tier: "Admin" | "Baseline",
  dir: "ingress" | "egress",
  proto: string,
  pokes: readonly (readonly string[])[],
): SubTest[] {
  const name = tier === "Admin" ? `${dir}-${proto}` : "default";
  const what = (a: string) => `'${a}-${dir}' policy for ${proto.toUpperCase()} protocol`;
  const subs: SubTest[] = [
    { name: `Should support an ${what("allow")}; ensure rule ordering is respected`, pokes: pokes[0]! },
    { name: `Should support an ${what("allow")} at the specified port`, pokes: pokes[1]! },
    {
      name: `Should support an ${what("deny")}; ensure rule ordering is respected`,
      mutations: [swap(name, dir, 0, 1)],
      pokes: pokes[2]!,
    },
    { name: `Should support a ${what("deny")} at the specified port`, pokes: pokes[3]! },
  ];
  if (tier === "Baseline") return subs;
  return [
    ...subs,
    {
      name: `Should support an ${what("pass")}; ensure rule ordering is respected`,
      mutations: [swap(name, dir, 0, 2)],
      pokes: pokes[4]!,
    },
    {
      name: `Should support a ${what("pass")} at the specified port`,
      mutations: [swap(name, dir, 3, 4)],
      pokes: pokes[5]!,
    },
  ];
}

function protocolTest(
  tier: "Admin" | "Baseline",
  key: keyof typeof TEMPLATES,
  pokes: readonly (readonly string[])[],
): UpstreamTest {
  const [dir, proto] = key.split("-") as ["ingress" | "egress", string];
  const D = dir === "ingress" ? "Ingress" : "Egress";
  const prefix = tier === "Admin" ? "admin-network-policy" : "baseline-admin-network-policy";
  return {
    shortName: `CNP${tier}Tier${D}${proto.toUpperCase()}`,
    file: `${prefix}-standard-${dir}-${proto}-rules.go`,
    features: [CNP],
    manifests: () => [protocolFixture(tier, key)],
    subtests: protocolSubtests(tier, dir, proto, pokes),
  };
}

const gressPokes = (tier: "Admin" | "Baseline"): SubTest[] => {
  const admin = tier === "Admin";
  const name = admin ? "gress-rules" : "default";
  const what = (a: string) => `'${a}-gress' policy across different protocols`;
  const subs: SubTest[] = [
    {
      name: `Should support an ${what("allow")}`,
      pokes: [
        "harry-0 > luna-0 tcp/80 +",
        "harry-1 > luna-0 udp/53 +",
        "harry-0 > luna-0 sctp/9003 +",
        "luna-0 > harry-0 tcp/80 +",
        "luna-1 > harry-0 udp/53 +",
        "luna-1 > harry-0 sctp/9003 +",
      ],
    },
    {
      name: `Should support an ${what("allow")} at the specified ports`,
      pokes: [
        "harry-0 > cedric-1 tcp/8080 +",
        "harry-1 > cedric-1 tcp/80 -",
        "harry-0 > cedric-1 udp/5353 +",
        "harry-1 > cedric-1 udp/53 -",
        "harry-0 > cedric-1 sctp/9003 +",
        "harry-1 > cedric-1 sctp/9005 -",
        "cedric-0 > harry-1 tcp/80 +",
        "cedric-1 > harry-1 tcp/8080 -",
        "cedric-0 > harry-1 udp/5353 +",
        "cedric-1 > harry-1 udp/53 -",
        "cedric-0 > harry-1 sctp/9003 +",
        "cedric-1 > harry-1 sctp/9005 -",
      ],
    },
    {
      name: `Should support an ${what("deny")}`,
      mutations: [swap(name, "egress", 0, 1), swap(name, "ingress", 0, 1)],
      pokes: [
        "harry-0 > luna-1 tcp/80 -",
        "harry-1 > luna-1 udp/53 -",
        "harry-0 > luna-1 sctp/9003 -",
        "luna-0 > harry-1 tcp/80 -",
        "luna-1 > harry-1 udp/53 -",
        "luna-1 > harry-1 sctp/9003 -",
      ],
    },
    {
      name: `Should support a ${what("deny")} at the specified ports`,
      pokes: [
        "harry-0 > draco-0 tcp/80 -",
        "harry-1 > draco-0 tcp/8080 +",
        "harry-0 > draco-0 udp/53 -",
        "harry-1 > draco-0 udp/5353 +",
        "harry-0 > draco-0 sctp/9003 -",
        "harry-1 > draco-0 sctp/9005 +",
        "draco-0 > harry-0 tcp/80 -",
        "draco-1 > harry-0 tcp/8080 +",
        "draco-0 > harry-0 udp/53 -",
        "draco-1 > harry-0 udp/5353 +",
        "draco-0 > harry-0 sctp/9003 -",
        "draco-1 > harry-0 sctp/9005 +",
      ],
    },
  ];
  if (!admin) return subs;
  const open = (pokes: string[]) => pokes.map((p) => `${p} +`);
  return [
    ...subs,
    {
      name: `Should support an ${what("pass")}`,
      mutations: [swap(name, "egress", 0, 2), swap(name, "ingress", 0, 2)],
      pokes: open([
        "harry-0 > luna-0 tcp/80",
        "harry-0 > luna-0 udp/5353",
        "harry-0 > luna-0 sctp/9003",
        "luna-0 > harry-0 tcp/80",
        "luna-1 > harry-0 udp/53",
        "luna-1 > harry-0 sctp/9003",
      ]),
    },
    {
      name: `Should support a ${what("pass")} at the specified ports`,
      mutations: [swap(name, "egress", 3, 4), swap(name, "ingress", 3, 4)],
      pokes: open([
        "harry-0 > draco-0 tcp/80",
        "harry-1 > draco-0 tcp/8080",
        "harry-0 > draco-0 udp/53",
        "harry-1 > draco-0 udp/5353",
        "harry-0 > draco-0 sctp/9003",
        "harry-1 > draco-0 sctp/9005",
        "draco-0 > harry-0 tcp/80",
        "draco-1 > harry-0 tcp/8080",
        "draco-0 > harry-0 udp/53",
        "draco-1 > harry-0 udp/5353",
        "draco-0 > harry-0 sctp/9003",
        "draco-1 > harry-0 sctp/9005",
      ]),
    },
  ];
};

const threeProtocols = (client: string, server: string, sign: "+" | "-") =>
  ["tcp/80", "udp/53", "sctp/9003"].map((p) => `${client} > ${server} ${p} ${sign}`);

function inlineCidrTest(tier: "Admin" | "Baseline"): UpstreamTest {
  const admin = tier === "Admin";
  const name = admin ? "inline-cidr-as-peers-example" : "default";
  const prefix = admin ? "admin-network-policy" : "baseline-admin-network-policy";
  return {
    shortName: `CNP${tier}TierEgressInlineCIDRPeers`,
    file: `${prefix}-standard-egress-inline-cidr-rules.go`,
    features: [CNP],
    manifests: () => [inlineCidrFixture(tier)],
    subtests: [
      {
        name: "Should support a 'deny-egress' rule policy for egress-cidr-peer",
        pokes: [
          ...threeProtocols("harry-1", "luna-0", "-"),
          ...threeProtocols("harry-1", "cedric-0", "-"),
          ...threeProtocols("harry-1", "draco-0", "+"),
        ],
      },
      {
        name: "(continued) slytherin relabelled: its pods are no longer the Accept rule's peers",
        mutations: [{ namespaceLabel: { ns: "slytherin", value: "denied-namespace-label" } }],
        pokes: threeProtocols("harry-1", "draco-0", "-"),
      },
      {
        name: "(continued) slytherin's label restored",
        mutations: [{ namespaceLabel: { ns: "slytherin", value: "slytherin" } }],
        pokes: threeProtocols("harry-1", "draco-0", "+"),
      },
      {
        name: "Should support an 'allow-egress' rule policy for egress-cidr-peer",
        mutations: [
          {
            prependEgress: {
              cnp: name,
              rule: (ip) => ({
                name: "allow-egress-to-specific-podIPs",
                action: "Accept",
                to: [{ networks: [`${ip("luna-0")}/32`, `${ip("cedric-0")}/32`] }],
              }),
            },
          },
        ],
        pokes: [
          ...threeProtocols("harry-1", "luna-0", "+"),
          ...threeProtocols("harry-1", "cedric-0", "+"),
          ...threeProtocols("harry-1", "luna-1", "-"),
          ...threeProtocols("harry-1", "cedric-1", "-"),
        ],
      },
    ],
  };
}

function namedPortTest(tier: "Admin" | "Baseline", dir: "ingress" | "egress"): UpstreamTest {
  const admin = tier === "Admin";
  // Which rule of which fixture gets the named port, as upstream picks them.
  const spec = admin
    ? dir === "egress"
      ? {
          key: "egress-tcp" as const,
          i: 5,
          port: "web",
          pokes: ["harry-0 > cedric-1 tcp/80 +", "harry-1 > cedric-1 tcp/8080 -"],
        }
      : {
          key: "ingress-udp" as const,
          i: 5,
          port: "dns",
          pokes: ["harry-0 > cedric-1 udp/53 +", "harry-1 > cedric-1 udp/5353 -"],
        }
    : dir === "egress"
      ? {
          key: "egress-udp" as const,
          i: 3,
          port: "dns",
          pokes: ["cedric-0 > harry-1 udp/53 +", "cedric-1 > harry-1 udp/5353 -"],
        }
      : {
          key: "ingress-tcp" as const,
          i: 3,
          port: "web",
          pokes: ["cedric-0 > harry-1 tcp/80 +", "cedric-1 > harry-1 tcp/8080 -"],
        };
  const name = admin ? spec.key : "default";
  const D = dir === "ingress" ? "Ingress" : "Egress";
  return {
    shortName: `CNP${tier}Tier${D}NamedPort`,
    file: `${admin ? "admin" : "baseline-admin"}-network-policy-experimental-${dir}-rules.go`,
    features: [CNP, "ClusterNetworkPolicyNamedPorts"],
    manifests: () => [protocolFixture(tier, spec.key)],
    subtests: [
      {
        name: `Should support an 'allow-${dir}' policy for named port`,
        mutations: [{ namedPort: { cnp: name, dir, i: spec.i, port: spec.port } }],
        pokes: spec.pokes,
      },
    ],
  };
}

function nodePeersTest(tier: "Admin" | "Baseline"): UpstreamTest {
  const admin = tier === "Admin";
  return {
    shortName: `CNP${tier}TierEgressNodePeers`,
    file: `${admin ? "admin" : "baseline-admin"}-network-policy-experimental-egress-rules.go`,
    features: [CNP, "ClusterNetworkPolicyEgressNodePeers"],
    manifests: () => [nodePeersFixture(tier)],
    subtests: admin
      ? [
          {
            name: "Should support an 'allow-egress' rule policy for egress-node-peer",
            pokes: [`harry-1 > centaur tcp/${HNP[0]} +`],
          },
          {
            name: "Should support a 'pass-egress' rule policy for egress-node-peer",
            pokes: [`harry-1 > centaur udp/${HNP[2]} +`],
          },
          {
            name: "Should support a 'deny-egress' rule policy for egress-node-peer",
            pokes: [
              `harry-1 > centaur tcp/${HNP[1]} -`,
              `harry-1 > centaur udp/${HNP[4]} -`,
              `harry-1 > centaur sctp/${HNP[6]} -`,
            ],
          },
        ]
      : [
          {
            name: "Should support an 'allow-egress' rule policy for egress-node-peer",
            pokes: [`harry-0 > centaur tcp/${HNP[0]} +`, `harry-1 > centaur tcp/${HNP[1]} +`],
          },
          {
            name: "Should support a 'deny-egress' rule policy for egress-node-peer",
            pokes: [`harry-1 > centaur udp/${HNP[4]} -`, `harry-1 > centaur sctp/${HNP[6]} -`],
          },
        ],
  };
}

const denyBothWays = [
  {
    name: "Should Deny traffic from slytherin to gryffindor respecting admin CNP",
    pokes: ["draco-0 > harry-0 tcp/80 -", "draco-1 > harry-0 tcp/8080 -"],
  },
  {
    name: "Should Deny traffic to slytherin from gryffindor respecting admin CNP",
    pokes: ["harry-0 > draco-0 tcp/80 -", "harry-1 > draco-0 tcp/8080 -"],
  },
];

export const CNP_CONFORMANCE: readonly UpstreamTest[] = [
  namedPortTest("Admin", "egress"),
  nodePeersTest("Admin"),
  namedPortTest("Admin", "ingress"),
  inlineCidrTest("Admin"),
  protocolTest("Admin", "egress-sctp", P["egress-sctp"]!),
  protocolTest("Admin", "egress-tcp", P["egress-tcp"]!),
  protocolTest("Admin", "egress-udp", P["egress-udp"]!),
  {
    shortName: "CNPAdminTierGress",
    file: "admin-network-policy-standard-gress-rules.go",
    features: [CNP],
    manifests: () => [gressFixture("Admin")],
    subtests: gressPokes("Admin"),
  },
  protocolTest("Admin", "ingress-sctp", P["ingress-sctp"]!),
  protocolTest("Admin", "ingress-tcp", P["ingress-tcp"]!),
  protocolTest("Admin", "ingress-udp", P["ingress-udp"]!),
  {
    shortName: "CNPAdminTierIntegration",
    file: "admin-network-policy-standard-integration.go",
    features: [CNP],
    manifests: integrationFixture,
    subtests: [
      ...denyBothWays,
      {
        name: "Should support a 'pass-ingress' policy for admin CNP and respect the match for network policy",
        mutations: [{ action: { cnp: "pass-example", dir: "ingress", i: 0, to: "Pass" } }],
        pokes: ["draco-0 > harry-0 tcp/80 +", "draco-1 > harry-0 tcp/8080 +"],
      },
      {
        name: "Should support a 'pass-egress' policy for admin CNP and respect the match for network policy",
        mutations: [{ action: { cnp: "pass-example", dir: "egress", i: 0, to: "Pass" } }],
        pokes: ["harry-0 > draco-0 tcp/80 +", "harry-1 > draco-0 tcp/8080 +"],
      },
      {
        name: "Should support a 'pass-ingress' policy for admin CNP and respect the match for baseline cluster network policy",
        mutations: [
          { deleteNetworkPolicy: { namespace: "gryffindor", name: "allow-gress-from-to-slytherin-to-gryffindor" } },
        ],
        pokes: ["draco-0 > harry-0 tcp/80 -", "draco-1 > harry-0 tcp/8080 -"],
      },
      {
        name: "Should support a 'pass-egress' policy for admin CNP and respect the match for baseline cluster network policy",
        pokes: ["harry-0 > draco-0 tcp/80 -", "harry-1 > draco-0 tcp/8080 -"],
      },
    ],
  },
  {
    shortName: "CNPAdminTierPriorityField",
    file: "admin-network-policy-standard-priority.go",
    features: [CNP],
    manifests: priorityFixture,
    subtests: [
      ...denyBothWays,
      {
        name: "Should respect admin CNP priority field; thus passing both ingress and egress traffic over to baseline CNP",
        mutations: [{ priority: { cnp: "old-priority-60-new-priority-40-example", to: 40 } }],
        pokes: [
          "draco-0 > harry-0 tcp/80 +",
          "draco-1 > harry-0 tcp/8080 +",
          "harry-0 > draco-0 tcp/80 +",
          "harry-1 > draco-0 tcp/8080 +",
        ],
      },
    ],
  },
  namedPortTest("Baseline", "egress"),
  nodePeersTest("Baseline"),
  namedPortTest("Baseline", "ingress"),
  inlineCidrTest("Baseline"),
  protocolTest("Baseline", "egress-sctp", P["egress-sctp"]!),
  protocolTest("Baseline", "egress-tcp", P["egress-tcp"]!),
  protocolTest("Baseline", "egress-udp", P["egress-udp"]!),
  {
    shortName: "CNPBaselineTierGress",
    file: "baseline-admin-network-policy-standard-gress-rules.go",
    features: [CNP],
    manifests: () => [gressFixture("Baseline")],
    subtests: gressPokes("Baseline"),
  },
  protocolTest("Baseline", "ingress-sctp", P["ingress-sctp"]!),
  protocolTest("Baseline", "ingress-tcp", P["ingress-tcp"]!),
  protocolTest("Baseline", "ingress-udp", P["ingress-udp"]!),
];
