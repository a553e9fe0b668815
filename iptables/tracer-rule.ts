// One iptables rule's text parsed for the tracer (tracer.ts): its deterministic
// checks against a packet, its statistic/recent branches, and its target.

import ipaddr from "ipaddr.js";
import type { TraceEnv, TracePacket } from "./tracer.js";

/** Splits rule text into words, honouring iptables-save's double quotes. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === " ") {
      i++;
      continue;
    }
    let w = "";
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\" && i + 1 < text.length) i++;
        w += text[i++];
      }
      i++;
    } else {
      while (i < text.length && text[i] !== " ") w += text[i++];
    }
    out.push(w);
  }
  return out;
}

function inCidr(ip: string, cidrOrIp: string): boolean {
  try {
    const addr = ipaddr.parse(ip);
    const [net, len] = cidrOrIp.includes("/")
      ? ipaddr.parseCIDR(cidrOrIp)
      : [ipaddr.parse(cidrOrIp), ip.includes(":") ? 128 : 32];
    return addr.kind() === net.kind() && addr.match(net, len);
  } catch {
    return false;
  }
}

export interface State {
  pkt: TracePacket;
  mark: number;
  probability: number;
  conditions: string[];
  path: string[];
  comments: string[];
}

export interface Parsed {
  /** Deterministic checks. */
  readonly checks: ((s: State) => boolean)[];
  readonly statistic?: number;
  readonly rcheck?: string;
  readonly recentSet?: string;
  readonly comment?: string;
  readonly target: string[];
}

export class UnsupportedRule extends Error {}

export function parseRule(text: string, env: TraceEnv): Parsed {
  const t = tokenize(text);
  const checks: ((s: State) => boolean)[] = [];
  let statistic: number | undefined;
  let rcheck: string | undefined;
  let recentSet: string | undefined;
  let comment: string | undefined;
  let target: string[] = [];
  let neg = false;
  let i = 0;
  const next = () => t[++i];
  for (; i < t.length; i++) {
    const w = t[i];
    const n = neg;
    neg = false;
    switch (w) {
      case "!":
        neg = true;
        break;
      case "-s":
      case "-d": {
        const c = next();
        const field = w === "-s" ? "src" : "dst";
        checks.push((s) => inCidr(s.pkt[field], c) !== n);
        break;
      }
      case "-p": {
        const p = next();
        checks.push((s) => (s.pkt.protocol === p) !== n);
        break;
      }
      case "-i":
      case "-o": {
        const iface = next();
        const field = w === "-i" ? "inIface" : "outIface";
        const re = new RegExp(`^${iface.replace(/[.]/g, "\\.").replace(/\+$/, ".*")}$`);
        checks.push((s) => (s.pkt[field] !== undefined && re.test(s.pkt[field]!)) !== n);
        break;
      }
      case "-m": {
        const mod = next();
        if (mod === "comment") {
          i++; // --comment
          const c = next();
          if (!c.startsWith("cali:")) comment = c;
        } else if (mod === "tcp" || mod === "udp" || mod === "sctp") {
          while (t[i + 1] === "--dport" || t[i + 1] === "--sport" || t[i + 1] === "!") {
            let pn = false;
            if (t[i + 1] === "!") {
              pn = true;
              i++;
            }
            const opt = next();
            const port = Number(next());
            checks.push((s) => ((opt === "--dport" ? s.pkt.dport : s.pkt.sport) === port) !== pn);
          }
        } else if (mod === "icmp" || mod === "icmp6") {
          // The traced packets are TCP, UDP or SCTP: an ICMP type never matches (its `-p icmp` fails first anyway).
          let inv = false;
          if (t[i + 1] === "!") {
            inv = true;
            i++;
          }
          i += 2; // --icmp-type / --icmpv6-type and its value
          checks.push(() => inv);
        } else if (mod === "multiport") {
          let pn = false;
          if (t[i + 1] === "!") {
            pn = true;
            i++;
          }
          const opt = next();
          const ranges = next()
            .split(",")
            .map((r) => r.split(":").map(Number));
          const inRanges = (p: number | undefined) =>
            p !== undefined && ranges.some(([a, b]) => p >= a && p <= (b ?? a));
          checks.push((s) => inRanges(opt === "--dports" ? s.pkt.dport : s.pkt.sport) !== pn);
        } else if (mod === "set") {
          let sn = false;
          if (t[i + 1] === "!") {
            sn = true;
            i++;
          }
          i++; // --match-set
          const name = next();
          const dir = next();
          const members = [...(env.ipsets[name] ?? [])];
          if (dir === "dst,dst") {
            // hash:ip,port (named ports): members `ip,proto:port`.
            checks.push((s) => members.includes(`${s.pkt.dst},${s.pkt.protocol}:${s.pkt.dport}`) !== sn);
          } else {
            checks.push((s) => members.some((m) => inCidr(dir === "src" ? s.pkt.src : s.pkt.dst, m)) !== sn);
          }
        } else if (mod === "mark") {
          let mn = false;
          if (t[i + 1] === "!") {
            mn = true;
            i++;
          }
          i++; // --mark
          const [v, m] = next().split("/").map(Number);
          checks.push((s) => ((s.mark & m) >>> 0 === v) !== mn);
        } else if (mod === "addrtype") {
          let an = false;
          if (t[i + 1] === "!") {
            an = true;
            i++;
          }
          const opt = next();
          if (next() !== "LOCAL") throw new UnsupportedRule(`addrtype other than LOCAL: ${text}`);
          if (t[i + 1] === "--limit-iface-out" || t[i + 1] === "--limit-iface-in") i++;
          const field = opt === "--src-type" ? "src" : "dst";
          checks.push((s) => env.localAddresses.includes(s.pkt[field]) !== an);
        } else if (mod === "conntrack") {
          let cn = false;
          if (t[i + 1] === "!") {
            cn = true;
            i++;
          }
          i++; // --ctstate
          const states = next().split(",");
          checks.push((s) => (states.includes("NEW") || (states.includes("DNAT") && s.pkt.dnated === true)) !== cn);
        } else if (mod === "statistic") {
          i += 2; // --mode random
          i++; // --probability
          statistic = Number(next());
        } else if (mod === "recent") {
          let name = "";
          let mode = "";
          while (i + 1 < t.length && t[i + 1].startsWith("--")) {
            const opt = next();
            if (opt === "--rcheck" || opt === "--set") mode = opt;
            else if (opt === "--name") name = next();
            else if (opt === "--seconds" || opt === "--mask") next();
          }
          if (mode === "--rcheck") rcheck = name;
          else recentSet = name;
        } else {
          throw new UnsupportedRule(`match module ${mod}: ${text}`);
        }
        break;
      }
      case "-j":
      case "-g":
        target = t.slice(i);
        i = t.length;
        break;
      default:
        throw new UnsupportedRule(`${w}: ${text}`);
    }
  }
  return { checks, statistic, rcheck, recentSet, comment, target };
}
