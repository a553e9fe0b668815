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

import { Actions, type Chain, hex, match, NO_MATCH, type Rule, rule } from "../../iptables/rule.js";
import { MARK_ACCEPT, MARK_ENDPOINT, MARK_NON_CALI_ENDPOINT } from "./marks.js";
import { endpointChainName, TO_WORKLOAD_DISPATCH } from "./names.js";

export const FORWARD_CHECK = "cali-forward-check";
export const SET_ENDPOINT_MARK = "cali-set-endpoint-mark";
export const FROM_ENDPOINT_MARK = "cali-from-endpoint-mark";
export const FORWARD_ENDPOINT_MARK = "cali-forward-endpoint-mark";
export const SET_MARK_PREFIX = "cali-sm-";
/** Felix's IPSetIDThisHostIPs: this host's own addresses (not the service addresses IPVS binds). */
export const THIS_HOST_SET_ID = "this-host";

const LOWEST_BIT = MARK_ENDPOINT & -MARK_ENDPOINT;
/** Values the mask can hold, zero included (Felix's maxPosition). */
const POSITIONS = (MARK_ENDPOINT >>> 0) / LOWEST_BIT + 1;

/** Go's hash/fnv New32 (FNV-1: multiply, then xor). */
export function fnv1(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, "utf8")) h = (Math.imul(h, 0x01000193) ^ b) >>> 0;
  return h;
}

/**
 * Each interface's endpoint mark. Position 0 means "no mark" and the
 * non-workload value is reserved; an interface left without a value (more
 * interfaces than the mask holds) gets none, and its traffic meets the
 * "Unknown endpoint" drop.
 */
export function endpointMarks(ifaces: readonly string[]): Map<string, number> {
  const taken = new Set<number>([MARK_NON_CALI_ENDPOINT / LOWEST_BIT]);
  const out = new Map<string, number>();
  for (const iface of [...new Set(ifaces)].sort()) {
    const h = fnv1(iface);
    for (let i = 0; i < POSITIONS; i++) {
      const pos = (h + i) % POSITIONS;
      if (pos === 0 || taken.has(pos)) continue;
      taken.add(pos);
      out.set(iface, pos * LOWEST_BIT);
      break;
    }
  }
  return out;
}

export const setMarkChainName = (iface: string) => SET_MARK_PREFIX + iface;

/** cali-sm-<iface>: stamps the interface's endpoint mark. */
export function setMarkChain(iface: string, mark: number | undefined): Chain {
  const rules = mark === undefined ? [] : [rule(NO_MATCH, Actions.setMaskedMark(mark, MARK_ENDPOINT))];
  return { name: setMarkChainName(iface), rules };
}

/**
 * cali-set-endpoint-mark (by input interface, grouped like the other dispatch
 * chains) and cali-from-endpoint-mark (by mark, to the egress chain).
 */
export function endpointMarkDispatchChains(marks: ReadonlyMap<string, number>, prefix: string): Chain[] {
  const ifaces = [...marks.keys()].sort();
  const groups = new Map<string, string[]>();
  for (const iface of ifaces) {
    const key = iface.charAt(prefix.length);
    groups.set(key, [...(groups.get(key) ?? []), iface]);
  }
  const chains: Chain[] = [];
  const root: Rule[] = [];
  const toSetMark = (iface: string) => rule(match().inInterface(iface).build(), Actions.goto(setMarkChainName(iface)));
  for (const [key, members] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (members.length === 1) {
      root.push(toSetMark(members[0]));
      continue;
    }
    const child = `${SET_ENDPOINT_MARK}-${key}`;
    root.push(rule(match().inInterface(`${prefix}${key}+`).build(), Actions.goto(child)));
    chains.push({ name: child, rules: members.map(toSetMark) });
  }
  // A workload interface we have no endpoint for yet carries nothing (fail closed).
  root.push(rule(match().inInterface(`${prefix}+`).build(), Actions.drop, "Unknown endpoint"));
  root.push(rule(NO_MATCH, Actions.setMaskedMark(MARK_NON_CALI_ENDPOINT, MARK_ENDPOINT), "Non-Cali endpoint mark"));
  chains.push({ name: SET_ENDPOINT_MARK, rules: root });
  const fromMark = ifaces.map((iface) =>
    rule(match().mark(marks.get(iface)!, MARK_ENDPOINT).build(), Actions.goto(endpointChainName("outbound", iface))),
  );
  fromMark.push(rule(NO_MATCH, Actions.drop, "Unknown interface"));
  chains.push({ name: FROM_ENDPOINT_MARK, rules: fromMark });
  return chains;
}

/**
 * cali-forward-check: is this INPUT packet really forwarded by IPVS? Not when
 * it belongs to a known connection; yes to a NodePort of this host; yes to
 * any address that is not this host's own (a service address IPVS bound).
 */
export function forwardCheckChain(thisHostSet: string, nodePorts: readonly [number, number]): Chain {
  const ports = `${nodePorts[0]}:${nodePorts[1]}`;
  const nodePort = (p: string) =>
    rule(
      match().protocol(p).destPorts(ports).ipSet(thisHostSet, "dst").build(),
      Actions.goto(SET_ENDPOINT_MARK),
      "To kubernetes NodePort service",
    );
  return {
    name: FORWARD_CHECK,
    rules: [
      rule(match().ctState("RELATED,ESTABLISHED").build(), Actions.return),
      nodePort("tcp"),
      nodePort("udp"),
      rule(match().ipSet(thisHostSet, "dst", true).build(), Actions.jump(SET_ENDPOINT_MARK), "To kubernetes service"),
    ],
  };
}

/** cali-forward-endpoint-mark: FORWARD's policy path, for IPVS traffic in OUTPUT. */
export function forwardEndpointMarkChain(prefix: string): Chain {
  return {
    name: FORWARD_ENDPOINT_MARK,
    rules: [
      rule(
        match()
          .raw(`-m mark ! --mark ${hex(MARK_NON_CALI_ENDPOINT)}/${hex(MARK_ENDPOINT)}`)
          .build(),
        Actions.jump(FROM_ENDPOINT_MARK),
      ),
      rule(match().outInterface(`${prefix}+`).build(), Actions.jump(TO_WORKLOAD_DISPATCH)),
      // Cleared before the verdict: an encapsulated copy must not look forwarded.
      rule(NO_MATCH, Actions.clearMark(MARK_ENDPOINT)),
      rule(match().mark(MARK_ACCEPT, MARK_ACCEPT).build(), Actions.accept, "Policy explicitly accepted packet."),
    ],
  };
}

/** cali-INPUT's IPVS rules, before the workload-to-host goto. */
export function inputForwardCheckRules(): Rule[] {
  return [
    rule(NO_MATCH, Actions.clearMark(MARK_ENDPOINT)),
    rule(NO_MATCH, Actions.jump(FORWARD_CHECK)),
    rule(
      match()
        .raw(`-m mark ! --mark 0x0/${hex(MARK_ENDPOINT)}`)
        .build(),
      Actions.return,
    ),
  ];
}

/** cali-OUTPUT's IPVS rule: endpoint-marked packets take the forward path. */
export function outputForwardRule(): Rule {
  return rule(
    match()
      .raw(`-m mark ! --mark 0x0/${hex(MARK_ENDPOINT)}`)
      .build(),
    Actions.goto(FORWARD_ENDPOINT_MARK),
  );
}
