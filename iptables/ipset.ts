// The ipset restore text of the IP set model (model/ipset.ts).

import { type IpSetState, MAX_IPSET_SIZE } from "../model/ipset.js";

export { type IpSetState, type IpSetType, MAX_IPSET_SIZE } from "../model/ipset.js";

/** `maxelem`: FELIX_MAXIPSETSIZE (the graph never hands over a set larger than that). */
export function createLine(s: IpSetState, maxelem = MAX_IPSET_SIZE): string {
  return `create ${s.name} ${s.type} family ${s.family === 4 ? "inet" : "inet6"} hashsize 1024 maxelem ${maxelem}`;
}

/** `ipset restore` input creating and filling the given sets, sorted. */
export function renderIpSets(sets: Iterable<IpSetState>, maxelem = MAX_IPSET_SIZE): string {
  const lines: string[] = [];
  for (const s of [...sets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    lines.push(createLine(s, maxelem));
    for (const m of [...s.members].sort()) lines.push(`add ${s.name} ${m}`);
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}
