// ipvsadm's text formats (as ipvsadm 1.31 prints them with -n):
//   `ipvsadm -S -n`  rules, one command per line, also `ipvsadm -R` input:
//        -A -t 10.96.0.1:443 -s rr -p 10800
//        -a -t 10.96.0.1:443 -r 172.18.0.2:6443 -m -w 1
//   `ipvsadm -L -n`  the table with connection counters:
//        IP Virtual Server version 1.2.1 (size=4096)
//        Prot LocalAddress:Port Scheduler Flags
//          -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
//        TCP  10.96.0.1:443 rr persistent 10800
//          -> 172.18.0.2:6443              Masq    1      0          0
// Parsers for both, the listing formatter (felix-dump ipvs) and the restore
// commands for a set of changes. fwmark services (`-f`) are skipped: we
// neither own nor program any.

import {
  canonicalIp,
  type ForwardMethod,
  hostPort,
  type IpvsProtocol,
  type IpvsService,
  type IpvsTable,
  ipFamily,
  ipvsTable,
  type KernelRealServer,
  type RealServer,
  sortServices,
  type VirtualService,
} from "./model.js";

export class IpvsadmParseError extends Error {
  constructor(
    message: string,
    readonly lineNumber: number,
    readonly line: string,
  ) {
    super(`${message} at line ${lineNumber}: ${JSON.stringify(line)}`);
  }
}

const PROTO_FLAG: Record<IpvsProtocol, string> = { tcp: "-t", udp: "-u", sctp: "--sctp-service" };
const PROTO_NAME: Record<IpvsProtocol, string> = { tcp: "TCP", udp: "UDP", sctp: "SCTP" };
const FLAG_PROTO: Record<string, IpvsProtocol> = {
  "-t": "tcp",
  "--tcp-service": "tcp",
  "-u": "udp",
  "--udp-service": "udp",
  "--sctp-service": "sctp",
};
const NAME_PROTO: Record<string, IpvsProtocol> = { TCP: "tcp", UDP: "udp", SCTP: "sctp" };
/** ipvsadm prints -g for both direct routing and local-node forwarding. */
const FWD_SWITCH: Record<ForwardMethod, string> = { masq: "-m", tunnel: "-i", route: "-g", local: "-g" };
const SWITCH_FWD: Record<string, ForwardMethod> = {
  "-m": "masq",
  "--masquerading": "masq",
  "-i": "tunnel",
  "--ipip": "tunnel",
  "-g": "route",
  "--gatewaying": "route",
};
const FWD_NAME: Record<ForwardMethod, string> = { masq: "Masq", local: "Local", tunnel: "Tunnel", route: "Route" };
const NAME_FWD: Record<string, ForwardMethod> = { Masq: "masq", Local: "local", Tunnel: "tunnel", Route: "route" };

/** `10.0.0.1:80` / `[fd00::1]:80` → address, port (undefined when malformed). */
export function parseHostPort(text: string): { address: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([0-9.]+):(\d+)$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  try {
    return { address: canonicalIp(m[1]), port };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- -S -n

/** Parses `ipvsadm -S -n` output (also valid `ipvsadm -R` input). */
export function parseIpvsadmSave(text: string): Map<string, IpvsService> {
  const services = new Map<string, { service: VirtualService; realServers: RealServer[] }>();
  const lines = text.split("\n");
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const words = line.split(/\s+/);
    const cmd = words[0];
    if (cmd !== "-A" && cmd !== "-a") throw new IpvsadmParseError("unexpected command", i + 1, raw);
    if (words[1] === "-f" || words[1] === "--fwmark-service") continue;
    const protocol = FLAG_PROTO[words[1]];
    const vs = parseHostPort(words[2] ?? "");
    if (!protocol || !vs) throw new IpvsadmParseError("bad virtual service", i + 1, raw);
    const key = `${protocol}:${hostPort(vs.address, vs.port)}`;
    const rest = words.slice(3);
    if (cmd === "-A") {
      services.set(key, { service: parseServiceOptions(protocol, vs, rest, i + 1, raw), realServers: [] });
      continue;
    }
    const svc = services.get(key);
    if (!svc) throw new IpvsadmParseError("real server before its virtual service", i + 1, raw);
    svc.realServers.push(parseServerOptions(rest, i + 1, raw));
  }
  return ipvsTable(services.values());
}

function parseServiceOptions(
  protocol: IpvsProtocol,
  vs: { address: string; port: number },
  words: string[],
  n: number,
  raw: string,
): VirtualService {
  let scheduler = "wlc"; // ipvsadm's default
  let persistenceTimeout: number | undefined;
  const extra: string[] = [];
  for (let j = 0; j < words.length; j++) {
    const w = words[j];
    if (w === "-s" || w === "--scheduler") scheduler = words[++j] ?? "";
    else if (w === "-p" || w === "--persistent") {
      const t = Number(words[j + 1]);
      if (Number.isInteger(t) && t > 0) {
        persistenceTimeout = t;
        j++;
      } else persistenceTimeout = 300; // ipvsadm's default timeout
    } else extra.push(w);
  }
  if (!scheduler) throw new IpvsadmParseError("missing scheduler", n, raw);
  return {
    protocol,
    address: vs.address,
    port: vs.port,
    scheduler,
    ...(persistenceTimeout !== undefined ? { persistenceTimeout } : {}),
    ...(extra.length ? { extra: extra.join(" ") } : {}),
  };
}

function parseServerOptions(words: string[], n: number, raw: string): RealServer {
  let rs: { address: string; port: number } | undefined;
  let forward: ForwardMethod = "route"; // ipvsadm's default (-g)
  let weight = 1;
  for (let j = 0; j < words.length; j++) {
    const w = words[j];
    if (w === "-r" || w === "--real-server") rs = parseHostPort(words[++j] ?? "");
    else if (w === "-w" || w === "--weight") weight = Number(words[++j]);
    else if (SWITCH_FWD[w]) forward = SWITCH_FWD[w];
    // thresholds (-x/-y) and tunnel options are not ours to program: ignored
  }
  if (!rs || !Number.isInteger(weight) || weight < 0) throw new IpvsadmParseError("bad real server", n, raw);
  return { address: rs.address, port: rs.port, weight, forward };
}

// ---------------------------------------------------------------- -L -n

/** Parses `ipvsadm -L -n` output, connection counters included. */
export function parseIpvsadmList(text: string): Map<string, IpvsService<KernelRealServer>> {
  const services: { service: VirtualService; realServers: KernelRealServer[] }[] = [];
  let current: { service: VirtualService; realServers: KernelRealServer[] } | undefined;
  let skipping = false;
  for (const [i, raw] of text.split("\n").entries()) {
    if (!raw.trim()) continue;
    if (/^IP Virtual Server version/.test(raw) || /^Prot LocalAddress/.test(raw) || /^ {2}-> RemoteAddress/.test(raw))
      continue;
    const words = raw.trim().split(/\s+/);
    if (words[0] === "->") {
      if (skipping) continue;
      if (!current) throw new IpvsadmParseError("real server before its virtual service", i + 1, raw);
      const rs = parseHostPort(words[1] ?? "");
      const forward = NAME_FWD[words[2]];
      const [weight, active, inactive] = words.slice(3, 6).map(Number);
      if (!rs || !forward || ![weight, active, inactive].every(Number.isInteger))
        throw new IpvsadmParseError("bad real server", i + 1, raw);
      current.realServers.push({ ...rs, weight, forward, activeConns: active, inactiveConns: inactive });
      continue;
    }
    if (words[0] === "FWM") {
      skipping = true;
      current = undefined;
      continue;
    }
    skipping = false;
    const protocol = NAME_PROTO[words[0]];
    const vs = parseHostPort(words[1] ?? "");
    if (!protocol || !vs || !words[2]) throw new IpvsadmParseError("bad virtual service", i + 1, raw);
    const flags = words.slice(3);
    let persistenceTimeout: number | undefined;
    const extra: string[] = [];
    for (let j = 0; j < flags.length; j++) {
      if (flags[j] === "persistent") persistenceTimeout = Number(flags[++j]);
      else if (flags[j] === "mask") extra.push("-M", flags[++j]);
      else extra.push(flags[j]);
    }
    current = {
      service: {
        protocol,
        ...vs,
        scheduler: words[2],
        ...(persistenceTimeout !== undefined ? { persistenceTimeout } : {}),
        ...(extra.length ? { extra: extra.join(" ") } : {}),
      },
      realServers: [],
    };
    services.push(current);
  }
  return ipvsTable(services);
}

// ---------------------------------------------------------------- output

function serviceArg(s: Pick<VirtualService, "protocol" | "address" | "port">): string {
  return `${PROTO_FLAG[s.protocol]} ${hostPort(s.address, s.port)}`;
}

function serviceOptions(s: VirtualService): string {
  let out = ` -s ${s.scheduler}`;
  if (s.persistenceTimeout) out += ` -p ${s.persistenceTimeout}`;
  if (s.extra) out += ` ${s.extra}`;
  return out;
}

/** `-A …` (or with `edit`, `-E …`): the service with all its settings (-E resets what it omits). */
export function addServiceLine(s: VirtualService, edit = false): string {
  return `${edit ? "-E" : "-A"} ${serviceArg(s)}${serviceOptions(s)}`;
}

export function deleteServiceLine(s: Pick<VirtualService, "protocol" | "address" | "port">): string {
  return `-D ${serviceArg(s)}`;
}

export function addServerLine(s: VirtualService, r: RealServer, edit = false): string {
  return `${edit ? "-e" : "-a"} ${serviceArg(s)} -r ${hostPort(r.address, r.port)} ${FWD_SWITCH[r.forward]} -w ${r.weight}`;
}

export function deleteServerLine(s: VirtualService, r: Pick<RealServer, "address" | "port">): string {
  return `-d ${serviceArg(s)} -r ${hostPort(r.address, r.port)}`;
}

/** The table as `ipvsadm -S -n` prints it. */
export function formatIpvsadmSave(table: IpvsTable): string {
  const lines: string[] = [];
  for (const e of sortedServices(table)) {
    lines.push(addServiceLine(e.service));
    for (const r of e.realServers) lines.push(addServerLine(e.service, r));
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}

export interface ListHeader {
  /** IPVS version the kernel reports; 1.2.1 for every kernel since 2.6.x. */
  readonly version?: string;
  /** Connection hash table size (ip_vs conn_tab_bits=12 by default). */
  readonly size?: number;
}

/** The table in `ipvsadm -L -n` layout (counters 0 unless the servers carry them). */
export function formatIpvsadmList(table: IpvsTable<RealServer | KernelRealServer>, h: ListHeader = {}): string {
  const lines = [
    `IP Virtual Server version ${h.version ?? "1.2.1"} (size=${h.size ?? 4096})`,
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
  ];
  for (const e of sortedServices(table)) {
    const s = e.service;
    let name = `${PROTO_NAME[s.protocol]}  ${hostPort(s.address, s.port)}`;
    if (ipFamily(s.address) === 4) name = name.slice(0, 33); // ipvsadm cuts IPv4 names
    let line = `${name} ${s.scheduler}`;
    if (s.persistenceTimeout) line += ` persistent ${s.persistenceTimeout}`;
    if (s.extra) line += ` ${s.extra}`;
    lines.push(line);
    for (const r of e.realServers) {
      let dest = hostPort(r.address, r.port);
      if (ipFamily(r.address) === 4) dest = dest.slice(0, 28);
      const k = r as KernelRealServer;
      lines.push(
        `  -> ${dest.padEnd(28)} ${FWD_NAME[r.forward].padEnd(7)} ${String(r.weight).padEnd(6)} ` +
          `${String(k.activeConns ?? 0).padEnd(10)} ${String(k.inactiveConns ?? 0).padEnd(10)}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

function sortedServices<R extends RealServer>(table: IpvsTable<R>): IpvsService<R>[] {
  return sortServices([...table.values()]);
}
