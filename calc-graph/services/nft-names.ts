// kube-proxy's nftables names (pkg/proxy/nftables/proxier.go): fixed chains
// and maps, and per service port `<prefix><HASH>-<ns>/<svc>/<proto>/<port>`
// (HASH: 8 base32 characters of sha256 of the rest), per endpoint the same
// with `__<ip>/<port>` (IPv6 colons as dots). The chains live in our table as
// chains of an iptables table (`nat-service-…`, nftables/README.md); the maps
// and affinity sets keep kube-proxy's names.
//
// Namespace, service and port names are written into chain names, so they
// must be the DNS labels the API server admits (lower-case letters, digits,
// '-'); anything else is refused here (the port is left out and reported)
// rather than reaching an nft script.

import type { ServiceEndpoint, ServicePort } from "./model.js";
import { hash8 } from "./names.js";

export const NFT_SERVICES_CHAIN = "services";
export const NFT_MARK_MASQ_CHAIN = "mark-for-masquerade";
export const NFT_MASQUERADING_CHAIN = "masquerading";
export const NFT_SERVICE_ENDPOINTS_CHECK_CHAIN = "service-endpoints-check";
export const NFT_NODEPORT_ENDPOINTS_CHECK_CHAIN = "nodeport-endpoints-check";
export const NFT_FIREWALL_CHECK_CHAIN = "firewall-check";
export const NFT_REJECT_CHAIN = "reject-chain";
/** Ours: the health-check node ports accepted on INPUT (the iptables mode's filter cali-NODEPORTS). */
export const NFT_HEALTH_CHECK_CHAIN = "nodeport-health-checks";

export const SERVICE_IPS_MAP = "service-ips";
export const SERVICE_NODEPORTS_MAP = "service-nodeports";
export const NO_ENDPOINT_SERVICES_MAP = "no-endpoint-services";
export const NO_ENDPOINT_NODEPORTS_MAP = "no-endpoint-nodeports";
export const FIREWALL_IPS_MAP = "firewall-ips";
/** Every cluster IP this node serves: what reaches one on another port is rejected (`cluster-ips-check`). */
export const CLUSTER_IPS_SET = "cluster-ips";
export const NFT_CLUSTER_IPS_CHECK_CHAIN = "cluster-ips-check";

/** kube-proxy keeps a chain name's base within 240 characters (256 less a 16-character prefix). */
const BASE_MAX = 240;

function hashAndTruncate(name: string): string {
  const out = `${hash8(name)}-${name}`;
  return out.length > BASE_MAX ? `${out.slice(0, BASE_MAX - 3)}...` : out;
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Throws unless the service port's names are DNS labels (they become parts of nft names). */
export function checkServicePortNames(sp: Pick<ServicePort, "namespace" | "service" | "portName">): void {
  for (const [what, v] of [
    ["namespace", sp.namespace],
    ["service name", sp.service],
  ] as const) {
    if (!LABEL.test(v)) throw new Error(`${what} ${JSON.stringify(v)} is not a DNS label`);
  }
  if (sp.portName !== "" && !LABEL.test(sp.portName)) {
    throw new Error(`port name ${JSON.stringify(sp.portName)} is not a DNS label`);
  }
}

export interface NftServiceChainNames {
  readonly service: string;
  readonly local: string;
  readonly external: string;
  readonly firewall: string;
}

const portBase = (sp: ServicePort) => `${sp.namespace}/${sp.service}/${sp.protocol}/${sp.portName}`;

export function nftServiceChainNames(sp: ServicePort): NftServiceChainNames {
  const base = hashAndTruncate(portBase(sp));
  return {
    service: `service-${base}`,
    local: `local-${base}`,
    external: `external-${base}`,
    firewall: `firewall-${base}`,
  };
}

/** The endpoint's chain and affinity set. */
export function nftEndpointNames(sp: ServicePort, ep: ServiceEndpoint): { chain: string; affinitySet: string } {
  if (!/^[0-9a-fA-F.:]+$/.test(ep.ip)) throw new Error(`endpoint address ${JSON.stringify(ep.ip)}`);
  const base = hashAndTruncate(`${portBase(sp)}__${ep.ip.replaceAll(":", ".")}/${ep.port}`);
  return { chain: `endpoint-${base}`, affinitySet: `affinity-${base}` };
}
