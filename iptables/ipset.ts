// The IP set model and its `ipset restore` text.

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

export function createLine(s: IpSetState): string {
  return `create ${s.name} ${s.type} family ${s.family === 4 ? "inet" : "inet6"} hashsize 1024 maxelem ${MAX_IPSET_SIZE}`;
}

/** `ipset restore` input creating and filling the given sets, sorted. */
export function renderIpSets(sets: Iterable<IpSetState>): string {
  const lines: string[] = [];
  for (const s of [...sets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    lines.push(createLine(s));
    for (const m of [...s.members].sort()) lines.push(`add ${s.name} ${m}`);
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}
