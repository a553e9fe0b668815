// The statements of our rules that act (NAT, logging, kube-proxy's endpoint
// choice and affinity update) and the comment, which nft stores as the rule's
// user data (NFTNL_UDATA_RULE_COMMENT).

import * as X from "./exprs.js";
import type { RuleStream } from "./rule-stream.js";
import {
  be16,
  COMMENT_MAX,
  hostU32,
  NAME_MAX,
  NFPROTO,
  num,
  parseCidr,
  portRange,
  quoted,
  setName,
  unsupported,
} from "./rule-values.js";

/** numgen's anonymous map: host-order integer keys, nft 1.0.6's user data for `typeof numgen … : verdict`. */
const UDATA_NUMGEN_MAP = Buffer.from("00040100000001040000000004080004010000000100060400000000", "hex");

/** A chain name as a verdict's target. */
export function chainName(chain: string | undefined): string {
  if (!chain || chain.length > NAME_MAX || !/^[A-Za-z0-9][A-Za-z0-9_./-]*$/.test(chain))
    throw unsupported(`chain ${chain}`);
  return chain;
}

/** After `numgen random mod N`: `vmap { 0 : goto a, 1 : goto b }`, an anonymous verdict map in the batch. */
export function numgenMap(s: RuleStream): void {
  s.expect("vmap");
  s.expect("{");
  const elements: { key: Buffer; verdict: { code: number; chain: string } }[] = [];
  for (;;) {
    const key = num(s.next(), 0xffffffff);
    s.expect(":");
    const kind = s.next();
    if (kind !== "goto" && kind !== "jump") throw unsupported(`numgen map verdict ${kind}`);
    if (elements.some((e) => e.key.equals(hostU32(key)))) throw unsupported(`numgen map key ${key} twice`);
    elements.push({ key: hostU32(key), verdict: { code: X.Verdict[kind], chain: chainName(s.next()) } });
    const sep = s.next();
    if (sep === "}") break;
    if (sep !== ",") throw unsupported(`${sep} in a numgen map`);
  }
  const set = s.ctx.anonSet({ keyType: 4, keyLen: 4, interval: false, elements, udata: UDATA_NUMGEN_MAP, map: true });
  s.out.push(X.lookupVerdict(set.name, X.REG_1, set.id));
}

/** `update @set { ip saddr }`: the source address into the affinity set (its own timeout). */
export function updateStatement(s: RuleStream): void {
  const set = setName(s.next());
  const key = s.ctx.setKey(set);
  if (key?.type !== (s.v6 ? "ipv6_addr" : "ipv4_addr") || key.interval) throw unsupported(`update of set ${set}`);
  s.expect("{");
  s.expect(s.ctx.family);
  s.expect("saddr");
  s.expect("}");
  s.out.push(X.payload(X.PayloadBase.network, s.v6 ? 8 : 12, s.v6 ? 16 : 4));
  s.out.push(X.dynsetUpdate(set, X.REG_1));
}

export function natStatement(s: RuleStream, kind: "masquerade" | "snat" | "dnat"): void {
  let addr: Buffer | undefined;
  let ports: [number, number] | undefined;
  if (s.peek() === "to") {
    s.at++;
    const to = s.next() ?? "";
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]*))(?::(\d+(?:-\d+)?))?$/.exec(to);
    if (!m) throw unsupported(`nat target ${to}`);
    const host = m[1] ?? m[2];
    if (host) addr = parseCidr(host, s.v6)[0];
    if (m[3]) ports = portRange(m[3]);
    if ((kind === "masquerade") !== (host === "") || (m[1] !== undefined) !== (s.v6 && !!host)) {
      throw unsupported(`nat target ${to}`);
    }
  } else if (kind !== "masquerade") throw unsupported(`${kind} without a target`);
  let flags = 0;
  if (s.peek() === "fully-random") {
    s.at++;
    flags |= X.NatFlag.randomFully;
  }
  if (ports) flags |= X.NatFlag.protoSpecified;
  // Values in registers: the address in the first, ports in the next ones (16 bytes apart, as nft does).
  let reg = X.REG_1;
  let addrReg: number | undefined;
  if (addr) {
    s.out.push(X.immediateData(addr, reg));
    addrReg = reg++;
  }
  let protoMin: number | undefined;
  let protoMax: number | undefined;
  if (ports) {
    s.out.push(X.immediateData(be16(ports[0]), reg));
    protoMin = reg++;
    if (ports[1] !== ports[0]) {
      s.out.push(X.immediateData(be16(ports[1]), reg));
      protoMax = reg++;
    }
  }
  if (kind === "masquerade") s.out.push(X.masq(flags, protoMin, protoMax));
  else
    s.out.push(
      X.nat(kind === "dnat", NFPROTO[s.ctx.family], { addrMin: addrReg as number, protoMin, protoMax }, flags),
    );
}

export function logStatement(s: RuleStream): void {
  s.expect("prefix");
  const prefix = quoted(s.next());
  if (Buffer.byteLength(prefix) > 127) throw unsupported("log prefix longer than 127 bytes");
  const what = s.next();
  if (what === "group") s.out.push(X.logGroup(prefix, num(s.next(), 0xffff)));
  else if (what === "level" && s.next() === "notice") s.out.push(X.logLevel(prefix, 5));
  else throw unsupported(`log … ${what}`);
}

export function commentStatement(s: RuleStream): void {
  const c = quoted(s.next());
  const bytes = Buffer.from(`${c}\0`);
  if (bytes.length - 1 > COMMENT_MAX) throw unsupported(`comment of ${bytes.length - 1} bytes`);
  // NFTNL_UDATA_RULE_COMMENT: type 0, length with the NUL.
  s.userdata = Buffer.concat([Buffer.from([0, bytes.length]), bytes]);
  if (s.at !== s.toks.length) throw unsupported("statements after the comment");
}
