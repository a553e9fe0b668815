// Kernel access for IP sets: `ipset save` and `ipset restore`, and an
// in-memory fake with the same semantics for unit tests.

import { isIP } from "node:net";
import { run, type Spawn } from "./exec.js";
import { spawnFor } from "./spawner.js";

export interface IpsetBackend {
  save(): Promise<string>;
  /**
   * `ipset restore -exist`: create/add/del tolerate what already is (or is not) there. With
   * `after`, the program may start at once but reads its input only once `after` resolves (if it
   * rejects, nothing is written and restore rejects with its error).
   */
  restore(input: string, after?: Promise<unknown>): Promise<void>;
}

export class IpsetError extends Error {}

export class ExecIpsetBackend implements IpsetBackend {
  /** `spawn`: how restores are started (spawner.ts; default: forked from this process). */
  constructor(private readonly spawn?: Spawn) {}

  async save(): Promise<string> {
    const r = await run("ipset", ["save"]);
    if (r.code !== 0) throw new IpsetError(`ipset save failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async restore(input: string, after?: Promise<unknown>): Promise<void> {
    // Started before `after` settles: the fork and exec are off the caller's critical path.
    const hold = after && { indexes: new Set([0]), until: after };
    const r = await run("ipset", ["restore", "-exist"], [input], hold, { spawn: spawnFor(this.spawn, [input]) });
    if (r.code !== 0) throw new IpsetError(`ipset restore failed: ${r.stderr.trim()}`);
  }
}

/** The parts of a set's header the kernel compares; ipset's defaults filled in. */
interface Header {
  type: string;
  family: string;
  hashsize: string;
  maxelem: string;
}

function parseHeader(words: string[]): Header {
  const opt = (k: string, dflt: string) => {
    const i = words.indexOf(k);
    return i > 0 ? words[i + 1] : dflt;
  };
  return {
    type: words[0],
    family: opt("family", "inet"),
    hashsize: opt("hashsize", "1024"),
    maxelem: opt("maxelem", "65536"),
  };
}

/** IPSET_MAXNAMELEN 32, with the NUL. */
const MAX_NAME = 31;

/** What each element of a member is, per set type (the types we and kube-proxy use). */
const ELEMENTS: Record<string, readonly ("ip" | "net" | "port")[]> = {
  "hash:ip": ["ip"],
  "hash:net": ["net"],
  "hash:ip,port": ["ip", "port"],
  "hash:net,port": ["net", "port"],
  "hash:ip,port,ip": ["ip", "port", "ip"],
  "hash:ip,port,net": ["ip", "port", "net"],
};

/** Why the kernel (ipset's parser) would refuse `member` in a set of this header, if it would. */
function memberProblem(h: Header, member: string): string | undefined {
  const kinds = ELEMENTS[h.type];
  if (!kinds) return undefined;
  const parts = member.split(",");
  if (parts.length > kinds.length)
    return `Syntax error: Elem separator in ${member}, but settype ${h.type} supports none`;
  if (parts.length < kinds.length) return `Syntax error: element ${parts.length + 1} is missing from ${member}`;
  const family = h.family === "inet6" ? 6 : 4;
  for (const [i, kind] of kinds.entries()) {
    const part = parts[i];
    if (kind === "port") {
      if (!/^((tcp|udp|sctp):)?\d+$/.test(part)) return `Syntax error: cannot parse ${part} as a port`;
      continue;
    }
    const [addr, prefix, extra] = part.split("/");
    // A range on an IP element makes ipset add one member per address: not modelled here.
    if (extra !== undefined || (prefix !== undefined && kind === "ip"))
      return `fake ipset: ${part} is not a single address`;
    if (isIP(addr) !== family) return `Syntax error: cannot parse ${addr}: resolving to IPv${family} address failed`;
    if (prefix !== undefined && !(/^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)))
      return `Syntax error: bad prefix in ${part}`;
  }
  return undefined;
}

const headerText = (h: Header) => `${h.type} family ${h.family} hashsize ${h.hashsize} maxelem ${h.maxelem}`;

interface FakeSet {
  header: Header;
  members: Set<string>;
}

/** Something outside ipset that holds references to sets (iptables rules). */
export interface IpsetUser {
  referencedSets(): ReadonlySet<string>;
}

/**
 * The kernel's rules, as `ipset restore -exist` meets them: names of at most
 * 31 characters; members of the set's form and family (a range on an IP
 * element, which ipset expands, is refused as not modelled), at most maxelem
 * of them; a create of an
 * existing set passes only with the same header; swap needs the same type and
 * family (IPSET_ERR_TYPE_MISMATCH); a set referenced by a rule (a linked
 * fake iptables, or `inUse`) cannot be destroyed; lines before a failing one
 * stay applied (ipset restore is not a transaction).
 */
export class FakeIpsetBackend implements IpsetBackend {
  readonly sets = new Map<string, FakeSet>();
  readonly restores: string[] = [];
  /** Set names the fake refuses to destroy, as the kernel does for sets in use. */
  readonly inUse = new Set<string>();
  /** Rule tables whose `--match-set` references keep sets in use. */
  readonly users: IpsetUser[] = [];

  async save(): Promise<string> {
    const out: string[] = [];
    for (const [name, s] of this.sets) {
      out.push(`create ${name} ${headerText(s.header)}`);
      for (const m of s.members) out.push(`add ${name} ${m}`);
    }
    return out.length ? `${out.join("\n")}\n` : "";
  }

  /** The set's header as `ipset save` prints it (without bucketsize/initval). */
  header(name: string): string | undefined {
    const s = this.sets.get(name);
    return s && headerText(s.header);
  }

  isReferenced(name: string): boolean {
    return this.inUse.has(name) || this.users.some((u) => u.referencedSets().has(name));
  }

  async restore(input: string, after?: Promise<unknown>): Promise<void> {
    await after;
    this.restores.push(input);
    for (const [i, line] of input.split("\n").entries()) {
      if (!line.trim()) continue;
      const [op, name, ...rest] = line.trim().split(/\s+/);
      const fail = (m: string) => new IpsetError(`ipset restore failed: Error in line ${i + 1}: ${m}`);
      const set = this.sets.get(name);
      if (name && name.length > MAX_NAME)
        throw fail(`Syntax error: setname '${name}' is longer than ${MAX_NAME} characters`);
      switch (op) {
        case "create": {
          const header = parseHeader(rest);
          if (set && headerText(set.header) !== headerText(header))
            throw fail("Set cannot be created: set with the same name already exists");
          if (!set) this.sets.set(name, { header, members: new Set() });
          break;
        }
        case "add": {
          if (!set) throw fail("The set with the given name does not exist");
          const problem = memberProblem(set.header, rest[0]);
          if (problem) throw fail(problem);
          if (!set.members.has(rest[0]) && set.members.size >= Number(set.header.maxelem))
            throw fail("Hash is full, cannot add more elements");
          set.members.add(rest[0]);
          break;
        }
        case "del":
          if (!set) throw fail("The set with the given name does not exist");
          set.members.delete(rest[0]);
          break;
        case "swap": {
          const other = this.sets.get(rest[0]);
          if (!set || !other) throw fail("The set with the given name does not exist");
          if (set.header.type !== other.header.type || set.header.family !== other.header.family)
            throw fail("The sets cannot be swapped: their type does not match");
          this.sets.set(name, other);
          this.sets.set(rest[0], set);
          break;
        }
        case "destroy":
          if (!set) throw fail("The set with the given name does not exist");
          if (this.isReferenced(name)) throw fail("Set cannot be destroyed: it is in use by a kernel component");
          this.sets.delete(name);
          break;
        default:
          throw fail(`unknown command ${op}`);
      }
    }
  }
}
