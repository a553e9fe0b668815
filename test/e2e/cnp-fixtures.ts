// The policies of network-policy-api's ClusterNetworkPolicy conformance suite
// (conformance/base/{admin_tier,baseline_tier,api_integration}/*.yaml),
// rebuilt from their semantics with small builders: most fixtures are one
// template — Accept, Deny, Pass everything from or to house A, then Deny and
// Pass house B on a port, Accept house C on a port and Deny the rest of C —
// with the Pass rules left out in the Baseline tier, which has no Pass in the
// suite's fixtures.

export type House = "gryffindor" | "slytherin" | "hufflepuff" | "ravenclaw";
export type Dir = "ingress" | "egress";
export type Proto = "tcp" | "udp" | "sctp";
export type PortRef = readonly [Proto, number];
type Obj = Record<string, unknown>;

export const HOUSE_LABEL = "conformance-house";
/** Host-network server ports of the suite's `centaur` pods (HostNetworkPorts 0..6; 3 and 5 are HTTP side ports). */
export const HNP = [34560, 34561, 34562, 34563, 34564, 34565, 34566] as const;

export const byName = (house: House) => ({ namespaces: { matchLabels: { "kubernetes.io/metadata.name": house } } });
export const byHouse = (house: House) => ({ namespaces: { matchLabels: { [HOUSE_LABEL]: house } } });
export const podsOfHouse = (house: House) => ({
  pods: {
    namespaceSelector: { matchLabels: { [HOUSE_LABEL]: house } },
    podSelector: { matchLabels: { [HOUSE_LABEL]: house } },
  },
});
export const protocols = (ports: readonly PortRef[]) =>
  ports.map(([p, n]) => ({ [p]: { destinationPort: { number: n } } }));

export function rule(dir: Dir, name: string, action: string, peers: readonly Obj[], ports?: readonly PortRef[]): Obj {
  return {
    name,
    action,
    [dir === "ingress" ? "from" : "to"]: peers,
    ...(ports ? { protocols: protocols(ports) } : {}),
  };
}

export function cnp(name: string, tier: "Admin" | "Baseline", priority: number, subject: Obj, spec: Obj): Obj {
  return {
    apiVersion: "policy.networking.k8s.io/v1alpha2",
    kind: "ClusterNetworkPolicy",
    metadata: { name },
    spec: { tier, priority, subject, ...spec },
  };
}

export interface Template {
  /** Everything from/to this house: Accept, Deny, (Pass). */
  readonly all: House;
  /** Deny, (Pass) this house on these ports. */
  readonly denied: readonly [House, readonly PortRef[]];
  /** Accept this house on these ports, then Deny the rest of it. */
  readonly accepted: readonly [House, readonly PortRef[]];
}

/** The suite's 7-rule list (Admin) or 5-rule list (Baseline: no Pass rules). */
export function templateRules(dir: Dir, t: Template, withPass: boolean): Obj[] {
  const w = dir === "ingress" ? "from" : "to";
  const [bHouse, bPorts] = t.denied;
  const [cHouse, cPorts] = t.accepted;
  const rules = [
    rule(dir, `allow-${w}-${t.all}-everything`, "Accept", [byName(t.all)]),
    rule(dir, `deny-${w}-${t.all}-everything`, "Deny", [byName(t.all)]),
    withPass && rule(dir, `pass-${w}-${t.all}-everything`, "Pass", [byName(t.all)]),
    rule(dir, `deny-${w}-${bHouse}-on-ports`, "Deny", [byName(bHouse)], bPorts),
    withPass && rule(dir, `pass-${w}-${bHouse}-on-ports`, "Pass", [byName(bHouse)], bPorts),
    rule(dir, `allow-${w}-${cHouse}-on-ports`, "Accept", [byName(cHouse)], cPorts),
    rule(dir, `deny-${w}-${cHouse}-everything-else`, "Deny", [byName(cHouse)]),
  ];
  return rules.filter((r): r is Obj => r !== false);
}

/** A one-direction template CNP: `ingress-tcp` and friends in Admin, `default` in Baseline. */
export function templateCnp(
  name: string,
  tier: "Admin" | "Baseline",
  priority: number,
  subject: House,
  dir: Dir,
  t: Template,
): Obj {
  return cnp(name, tier, priority, byName(subject), { [dir]: templateRules(dir, t, tier === "Admin") });
}

const S = (n: number): PortRef => ["sctp", n];
const T = (n: number): PortRef => ["tcp", n];
const U = (n: number): PortRef => ["udp", n];

/** Per protocol and direction: the subject and the three houses of the template (the suite's choices). */
export const TEMPLATES: Record<`${Dir}-${Proto}`, { subject: House; t: Template; adminPriority: number }> = {
  "ingress-tcp": {
    subject: "gryffindor",
    adminPriority: 3,
    t: { all: "ravenclaw", denied: ["slytherin", [T(80)]], accepted: ["hufflepuff", [T(80)]] },
  },
  "ingress-udp": {
    subject: "hufflepuff",
    adminPriority: 4,
    t: { all: "ravenclaw", denied: ["slytherin", [U(5353)]], accepted: ["gryffindor", [U(53)]] },
  },
  "ingress-sctp": {
    subject: "ravenclaw",
    adminPriority: 5,
    t: { all: "gryffindor", denied: ["slytherin", [S(9003)]], accepted: ["hufflepuff", [S(9003)]] },
  },
  "egress-tcp": {
    subject: "gryffindor",
    adminPriority: 6,
    t: { all: "ravenclaw", denied: ["slytherin", [T(80)]], accepted: ["hufflepuff", [T(8080)]] },
  },
  "egress-udp": {
    subject: "hufflepuff",
    adminPriority: 7,
    t: { all: "ravenclaw", denied: ["slytherin", [U(5353)]], accepted: ["gryffindor", [U(53)]] },
  },
  "egress-sctp": {
    subject: "ravenclaw",
    adminPriority: 8,
    t: { all: "gryffindor", denied: ["slytherin", [S(9003)]], accepted: ["hufflepuff", [S(9003)]] },
  },
};

/** The single-protocol fixtures: `<dir>-<proto>` in Admin, `default` in Baseline. */
export function protocolFixture(tier: "Admin" | "Baseline", key: keyof typeof TEMPLATES): Obj {
  const { subject, t, adminPriority } = TEMPLATES[key];
  const dir = key.startsWith("ingress") ? "ingress" : "egress";
  return tier === "Admin"
    ? templateCnp(key, "Admin", adminPriority, subject, dir, t)
    : templateCnp("default", "Baseline", 10, subject, dir, t);
}

/** standard-gress-rules-combined: both directions, three protocols per port rule. */
export function gressFixture(tier: "Admin" | "Baseline"): Obj {
  const egress: Template = {
    all: "ravenclaw",
    denied: ["slytherin", [T(80), U(53), S(9003)]],
    accepted: ["hufflepuff", [T(8080), U(5353), S(9003)]],
  };
  const ingress: Template = {
    all: "ravenclaw",
    denied: ["slytherin", [T(80), U(53), S(9003)]],
    accepted: ["hufflepuff", [T(80), U(5353), S(9003)]],
  };
  const admin = tier === "Admin";
  return cnp(admin ? "gress-rules" : "default", tier, admin ? 15 : 10, byName("gryffindor"), {
    egress: templateRules("egress", egress, admin),
    ingress: templateRules("ingress", ingress, admin),
  });
}

/** standard-egress-inline-cidr-rules: Accept slytherin's pods, Deny the internet (every address). */
export function inlineCidrFixture(tier: "Admin" | "Baseline"): Obj {
  const admin = tier === "Admin";
  const subject = admin ? podsOfHouse("gryffindor") : byName("gryffindor");
  return cnp(admin ? "inline-cidr-as-peers-example" : "default", tier, admin ? 85 : 10, subject, {
    egress: [
      rule("egress", "allow-egress-to-slytherin", "Accept", [podsOfHouse("slytherin")]),
      rule("egress", "deny-egress-to-internet", "Deny", [{ networks: ["0.0.0.0/0", "::/0"] }]),
    ],
  });
}

const linuxNodes = { nodes: { matchLabels: { "kubernetes.io/os": "linux" } } };
const internet = { networks: ["0.0.0.0/0", "::/0"] };

/** experimental-egress-selector-rules: node peers (and CIDRs) for gryffindor's egress. */
export function nodePeersFixture(tier: "Admin" | "Baseline"): Obj {
  if (tier === "Admin") {
    return cnp("node-and-cidr-as-peers-example", "Admin", 75, podsOfHouse("gryffindor"), {
      egress: [
        rule("egress", "allow-egress-to-hnp0-on-nodes", "Accept", [linuxNodes], [T(HNP[0])]),
        rule("egress", "pass-egress-to-hnp2-on-nodes", "Pass", [linuxNodes], [U(HNP[2])]),
        rule("egress", "deny-egress-to-slytherin-and-nodes-and-internet", "Deny", [
          podsOfHouse("slytherin"),
          linuxNodes,
          internet,
        ]),
      ],
    });
  }
  return cnp("default", "Baseline", 10, byName("gryffindor"), {
    egress: [
      {
        name: "allow-egress-to-hnp0-hnp1-on-nodes",
        action: "Accept",
        to: [linuxNodes],
        protocols: [{ tcp: { destinationPort: { range: { start: HNP[0], end: HNP[1] } } } }],
      },
      rule("egress", "deny-egress-to-nodes-and-internet", "Deny", [linuxNodes, internet]),
    ],
  });
}

/** standard-priority-field: a Deny at 50, a Pass at 60 (moved to 40 by the test), a Baseline Accept. */
export function priorityFixture(): Obj[] {
  const both = (action: string, what: string) => ({
    ingress: [rule("ingress", `${what}-ingress-from-slytherin`, action, [podsOfHouse("slytherin")])],
    egress: [rule("egress", `${what}-egress-to-slytherin`, action, [podsOfHouse("slytherin")])],
  });
  return [
    cnp("priority-50-example", "Admin", 50, podsOfHouse("gryffindor"), both("Deny", "deny-all")),
    cnp("old-priority-60-new-priority-40-example", "Admin", 60, podsOfHouse("gryffindor"), both("Pass", "pass-all")),
    cnp("default", "Baseline", 10, podsOfHouse("gryffindor"), both("Accept", "allow-all")),
  ];
}

/** standard-anp-np-banp: Admin Deny, a NetworkPolicy allowing slytherin, Baseline Deny. */
export function integrationFixture(): Obj[] {
  const deny = () => ({
    ingress: [rule("ingress", "deny-all-ingress-from-slytherin", "Deny", [byHouse("slytherin")])],
    egress: [rule("egress", "deny-all-egress-to-slytherin", "Deny", [byHouse("slytherin")])],
  });
  const slytherinNs = { namespaceSelector: { matchLabels: { [HOUSE_LABEL]: "slytherin" } } };
  return [
    cnp("pass-example", "Admin", 10, byHouse("gryffindor"), deny()),
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "allow-gress-from-to-slytherin-to-gryffindor", namespace: "gryffindor" },
      spec: {
        podSelector: {},
        policyTypes: ["Ingress", "Egress"],
        ingress: [{ from: [slytherinNs] }],
        egress: [{ to: [slytherinNs] }],
      },
    },
    cnp("default", "Baseline", 10, byHouse("gryffindor"), deny()),
  ];
}
