// The IP set model: what the graph wants a set to hold. iptables/ writes it
// as `ipset restore` input; nftables/ as an nft set (nftSetName).

import { MemberSet } from "./member-set.js";

export type IpSetType = "hash:net" | "hash:ip,port" | "hash:ip,port,ip" | "hash:ip,port,net";

export interface IpSetState {
  /** Kernel name, `cali40…` / `cali60…`. */
  readonly name: string;
  readonly family: 4 | 6;
  readonly type: IpSetType;
  /** Members as `ipset list` prints them: IPs, or `ip,proto:port`. */
  readonly members: ReadonlySet<string>;
}

/** Felix's MaxIpsetSize default. */
export const MAX_IPSET_SIZE = 1048576;

/** The members of `from` that `of` lacks (forEach: no iterator result per member of sets thousands long). */
export function missingFrom(of: ReadonlySet<string>, from: ReadonlySet<string>): string[] {
  const out: string[] = [];
  if (of === from) return out;
  const shared = MemberSet.missing(of, from);
  if (shared) return shared;
  from.forEach((m) => {
    if (!of.has(m)) out.push(m);
  });
  return out;
}
