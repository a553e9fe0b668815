// Stale UDP conntrack entries of services, decided as kube-proxy decides them
// (pkg/proxy/conntrack/cleanup.go, CleanStaleEntries). UDP has no connection
// to close: a conntrack entry DNATed to an endpoint that went away keeps
// sending the client's datagrams there as long as the client keeps talking
// (a resolver to a dead CoreDNS pod), and an entry created while the service
// had no endpoint keeps its datagrams un-DNATed after the first one arrives.
//
// The rule: for every UDP service port with at least one serving endpoint, an
// entry whose original destination is one of its frontends (cluster IP,
// external IP, LB IP, each with the service port; or any address with its node
// port) and whose reply source (address and port) is not a serving endpoint
// is stale: also one DNATed to an endpoint address whose port changed. A node
// port entry must also be to one of this host's addresses (felix-ts narrows
// kube-proxy's rule, which looks at the port alone and so reaches flows to any
// remote host at that port). Traffic
// policies, topology and terminating state do not count (serving is enough),
// so a change of those leaves existing flows alone, as for TCP.
//
// Two pure steps. `changedUdpFrontends(before, after)`: the frontends of the
// UDP service ports whose serving endpoints or frontends changed (all of them
// when there is no `before`: a restart reconciles everything, as kube-proxy's
// first sync does). `staleUdpFlows(flows, frontends)`: the delete filters for
// the listed entries, one per (frontend, reply source).

import type { IpVersion } from "../model.js";
import type { ServicePort } from "./model.js";
import { changedServicePorts, type ServicePorts, servicePortIds, servicePortOf } from "./port-shards.js";

/** One UDP conntrack entry, as `conntrack -L` shows it. */
export interface UdpFlow {
  readonly family: IpVersion;
  readonly origSrc: string;
  readonly origDst: string;
  readonly origSport: number;
  readonly origDport: number;
  /** Where the reply comes from: the endpoint when DNATed, else origDst. */
  readonly replySrc: string;
  readonly replySport: number;
}

/** What to delete: UDP entries to origDst (any when undefined) port origDport whose reply comes from replySrc:replySport. */
export interface UdpFlowFilter {
  readonly family: IpVersion;
  readonly origDst?: string;
  readonly origDport: number;
  readonly replySrc: string;
  readonly replySport: number;
}

export interface UdpFrontends {
  /** `<ip> <port>` → serving endpoints (`<ip> <port>`). */
  readonly byAddress: ReadonlyMap<string, ReadonlySet<string>>;
  /** `<family> <nodePort>` → serving endpoints (`<ip> <port>`). */
  readonly byNodePort: ReadonlyMap<string, ReadonlySet<string>>;
  /** The families with any frontend (whose conntrack tables need listing). */
  readonly families: ReadonlySet<IpVersion>;
}

const serving = (sp: ServicePort) =>
  [...new Set(sp.endpoints.filter((e) => e.serving).map((e) => `${e.ip} ${e.port}`))].sort();

/** Frontend addresses with their port, and the node port, as one comparable text. */
const frontendsOf = (sp: ServicePort) =>
  [sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerIPs].map((ip) => `${ip} ${sp.port}`).join(",") +
  `|${sp.nodePort ?? ""}`;

function changed(old: ServicePort | undefined, sp: ServicePort): boolean {
  if (!old) return true;
  if (old === sp) return false;
  return frontendsOf(old) !== frontendsOf(sp) || serving(old).join(",") !== serving(sp).join(",");
}

export function changedUdpFrontends(before: ServicePorts | undefined, after: ServicePorts): UdpFrontends {
  const byAddress = new Map<string, ReadonlySet<string>>();
  const byNodePort = new Map<string, ReadonlySet<string>>();
  const families = new Set<IpVersion>();
  // Only the ports in changed shards: not every port (tens of thousands at scale) on every services change.
  for (const id of before ? changedServicePorts(before, after) : servicePortIds(after)) {
    const sp = servicePortOf(after, id);
    if (sp?.protocol !== "udp" || !changed(before && servicePortOf(before, id), sp)) continue;
    const eps = new Set(serving(sp));
    // Without a serving endpoint nothing is cleaned: the entries wait for the first one.
    if (eps.size === 0) continue;
    families.add(sp.family);
    for (const ip of [sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerIPs]) byAddress.set(`${ip} ${sp.port}`, eps);
    if (sp.nodePort !== undefined) byNodePort.set(`${sp.family} ${sp.nodePort}`, eps);
  }
  return { byAddress, byNodePort, families };
}

/** `isLocal`: whether an address is this host's (node ports answer there only); none when not given. */
export function staleUdpFlows(
  flows: readonly UdpFlow[],
  frontends: UdpFrontends,
  isLocal: (ip: string) => boolean = () => false,
): UdpFlowFilter[] {
  const out = new Map<string, UdpFlowFilter>();
  const add = (f: UdpFlow, origDst: string) => {
    const filter = { family: f.family, origDport: f.origDport, replySrc: f.replySrc, replySport: f.replySport };
    out.set(`${f.family} ${origDst ?? "*"} ${f.origDport} ${f.replySrc} ${f.replySport}`, {
      ...filter,
      ...(origDst !== undefined ? { origDst } : {}),
    });
  };
  for (const f of flows) {
    const reply = `${f.replySrc} ${f.replySport}`;
    const svc = frontends.byAddress.get(`${f.origDst} ${f.origDport}`);
    if (svc && !svc.has(reply)) add(f, f.origDst);
    // A node port is on this host's addresses only: a pod's own UDP flow to a
    // remote host at that port is no service's, and the delete names the entry's
    // destination rather than every address.
    const np = frontends.byNodePort.get(`${f.family} ${f.origDport}`);
    if (np && !np.has(reply) && isLocal(f.origDst)) add(f, f.origDst);
  }
  return [...out.values()];
}
