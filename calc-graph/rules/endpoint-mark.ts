// IPVS support (Felix's KubeIPVSSupportEnabled): IPVS delivers service traffic
// through INPUT and OUTPUT, never FORWARD, so the FORWARD policy path would
// not see it. cali-INPUT sends every new packet through cali-forward-check;
// one that is really being forwarded (to a service address or a NodePort)
// gets its source interface's endpoint mark (cali-set-endpoint-mark →
// cali-sm-<iface>) and leaves INPUT unpoliced. In cali-OUTPUT the mark sends
// it to cali-forward-endpoint-mark: the source workload's egress policy (by
// mark, cali-from-endpoint-mark) and the destination workload's ingress policy
// (by out-interface, cali-to-wl-dispatch), as FORWARD would have done.
//
// Marks are picked as Felix's endpoint-mark mapper picks them (FNV-1 of the
// interface name, probing upwards past taken values), over the interfaces in
// sorted order, so the result depends only on the set of interfaces.

import { type Action, Actions, type Chain, match, NO_MATCH, type Rule, rule } from "../../model/rule.js";
import { DEFAULT_MARKS, type Marks } from "./marks.js";
import { endpointChainName, TO_WORKLOAD_DISPATCH } from "./names.js";

export const FORWARD_CHECK = "cali-forward-check";
export const SET_ENDPOINT_MARK = "cali-set-endpoint-mark";
export const FROM_ENDPOINT_MARK = "cali-from-endpoint-mark";
export const FORWARD_ENDPOINT_MARK = "cali-forward-endpoint-mark";
export const SET_MARK_PREFIX = "cali-sm-";
/** Felix's IPSetIDThisHostIPs: this host's own addresses (not the service addresses IPVS binds). */
export const THIS_HOST_SET_ID = "this-host";

/** Go's hash/fnv New32 (FNV-1: multiply, then xor). */
export function fnv1(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, "utf8")) h = (Math.imul(h, 0x01000193) ^ b) >>> 0;
  return h;
}

/** The mask's set bits, lowest first. */
function maskBits(mask: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < 32; b++) if (Math.floor(mask / 2 ** b) % 2 === 1) out.push(2 ** b);
  return out;
}

/** Felix's MapNumberToMark: the number's bits spread over the mask's bits, lowest first (any mask shape). */
function positionToMark(pos: number, bits: readonly number[]): number {
  let mark = 0;
  for (let i = 0; i < bits.length; i++) if (Math.floor(pos / 2 ** i) % 2 === 1) mark += bits[i];
  return mark;
}

/**
 * Each interface's endpoint mark. Position 0 means "no mark" and the
 * non-workload value is reserved; an interface left without a value (more
 * interfaces than the mask holds) gets none, and its traffic meets the
 * "Unknown endpoint" drop.
 */
export function endpointMarks(ifaces: readonly string[], marks: Marks = DEFAULT_MARKS): Map<string, number> {
  const bits = maskBits(marks.endpoint);
  const positions = 2 ** bits.length;
  const taken = new Set<number>([1]); // position 1 is the non-workload value (the lowest bit)
  const out = new Map<string, number>();
  if (bits.length === 0) return out;
  for (const iface of [...new Set(ifaces)].sort()) {
    const h = fnv1(iface);
    for (let i = 0; i < positions; i++) {
      const pos = (h + i) % positions;
      if (pos === 0 || taken.has(pos)) continue;
      taken.add(pos);
      out.set(iface, positionToMark(pos, bits));
      break;
    }
  }
  return out;
}

export const setMarkChainName = (iface: string) => SET_MARK_PREFIX + iface;

/** cali-sm-<iface>: stamps the interface's endpoint mark. */
export function setMarkChain(iface: string, mark: number | undefined, marks: Marks = DEFAULT_MARKS): Chain {
  const rules = mark === undefined ? [] : [rule(NO_MATCH, Actions.setMaskedMark(mark, marks.endpoint))];
  return { name: setMarkChainName(iface), rules };
}

/**
 * cali-set-endpoint-mark (by input interface, grouped like the other dispatch
 * chains: by prefix and the next character) and cali-from-endpoint-mark (by
 * mark, to the egress chain). `deny` is the filter deny action in force.
 */
export function endpointMarkDispatchChains(
  ifaceMarks: ReadonlyMap<string, number>,
  prefixes: readonly string[],
  marks: Marks = DEFAULT_MARKS,
  deny: Action = Actions.drop,
): Chain[] {
  const ifaces = [...ifaceMarks.keys()].sort();
  const byLength = [...prefixes].sort((a, b) => b.length - a.length);
  const groups = new Map<string, string[]>();
  for (const iface of ifaces) {
    const prefix = byLength.find((p) => iface.startsWith(p));
    const key = prefix === undefined ? `\0${iface}` : `${prefix}${iface.charAt(prefix.length)}`;
    groups.set(key, [...(groups.get(key) ?? []), iface]);
  }
  const chains: Chain[] = [];
  const root: Rule[] = [];
  const toSetMark = (iface: string) => rule(match().inInterface(iface).build(), Actions.goto(setMarkChainName(iface)));
  for (const [key, members] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    // The first prefix's children keep the one-character suffix; other prefixes add theirs.
    const suffix = key.startsWith(prefixes[0]) && key.length === prefixes[0].length + 1 ? key.slice(-1) : key;
    const child = `${SET_ENDPOINT_MARK}-${suffix}`;
    if (members.length === 1 || key.startsWith("\0") || child.length > 28) {
      root.push(...members.map(toSetMark));
      continue;
    }
    root.push(rule(match().inInterface(`${key}+`).build(), Actions.goto(child)));
    chains.push({ name: child, rules: members.map(toSetMark) });
  }
  // A workload interface we have no endpoint for yet carries nothing (fail closed).
  for (const p of prefixes) root.push(rule(match().inInterface(`${p}+`).build(), deny, "Unknown endpoint"));
  root.push(rule(NO_MATCH, Actions.setMaskedMark(marks.endpointNonCali, marks.endpoint), "Non-Cali endpoint mark"));
  chains.push({ name: SET_ENDPOINT_MARK, rules: root });
  const fromMark = ifaces.map((iface) =>
    rule(
      match().mark(ifaceMarks.get(iface)!, marks.endpoint).build(),
      Actions.goto(endpointChainName("outbound", iface)),
    ),
  );
  fromMark.push(rule(NO_MATCH, deny, "Unknown interface"));
  chains.push({ name: FROM_ENDPOINT_MARK, rules: fromMark });
  return chains;
}

/**
 * cali-forward-check: is this INPUT packet really forwarded by IPVS? Not when
 * it belongs to a known connection; yes to a NodePort of this host; yes to
 * any address that is not this host's own (a service address IPVS bound).
 * With no endpoint-mark bits left in the mask such a packet cannot be
 * policed as forwarded: it is refused (fail closed; a problem says why).
 */
export function forwardCheckChain(
  thisHostSet: string,
  nodePorts: readonly [number, number],
  marks: Marks = DEFAULT_MARKS,
  deny: Action = Actions.drop,
): Chain {
  const ports = `${nodePorts[0]}:${nodePorts[1]}`;
  const usable = marks.endpoint !== 0;
  const nodePort = (p: string) =>
    rule(
      match().protocol(p).destPorts(ports).ipSet(thisHostSet, "dst").build(),
      usable ? Actions.goto(SET_ENDPOINT_MARK) : deny,
      "To kubernetes NodePort service",
    );
  return {
    name: FORWARD_CHECK,
    rules: [
      rule(match().ctState("RELATED,ESTABLISHED").build(), Actions.return),
      nodePort("tcp"),
      nodePort("udp"),
      rule(
        match().ipSet(thisHostSet, "dst", true).build(),
        usable ? Actions.jump(SET_ENDPOINT_MARK) : deny,
        "To kubernetes service",
      ),
    ],
  };
}

/** cali-forward-endpoint-mark: FORWARD's policy path, for IPVS traffic in OUTPUT. */
export function forwardEndpointMarkChain(prefixes: readonly string[], marks: Marks = DEFAULT_MARKS): Chain {
  return {
    name: FORWARD_ENDPOINT_MARK,
    rules: [
      rule(match().mark(marks.endpointNonCali, marks.endpoint, true).build(), Actions.jump(FROM_ENDPOINT_MARK)),
      ...prefixes.map((p) => rule(match().outInterface(`${p}+`).build(), Actions.jump(TO_WORKLOAD_DISPATCH))),
      // Cleared before the verdict: an encapsulated copy must not look forwarded.
      rule(NO_MATCH, Actions.clearMark(marks.endpoint)),
      rule(match().mark(marks.accept, marks.accept).build(), Actions.accept, "Policy explicitly accepted packet."),
    ],
  };
}

/** cali-INPUT's IPVS rules, before the workload-to-host goto. */
export function inputForwardCheckRules(marks: Marks = DEFAULT_MARKS): Rule[] {
  if (marks.endpoint === 0) return [rule(NO_MATCH, Actions.jump(FORWARD_CHECK))];
  return [
    rule(NO_MATCH, Actions.clearMark(marks.endpoint)),
    rule(NO_MATCH, Actions.jump(FORWARD_CHECK)),
    rule(match().mark(0, marks.endpoint, true).build(), Actions.return),
  ];
}

/** cali-OUTPUT's IPVS rules: endpoint-marked packets take the forward path. */
export function outputForwardRules(marks: Marks = DEFAULT_MARKS): Rule[] {
  if (marks.endpoint === 0) return [];
  return [rule(match().mark(0, marks.endpoint, true).build(), Actions.goto(FORWARD_ENDPOINT_MARK))];
}
