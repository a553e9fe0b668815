// The pokes of the single-protocol tests of the ClusterNetworkPolicy
// conformance port (cnp-conformance-cases.ts), per `<direction>-<protocol>`,
// in sub-test order: allow, allow at the port, deny, deny at the port, pass,
// pass at the port (Baseline tests use the first four, as upstream).

// Pokes per single-protocol test, in sub-test order (allow, allow at port, deny, deny at port, pass, pass at port).
export const P: Record<string, string[][]> = {
  "ingress-tcp": [
    ["luna-0 > harry-0 tcp/80 +", "luna-1 > harry-0 tcp/8080 +"],
    ["cedric-0 > harry-1 tcp/80 +", "cedric-1 > harry-1 tcp/8080 -"],
    ["luna-0 > harry-1 tcp/80 -", "luna-1 > harry-1 tcp/8080 -"],
    ["draco-0 > harry-0 tcp/80 -", "draco-1 > harry-0 tcp/8080 +"],
    ["luna-0 > harry-0 tcp/80 +", "luna-1 > harry-0 tcp/8080 +"],
    ["draco-0 > harry-0 tcp/80 +", "draco-1 > harry-0 tcp/8080 +"],
  ],
  "ingress-udp": [
    ["luna-0 > cedric-0 udp/53 +", "luna-1 > cedric-0 udp/5353 +"],
    ["harry-0 > cedric-1 udp/53 +", "harry-1 > cedric-1 udp/5353 -"],
    ["luna-0 > cedric-1 udp/53 -", "luna-1 > cedric-1 udp/5353 -"],
    ["draco-0 > cedric-0 udp/5353 -", "draco-1 > cedric-0 udp/53 +"],
    ["luna-0 > cedric-1 udp/5353 +", "luna-1 > cedric-1 udp/53 +"],
    ["draco-0 > cedric-0 udp/5353 +", "draco-1 > cedric-0 udp/53 +"],
  ],
  "ingress-sctp": [
    ["harry-0 > luna-0 sctp/9003 +", "harry-1 > luna-0 sctp/9005 +"],
    ["cedric-0 > luna-1 sctp/9003 +", "cedric-1 > luna-1 sctp/9005 -"],
    ["harry-0 > luna-1 sctp/9003 -", "harry-1 > luna-1 sctp/9005 -"],
    ["draco-0 > luna-0 sctp/9003 -", "draco-1 > luna-0 sctp/9005 +"],
    ["harry-0 > luna-1 sctp/9003 +", "harry-1 > luna-1 sctp/9005 +"],
    ["draco-0 > luna-0 sctp/9003 +", "draco-1 > luna-0 sctp/9005 +"],
  ],
  "egress-tcp": [
    ["harry-0 > luna-0 tcp/80 +", "harry-1 > luna-0 tcp/8080 +"],
    ["harry-0 > cedric-1 tcp/8080 +", "harry-1 > cedric-1 tcp/80 -"],
    ["harry-0 > luna-1 tcp/80 -", "harry-1 > luna-1 tcp/8080 -"],
    ["harry-0 > draco-0 tcp/80 -", "harry-1 > draco-0 tcp/8080 +"],
    ["harry-0 > luna-0 tcp/80 +", "harry-1 > luna-0 tcp/8080 +"],
    ["harry-0 > draco-0 tcp/80 +", "harry-1 > draco-0 tcp/8080 +"],
  ],
  "egress-udp": [
    ["cedric-0 > luna-0 udp/53 +", "cedric-1 > luna-0 udp/5353 +"],
    ["cedric-0 > harry-1 udp/53 +", "cedric-1 > harry-1 udp/5353 -"],
    ["cedric-0 > luna-1 udp/53 -", "cedric-1 > luna-1 udp/5353 -"],
    ["cedric-0 > draco-0 udp/5353 -", "cedric-1 > draco-0 udp/53 +"],
    ["cedric-0 > luna-1 udp/5353 +", "cedric-1 > luna-1 udp/53 +"],
    ["cedric-0 > draco-0 udp/5353 +", "cedric-1 > draco-0 udp/53 +"],
  ],
  "egress-sctp": [
    ["luna-0 > harry-0 sctp/9003 +", "luna-1 > harry-0 sctp/9005 +"],
    ["luna-0 > cedric-1 sctp/9003 +", "luna-1 > cedric-1 sctp/9005 -"],
    ["luna-0 > harry-1 sctp/9003 -", "luna-1 > harry-1 sctp/9005 -"],
    ["luna-0 > draco-0 sctp/9003 -", "luna-1 > draco-0 sctp/9005 +"],
    ["luna-0 > harry-1 sctp/9003 +", "luna-1 > harry-1 sctp/9005 +"],
    ["luna-0 > draco-0 sctp/9003 +", "luna-1 > draco-0 sctp/9005 +"],
  ],
};
