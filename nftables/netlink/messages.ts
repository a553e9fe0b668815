// Structured commands (nftables/commands.ts) as the nf_tables messages of one
// batch, each remembering which command it came from so that a refused message
// names it. Base chains are not written here (they change only at start-up:
// that transaction goes through `nft -f`), nor is anything else the encoder
// does not know: encodeCommands throws NetlinkUnsupported before a byte is sent.

import type { NftFamily, NftWriteContext } from "../backend.js";
import type { NftCommand } from "../commands.js";
import { NFT_TABLE } from "../names.js";
import {
  type Attr,
  attr,
  type NfMessage,
  NftMsg,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_REQUEST,
  nestedBytes,
  nftType,
  str,
  u32be,
} from "./codec.js";
import {
  elementAttr,
  type KeyLayout,
  keyLayout,
  NetlinkUnsupported,
  NFT_DATA_VERDICT,
  NFT_SET_ANONYMOUS,
  NFT_SET_CONSTANT,
  NFT_SET_INTERVAL,
  NFT_SET_MAP,
  setAttrs,
  type WireElement,
  wireElements,
} from "./elements.js";
import { mapAttrs, mapWireElements, timeoutSetAttrs } from "./objects.js";
import { type AnonSetDef, compileRule } from "./rule-compile.js";

export const NFPROTO_IPV4 = 2;
export const NFPROTO_IPV6 = 10;

/** nft's limit on names (NFT_NAME_MAXLEN with its NUL). */
const NAME_MAX = 255;
/** Element bytes per message: a nested attribute's length is 16 bits. */
const ELEMENT_BYTES = 32_000;

export interface BatchMessage {
  readonly msg: NfMessage;
  /** Index of the command it belongs to. */
  readonly command: number;
}

function checkName(kind: string, name: string): string {
  if (name.length === 0 || Buffer.byteLength(name) > NAME_MAX || name.includes("\0")) {
    throw new NetlinkUnsupported(`${kind} name ${JSON.stringify(name.slice(0, 300))}`);
  }
  return name;
}

export function encodeCommands(family: NftFamily, cmds: readonly NftCommand[], ctx: NftWriteContext): BatchMessage[] {
  const nfproto = family === "ip" ? NFPROTO_IPV4 : NFPROTO_IPV6;
  const out: BatchMessage[] = [];
  // Each command names its table; a batch may write several of ours (all or nothing).
  let table = str(1, NFT_TABLE);
  let tableName = NFT_TABLE;
  const setKey = (name: string) => ctx.setKey(name, tableName);
  let nextId = 1;
  const zeros = new ZeroMarkers(ctx);
  let command = 0;
  const push = (type: number, attrs: Attr[], flags = 0) =>
    out.push({ msg: { type: nftType(type), flags: NLM_F_REQUEST | flags, family: nfproto, attrs }, command });

  const elementMessages = (type: number, set: Attr, wire: readonly WireElement[], extra: Attr[] = []) => {
    let chunk: Attr[] = [];
    let bytes = 0;
    const flush = () => {
      if (chunk.length)
        push(type, [table, set, ...extra, nestedBytes(3, chunk)], type === NftMsg.NEWSETELEM ? NLM_F_CREATE : 0);
      chunk = [];
      bytes = 0;
    };
    for (const w of wire) {
      chunk.push(elementAttr(w));
      bytes += 48 + w.key.length + (w.keyEnd?.length ?? 0) + (w.udata?.length ?? 0);
      if (w.verdict) bytes += 32 + Buffer.byteLength(w.verdict.chain ?? "");
      if (bytes >= ELEMENT_BYTES) flush();
    }
    flush();
  };

  const anonSet = (def: AnonSetDef) => {
    const id = nextId++;
    const name = "__set%d";
    const flags =
      NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | (def.interval ? NFT_SET_INTERVAL : 0) | (def.map ? NFT_SET_MAP : 0);
    push(
      NftMsg.NEWSET,
      [
        table,
        str(2, def.map ? "__map%d" : name),
        u32be(3, flags),
        u32be(4, def.keyType),
        u32be(5, def.keyLen),
        ...(def.map ? [u32be(6, NFT_DATA_VERDICT), u32be(7, 0)] : []),
        u32be(10, id),
        attr(9, [u32be(1, def.elements.length)]),
        attr(13, def.udata),
      ],
      NLM_F_CREATE,
    );
    elementMessages(NftMsg.NEWSETELEM, str(2, def.map ? "__map%d" : name), def.elements, [u32be(4, id)]);
    return { name: def.map ? "__map%d" : name, id };
  };

  for (const c of cmds) {
    if ((c.table ?? NFT_TABLE) !== tableName) {
      tableName = checkName("table", c.table ?? NFT_TABLE);
      table = str(1, tableName);
    }
    switch (c.op) {
      case "flush chain":
        push(NftMsg.DELRULE, [table, str(2, checkName("chain", c.chain))]);
        break;
      case "delete chain":
        push(NftMsg.DELCHAIN, [table, str(3, checkName("chain", c.chain))]);
        break;
      case "delete set":
        push(NftMsg.DELSET, [table, str(2, checkName("set", c.set))]);
        zeros.reset(tableName, c.set);
        break;
      case "add set": {
        const k = keyLayout(c.key.type, c.key.interval);
        const rest =
          c.timeout === undefined ? [...setAttrs(k), u32be(10, nextId++)] : timeoutSetAttrs(k, c.timeout, nextId++);
        push(NftMsg.NEWSET, [table, str(2, checkName("set", c.set)), ...rest], NLM_F_CREATE);
        break;
      }
      case "add map":
        push(
          NftMsg.NEWSET,
          [table, str(2, checkName("map", c.map)), ...mapAttrs(keyLayout(c.key.type, c.key.interval), nextId++)],
          NLM_F_CREATE,
        );
        break;
      case "add map element": {
        for (const e of c.elements) if (e.verdict.kind !== "drop") checkName("chain", e.verdict.chain);
        const wire = mapWireElements(keyLayout(c.key.type, c.key.interval), c.elements);
        elementMessages(NftMsg.NEWSETELEM, str(2, checkName("map", c.map)), wire);
        break;
      }
      case "add element":
      case "delete element": {
        const k = keyLayout(c.key.type, c.key.interval);
        const wire = c.elements.flatMap((e) => wireElements(k, e));
        if (c.op === "add element") zeros.onAdd(tableName, c.set, k, wire);
        else zeros.onDelete(tableName, c.set, k, wire);
        const type = c.op === "add element" ? NftMsg.NEWSETELEM : NftMsg.DELSETELEM;
        elementMessages(type, str(2, checkName("set", c.set)), wire);
        break;
      }
      case "add chain":
        if (c.base) throw new NetlinkUnsupported(`base chain ${c.chain}`);
        push(NftMsg.NEWCHAIN, [table, str(3, checkName("chain", c.chain))], NLM_F_CREATE);
        break;
      case "add rule": {
        const r = compileRule(c.rule, { family, setKey, anonSet });
        // The expressions as bytes now (nestedBytes): their objects, a dozen or more a rule, die at
        // once instead of living until the batch is encoded, through the scavenges a change makes.
        const attrs = [table, str(2, checkName("chain", c.chain)), nestedBytes(4, r.exprs)];
        if (r.userdata) attrs.push(attr(7, r.userdata));
        push(NftMsg.NEWRULE, attrs, NLM_F_CREATE | NLM_F_APPEND);
        break;
      }
      default:
        // A command this encoder does not know: the whole transaction goes through nft -f.
        throw new NetlinkUnsupported(`command ${(c as { op: string }).op}`);
    }
    command++;
  }
  return out;
}

/**
 * nft's zero element: an add to a one-field interval set that holds nothing
 * at key 0 (no marker yet, no interval starting there) and whose new intervals
 * start above 0 also sends an interval end at 0 first. The kernel keeps it
 * (listings hide it); sending it again is a no-op, so a set's marker is only
 * tracked as well as the view allows and the kernel ends up as nft leaves it.
 */
class ZeroMarkers {
  private readonly atZero = new Map<string, boolean>();
  constructor(private readonly ctx: NftWriteContext) {}

  private has(table: string, set: string, k: KeyLayout): boolean {
    let v = this.atZero.get(`${table} ${set}`);
    if (v === undefined) {
      const before = this.ctx.elementsBefore(set, table) ?? [];
      v = [...before].some((e) => wireElements(k, e)[0].key.every((b) => b === 0));
      this.atZero.set(`${table} ${set}`, v);
    }
    return v;
  }
  reset(table: string, set: string): void {
    this.atZero.set(`${table} ${set}`, false);
  }
  /** Puts the marker in front of `wire` when nft would. */
  onAdd(table: string, set: string, k: KeyLayout, wire: WireElement[]): void {
    if (!k.interval || k.fields.length !== 1 || wire.length === 0) return;
    const startsAtZero = wire.some((w) => !w.flags && w.key.every((b) => b === 0));
    if (!this.has(table, set, k) && !startsAtZero) wire.unshift({ key: Buffer.alloc(wire[0].key.length), flags: 1 });
    this.atZero.set(`${table} ${set}`, true);
  }
  onDelete(table: string, set: string, k: KeyLayout, wire: readonly WireElement[]): void {
    if (k.interval && k.fields.length === 1 && wire.some((w) => !w.flags && w.key.every((b) => b === 0)))
      this.atZero.set(`${table} ${set}`, false);
  }
}
