// Host endpoint chain names, as Felix names them (rules/chain_defs.go).

export const HOST_TO_ENDPOINT_PREFIX = "cali-th-";
export const HOST_FROM_ENDPOINT_PREFIX = "cali-fh-";
export const HOST_TO_ENDPOINT_FORWARD_PREFIX = "cali-thfw-";
export const HOST_FROM_ENDPOINT_FORWARD_PREFIX = "cali-fhfw-";

export const DISPATCH_TO_HOST_ENDPOINT = "cali-to-host-endpoint";
export const DISPATCH_FROM_HOST_ENDPOINT = "cali-from-host-endpoint";
export const DISPATCH_TO_HOST_ENDPOINT_FORWARD = "cali-to-hep-forward";
export const DISPATCH_FROM_HOST_ENDPOINT_FORWARD = "cali-from-hep-forward";

export const FAILSAFE_IN = "cali-failsafe-in";
export const FAILSAFE_OUT = "cali-failsafe-out";

/**
 * The all-interfaces (`*`) endpoint's chains: Felix names them `cali-fh-*`,
 * which nft cannot parse as a chain name; `/` is accepted by iptables and nft
 * and can never be in a Linux interface name, so no real interface's chains
 * can collide with these.
 */
export const ALL_INTERFACES_CHAIN_SUFFIX = "/all";

/** `cali-fh-` + interface, or + `/all` for the all-interfaces endpoint. */
export const hostChainName = (prefix: string, iface: string) =>
  prefix + (iface === "*" ? ALL_INTERFACES_CHAIN_SUFFIX : iface);

/** Every per-interface host endpoint chain starts with one of these. */
export const HOST_ENDPOINT_CHAIN = /^cali-(th|fh|thfw|fhfw)-/;
