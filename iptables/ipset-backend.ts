// Kernel access for IP sets: `ipset save` and `ipset restore`, and an
// in-memory fake with the same semantics for unit tests.

import { run } from "./exec.js";

export interface IpsetBackend {
  save(): Promise<string>;
  /** `ipset restore -exist`: create/add/del tolerate what already is (or is not) there. */
  restore(input: string): Promise<void>;
}

export class IpsetError extends Error {}

export class ExecIpsetBackend implements IpsetBackend {
  async save(): Promise<string> {
    const r = await run("ipset", ["save"]);
    if (r.code !== 0) throw new IpsetError(`ipset save failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async restore(input: string): Promise<void> {
    const r = await run("ipset", ["restore", "-exist"], input);
    if (r.code !== 0) throw new IpsetError(`ipset restore failed: ${r.stderr.trim()}`);
  }
}

interface FakeSet {
  header: string;
  members: Set<string>;
}

export class FakeIpsetBackend implements IpsetBackend {
  readonly sets = new Map<string, FakeSet>();
  readonly restores: string[] = [];
  /** Set names the fake refuses to destroy, as the kernel does for sets in use. */
  readonly inUse = new Set<string>();

  async save(): Promise<string> {
    const out: string[] = [];
    for (const [name, s] of this.sets) {
      out.push(`create ${name} ${s.header}`);
      for (const m of s.members) out.push(`add ${name} ${m}`);
    }
    return out.length ? `${out.join("\n")}\n` : "";
  }

  async restore(input: string): Promise<void> {
    this.restores.push(input);
    for (const [i, line] of input.split("\n").entries()) {
      if (!line.trim()) continue;
      const [op, name, ...rest] = line.trim().split(/\s+/);
      const fail = (m: string) => new IpsetError(`ipset restore failed: line ${i + 1}: ${m}`);
      const set = this.sets.get(name);
      switch (op) {
        case "create":
          if (!set) this.sets.set(name, { header: rest.join(" "), members: new Set() });
          break;
        case "add":
          if (!set) throw fail(`no set ${name}`);
          set.members.add(rest[0]);
          break;
        case "del":
          if (!set) throw fail(`no set ${name}`);
          set.members.delete(rest[0]);
          break;
        case "swap": {
          const other = this.sets.get(rest[0]);
          if (!set || !other) throw fail("swap needs two sets");
          this.sets.set(name, other);
          this.sets.set(rest[0], set);
          break;
        }
        case "destroy":
          if (!set) throw fail(`no set ${name}`);
          if (this.inUse.has(name)) throw fail(`Set cannot be destroyed: it is in use by a kernel component`);
          this.sets.delete(name);
          break;
        default:
          throw fail(`unknown command ${op}`);
      }
    }
  }
}
