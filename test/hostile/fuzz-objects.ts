// fast-check arbitraries of hostile cluster objects, as a namespace user or a
// compromised writer could put them into the file datastore: names, labels,
// selectors, ports, CIDRs and addresses with newlines, quotes, restore-text
// commands, huge and out-of-range values, mixed with ordinary ones so that
// selectors do select. Nodes stay fixed (routing claims are another test's).
// Tenants also write NetworkSets (any nets, spoofed Calico labels), and a
// compromised writer HostEndpoints on node1 with hostile interface names.

import fc from "fast-check";

/** Strings an attacker would try, plus random ones. */
const HOSTILE = [
  "",
  " ",
  "a'b",
  'a"b',
  "x\ny",
  "\n-F INPUT\n",
  "COMMIT\n*filter\n-A INPUT -j ACCEPT",
  "-j ACCEPT",
  "--comment",
  "$(reboot)",
  "a b",
  "a.b/c",
  "a/b.c",
  "cali-fw-x",
  "😀",
  "\u0000",
  "x".repeat(300),
];
const hostile = fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 12 }));

/** Mostly names that select each other, sometimes hostile. */
const pick = (common: readonly string[]) =>
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...common) }, { weight: 1, arbitrary: hostile });

export const NAMESPACES = ["prod", "dev", "kube-system"];
const labelKey = pick(["app", "tier", "team", "projectcalico.org/namespace", "kubernetes.io/metadata.name"]);
const labelValue = pick(["web", "db", "prod", "dev", "a"]);
const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3 });

/**
 * Object names (namespaces, pods, service accounts, policies, services):
 * hostile ones too once names are validated before they reach the renderer
 * (issue 14's restore-text injection, a sibling change); otherwise valid
 * DNS-1123 names only, so that this test fuzzes everything else meanwhile.
 */
function names(hostileNames: boolean, common: readonly string[]): fc.Arbitrary<string> {
  return hostileNames ? pick(common) : fc.constantFrom(...common);
}

const V4 = ["10.65.1.5", "10.65.1.6", "10.65.2.5", "10.65.2.6", "192.0.2.9"];
const V6 = ["fd00:65:1::5", "fd00:65:2::5"];
const BAD_IPS = [
  "127.0.0.1",
  "169.254.169.254",
  "0.0.0.0",
  "::1",
  "fe80::1",
  "10.65.1.300",
  "1.2.3",
  "::ffff:10.0.0.1",
];
/** Valid values most of the time, so that most objects convert and select; a hostile one now and then. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 24, arbitrary: valid }, { weight: 1, arbitrary: bad });

const ip = mostly(
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...V4) }, { weight: 1, arbitrary: fc.constantFrom(...V6) }),
  fc.oneof(fc.constantFrom(...BAD_IPS), hostile),
);
const number = mostly(fc.oneof(fc.constantFrom(53, 80, 8080), fc.integer({ min: 1, max: 65535 })), fc.constant(0));

const cidr = mostly(
  fc.constantFrom("10.0.0.0/8", "10.65.1.0/24", "0.0.0.0/0", "::/0", "fd00::/16", "10.65.1.5/32", "10.65.1.5/24"),
  fc.oneof(fc.constantFrom("300.0.0.0/8", "10.0.0.0/33", "10.0.0.0", "fd00::/129", "a\nb"), hostile),
);
const portValue = mostly(
  fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(53, 80, 8080, "http", "dns", "80")),
  fc.oneof(fc.integer({ min: -2, max: 70_000 }), fc.constantFrom("0", "65536", "-1", "a'b", "x\ny"), hostile),
);
const protocol = mostly(
  fc.constantFrom(undefined, "TCP", "UDP", "SCTP"),
  fc.oneof(fc.constantFrom("ICMP", "tcp", "TCP\n"), hostile),
);

const operator = mostly(fc.constantFrom("In", "NotIn", "Exists", "DoesNotExist"), fc.constant("Bogus"));
const anySelector = fc.record(
  {
    matchLabels: labels,
    matchExpressions: fc.array(
      operator.chain((op) =>
        fc.record({
          key: labelKey,
          operator: fc.constant(op),
          values:
            op === "In" || op === "NotIn"
              ? fc.array(labelValue, { minLength: 1, maxLength: 3 })
              : mostly(fc.constant([]), fc.array(labelValue, { maxLength: 1 })),
        }),
      ),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
);

/** Often empty or one label, so that policies select pods and peers match. */
const labelSelector = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  { weight: 3, arbitrary: fc.record({ matchLabels: fc.dictionary(labelKey, labelValue, { maxKeys: 1 }) }) },
  { weight: 2, arbitrary: anySelector },
);

const peer = fc.oneof(
  fc.record({ podSelector: labelSelector }),
  fc.record({ namespaceSelector: labelSelector }),
  fc.record({ namespaceSelector: labelSelector, podSelector: labelSelector }),
  fc.record({ ipBlock: fc.record({ cidr, except: fc.array(cidr, { maxLength: 2 }) }, { requiredKeys: ["cidr"] }) }),
);
const port = fc.record(
  { protocol, port: portValue, endPort: mostly(fc.constant(undefined), portValue) },
  { requiredKeys: ["port"] },
);
const rule = (dir: "from" | "to") =>
  fc.record(
    { [dir]: fc.array(peer, { maxLength: 3 }), ports: fc.array(port, { maxLength: 4 }) } as Record<
      string,
      fc.Arbitrary<unknown>
    >,
    { requiredKeys: [] },
  );

export interface HostileOptions {
  /** Hostile object names too (once names are validated before rendering). */
  readonly names: boolean;
  /** Pods claiming namespace/service-account labels (`pcns.`/`pcsa.`), once those are refused. */
  readonly spoofedLabels: boolean;
}

/** The objects a tenant writes. */
function tenantObjects(o: HostileOptions) {
  const hostileNames = o.names;
  const podLabels = o.spoofedLabels
    ? fc.dictionary(
        fc.oneof(labelKey, fc.constantFrom("pcns.team", "pcns.projectcalico.org/name", "pcsa.app")),
        labelValue,
        {
          maxKeys: 3,
        },
      )
    : labels;
  const nsName = names(hostileNames, NAMESPACES);
  const objName = names(hostileNames, ["a", "b", "c", "web-1", "db-1"]);
  const saName = names(hostileNames, ["default", "sa1"]);
  const svcName = names(hostileNames, ["svc", "api"]);
  // Service port names reach chain comments like object names do.
  const portName = names(hostileNames, ["http", "dns"]);
  const networkPolicy = fc.record({
    apiVersion: fc.constant("networking.k8s.io/v1"),
    kind: fc.constant("NetworkPolicy"),
    metadata: fc.record({ name: objName, namespace: nsName }),
    spec: fc.record(
      {
        podSelector: labelSelector,
        policyTypes: fc.subarray(["Ingress", "Egress"]),
        ingress: fc.array(rule("from"), { maxLength: 3 }),
        egress: fc.array(rule("to"), { maxLength: 3 }),
      },
      { requiredKeys: ["podSelector"] },
    ),
  });

  const pod = fc.record({
    apiVersion: fc.constant("v1"),
    kind: fc.constant("Pod"),
    metadata: fc.record({ name: objName, namespace: nsName, labels: podLabels }),
    spec: fc.record({
      nodeName: fc.constantFrom("node1", "node1", "node2"),
      serviceAccountName: saName,
      containers: fc.array(
        fc.record({
          name: fc.constant("c"),
          ports: fc.array(
            fc.record(
              { name: pick(["http", "dns"]), containerPort: mostly(number, portValue), protocol },
              { requiredKeys: ["name", "containerPort"] },
            ),
            { maxLength: 2 },
          ),
        }),
        { maxLength: 1 },
      ),
    }),
    status: fc.record({
      phase: fc.constant("Running"),
      podIPs: fc.array(fc.record({ ip }), { minLength: 1, maxLength: 2 }),
    }),
  });

  const namespace = fc.record({
    apiVersion: fc.constant("v1"),
    kind: fc.constant("Namespace"),
    metadata: fc.record({ name: nsName, labels }),
  });

  const serviceAccount = fc.record({
    apiVersion: fc.constant("v1"),
    kind: fc.constant("ServiceAccount"),
    metadata: fc.record({ name: saName, namespace: nsName, labels }),
  });

  const service = fc.record({
    apiVersion: fc.constant("v1"),
    kind: fc.constant("Service"),
    metadata: fc.record({ name: svcName, namespace: nsName }),
    spec: fc.record(
      {
        type: mostly(fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer"), fc.constant("Weird")),
        clusterIP: mostly(fc.constantFrom("10.96.0.10", "10.96.0.11", "fd00:96::10"), ip),
        externalIPs: fc.array(ip, { maxLength: 2 }),
        ports: fc.array(
          fc.record({
            name: portName,
            protocol: mostly(fc.constant("TCP"), protocol),
            port: mostly(number, portValue),
            nodePort: mostly(fc.constant(undefined), portValue),
          }),
          {
            maxLength: 2,
          },
        ),
      },
      { requiredKeys: ["clusterIP", "ports"] },
    ),
  });

  const endpointSlice = fc.record({
    apiVersion: fc.constant("discovery.k8s.io/v1"),
    kind: fc.constant("EndpointSlice"),
    metadata: fc.record({
      name: names(hostileNames, ["svc-1", "api-1"]),
      namespace: nsName,
      labels: fc.record({ "kubernetes.io/service-name": svcName }),
    }),
    addressType: mostly(fc.constant("IPv4"), fc.constantFrom("IPv6", "FQDN", "Bogus")),
    ports: fc.array(
      fc.record({
        name: portName,
        protocol: mostly(fc.constant("TCP"), protocol),
        port: mostly(number, portValue),
      }),
      {
        maxLength: 2,
      },
    ),
    endpoints: fc.array(
      fc.record({
        addresses: fc.array(ip, { minLength: 1, maxLength: 1 }),
        nodeName: fc.constantFrom("node1", "node2"),
      }),
      {
        maxLength: 3,
      },
    ),
  });
  // A tenant's network set claims any nets and labels, Calico's namespace label included: Kubernetes
  // policy peers must never admit it (they are pods), so the selector sets stay pods only.
  const networkSet = fc.record({
    apiVersion: fc.constant("projectcalico.org/v3"),
    kind: fc.constant("NetworkSet"),
    metadata: fc.record({ name: objName, namespace: nsName, labels }),
    spec: fc.record({ nets: fc.array(cidr, { maxLength: 3 }) }),
  });
  return { networkPolicy, pod, namespace, serviceAccount, service, endpointSlice, networkSet };
}

/** Admin data written by a compromised writer: host endpoints on this node with hostile interface names and IPs. */
const hostEndpoint = fc.record({
  apiVersion: fc.constant("projectcalico.org/v3"),
  kind: fc.constant("HostEndpoint"),
  metadata: fc.record({ name: fc.constantFrom("h1", "h2"), labels }),
  spec: fc.record(
    {
      node: fc.constant("node1"),
      interfaceName: fc.oneof(fc.constantFrom("eth0", "eth1", "*", "cali0123456789a", ""), hostile),
      expectedIPs: fc.array(ip, { maxLength: 2 }),
      profiles: fc.array(fc.oneof(fc.constantFrom("projectcalico-default-allow", "kns.prod"), hostile), {
        maxLength: 2,
      }),
    },
    { requiredKeys: ["node"] },
  ),
});

const node = (n: number) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: `node${n}` },
  spec: { podCIDR: `10.65.${n}.0/24` },
  status: { addresses: [{ type: "InternalIP", address: `172.31.250.${n}` }] },
});

/** A hostile cluster: fixed nodes, then everything a tenant can write. */
export function hostileCluster(o: HostileOptions): fc.Arbitrary<Record<string, unknown>[]> {
  const t = tenantObjects(o);
  return fc
    .tuple(
      fc.array(t.namespace, { maxLength: 3 }),
      fc.array(t.serviceAccount, { maxLength: 2 }),
      fc.array(t.pod, { maxLength: 6 }),
      fc.array(t.networkPolicy, { minLength: 1, maxLength: 3 }),
      fc.array(t.service, { maxLength: 2 }),
      fc.array(t.endpointSlice, { maxLength: 2 }),
      fc.array(t.networkSet, { maxLength: 2 }),
      fc.array(hostEndpoint, { maxLength: 2 }),
    )
    .map((parts) => [node(1), node(2), ...parts.flat()] as Record<string, unknown>[]);
}
