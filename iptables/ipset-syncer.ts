// Reconciles the kernel's IP sets with the desired ones, touching only ours
// (names starting `cali4`/`cali6`). Two phases, around the iptables update:
//   addOrUpdate(): create missing sets, add/del members, or for a large
//                  change fill a temporary set and swap it in; a set whose
//                  type or family changed cannot be swapped (the kernel refuses:
//                  IPSET_ERR_TYPE_MISMATCH), so it is destroyed and re-created,
//                  which the kernel allows only while no rule references it.
//                  begin() does it in two steps: every set exists (created
//                  empty, re-typed) before it returns, the members go in after,
//                  so the rules that use the sets can be loaded meanwhile and
//                  committed once the members are in;
//   removeStale(): destroy sets no longer desired, after the rules that used
//                  them are gone (a set still in use is left for later).
// Set names carry their type (`s:` selector → hash:net, `n:` named port →
// hash:ip,port), as Felix's set ids do, so our own rules never need a set to
// change type in place: a mistyped set under our name was left by something
// else, and while a rule still holds it we fail the apply (rules are not
// loaded against a set of the wrong type) rather than match the wrong thing.

import { createHash } from "node:crypto";
import { missingFrom } from "../model/ipset.js";
import { ownString } from "../model/own-string.js";
import { createLine, type IpSetState, MAX_IPSET_SIZE, renderIpSets } from "./ipset.js";
import { type IpsetBackend, IpsetError } from "./ipset-backend.js";

const OURS = /^cali[46]/;

interface KernelSet {
  type: string;
  family: string;
  /** As `ipset save` prints it; undefined when unknown (the set was written by us with ours). */
  maxelem?: number;
  members: ReadonlySet<string>;
}

export interface IpsetSyncResult {
  readonly setsCreated: number;
  readonly setsSwapped: number;
  /** Sets destroyed and re-created because their type or family changed. */
  readonly setsRecreated: number;
  readonly membersAdded: number;
  readonly membersRemoved: number;
  readonly setsDestroyed: number;
  readonly bytesWritten: number;
  readonly restoreMs: number;
}

/** IP sets being written by begin(): every set exists; `done` settles once their members are in. */
export interface IpsetFill {
  readonly done: Promise<IpsetSyncResult>;
  /** Members are still being written (false: `done` has settled, or settles without a kernel write). */
  readonly pending: boolean;
}

/** Up to this many member lines, begin() writes the sets whole before it returns (see there). */
export const FILL_BEHIND_LINES = 5000;

/** Above this many member changes (and half the set), rebuild and swap instead. */
export const SWAP_THRESHOLD = 1000;

/**
 * Names are copies of their own (a view would keep the whole text alive as a
 * key of the syncer's view); members stay views of it until the syncer's next
 * apply puts the snapshot's set in their place.
 */
export function parseIpsetSave(text: string): Map<string, KernelSet> {
  const sets = new Map<string, KernelSet & { members: Set<string> }>();
  for (const line of text.split("\n")) {
    const parts = line.trim().split(/\s+/);
    if (parts[0] === "create") {
      const fam = parts.indexOf("family");
      const max = parts.indexOf("maxelem");
      sets.set(ownString(parts[1]), {
        type: parts[2],
        family: fam > 0 ? parts[fam + 1] : "inet",
        maxelem: max > 0 ? Number(parts[max + 1]) : IPSET_DEFAULT_MAXELEM,
        members: new Set(),
      });
    } else if (parts[0] === "add") {
      sets.get(parts[1])?.members.add(parts[2]);
    }
  }
  return sets;
}

/** ipset's own maxelem, when `create` gives none. */
const IPSET_DEFAULT_MAXELEM = 65536;

export class IpsetSyncer {
  private kernel: Map<string, KernelSet> | undefined;
  /** The maxelem our sets are created with (FELIX_MAXIPSETSIZE). */
  readonly maxelem: number;

  constructor(
    readonly backend: IpsetBackend,
    opts: { maxelem?: number } = {},
  ) {
    this.maxelem = opts.maxelem ?? MAX_IPSET_SIZE;
  }

  invalidate(): void {
    this.kernel = undefined;
  }

  private async load(): Promise<Map<string, KernelSet>> {
    if (!this.kernel) {
      const all = parseIpsetSave(await this.backend.save());
      this.kernel = new Map([...all].filter(([n]) => OURS.test(n)));
    }
    return this.kernel;
  }

  async addOrUpdate(desired: Iterable<IpSetState>): Promise<IpsetSyncResult> {
    return (await this.begin(desired)).done;
  }

  /**
   * addOrUpdate in two steps: resolves once every desired set exists with its
   * type and family (new sets created empty, re-typed ones re-created); its
   * `done` settles once the members are in (adds, deletions, swaps). Rules
   * that use the sets may be loaded in between, not committed before `done`.
   */
  async begin(desired: Iterable<IpSetState>): Promise<IpsetFill> {
    const kernel = await this.load();
    const creates: string[] = [];
    const lines: string[] = [];
    let setsCreated = 0;
    let setsSwapped = 0;
    const retyped: IpSetState[] = [];
    let membersAdded = 0;
    let membersRemoved = 0;
    for (const s of [...desired].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const have = kernel.get(s.name);
      const family = s.family === 4 ? "inet" : "inet6";
      if (!have) {
        creates.push(createLine(s, this.maxelem));
        for (const m of [...s.members].sort()) lines.push(`add ${s.name} ${m}`);
        setsCreated++;
        membersAdded += s.members.size;
        continue;
      }
      // Only the differences are collected: a changed set of thousands differs by a few.
      const adds = missingFrom(have.members, s.members);
      const dels = missingFrom(s.members, have.members);
      const changes = adds.length + dels.length;
      const sameSet = have.type === s.type && have.family === family;
      // Equal after a read: the view takes the snapshot's members (the parsed ones hold the save output).
      if (sameSet && changes === 0 && have.members !== s.members) kernel.set(s.name, { ...have, members: s.members });
      if (!sameSet) {
        retyped.push(s);
        membersAdded += s.members.size;
        membersRemoved += have.members.size;
        continue;
      }
      // Another maxelem (FELIX_MAXIPSETSIZE changed): a set cannot be resized, but a copy can be swapped in
      // (swap needs only the same type and family), so the set is never missing while rules use it.
      const resize = have.maxelem !== undefined && have.maxelem !== this.maxelem;
      if (resize || (changes > SWAP_THRESHOLD && changes > s.members.size / 2)) {
        const tmp = `cali${s.family}t${createHash("sha1").update(s.name).digest("hex").slice(0, 20)}`;
        if (kernel.has(tmp)) lines.push(`destroy ${tmp}`);
        lines.push(
          renderIpSets([{ ...s, name: tmp }], this.maxelem).trimEnd(),
          `swap ${tmp} ${s.name}`,
          `destroy ${tmp}`,
        );
        setsSwapped++;
        membersAdded += adds.length;
        membersRemoved += dels.length;
        continue;
      }
      for (const m of dels) lines.push(`del ${s.name} ${m}`);
      for (const m of adds) lines.push(`add ${s.name} ${m}`);
      membersAdded += adds.length;
      membersRemoved += dels.length;
    }
    let restoreMs = 0;
    let bytesWritten = 0;
    const restore = async (text: string) => {
      const t0 = performance.now();
      try {
        await this.backend.restore(text);
      } catch (e) {
        this.invalidate();
        throw e;
      } finally {
        restoreMs += performance.now() - t0;
        bytesWritten += Buffer.byteLength(text);
      }
    };
    // A small write that creates sets goes whole in one restore, before the rules: a second
    // ipset process would cost more than the overlap saves. One that only changes members
    // (most changes) needs no set created first: it is written while the rules load.
    const membersOnly = creates.length === 0 && retyped.length === 0 && lines.length > 0;
    const small = lines.length <= FILL_BEHIND_LINES && !membersOnly;
    const first = small ? creates.concat(lines) : creates;
    if (first.length > 0) await restore(`${first.filter(Boolean).join("\n")}\n`);
    // One restore per re-typed set: a set still referenced fails its own destroy and nothing else.
    const blocked: string[] = [];
    for (const s of retyped) {
      try {
        await restore(`destroy ${s.name}\n${renderIpSets([s], this.maxelem)}`);
      } catch (e) {
        blocked.push(`${s.name}: ${(e as Error).message}`);
      }
    }
    const fill = async (): Promise<IpsetSyncResult> => {
      const input = small ? "" : lines.filter(Boolean).join("\n");
      if (input) await restore(`${input}\n`);
      if (first.length > 0 || input || retyped.length > 0) {
        for (const s of desired) {
          // The snapshot's set itself: snapshots are never modified, so no copy is needed.
          const family = s.family === 4 ? "inet" : "inet6";
          kernel.set(s.name, { type: s.type, family, maxelem: this.maxelem, members: s.members });
        }
      }
      return {
        setsCreated,
        setsSwapped,
        setsRecreated: retyped.length,
        membersAdded,
        membersRemoved,
        setsDestroyed: 0,
        bytesWritten,
        restoreMs,
      };
    };
    if (blocked.length > 0) {
      await fill(); // every other set is written before the apply fails
      this.invalidate();
      throw new IpsetError(
        `IP sets of another type or family under our names could not be re-created (still referenced?): ${blocked.join("; ")}`,
      );
    }
    if (small) return { done: Promise.resolve(await fill()), pending: false };
    const done = fill();
    done.catch(() => {}); // the caller awaits it; a failure never goes unhandled meanwhile
    return { done, pending: true };
  }

  /**
   * Destroys our sets that are not desired; returns those that could not go yet. With `after`
   * (the rules that named them being replaced), the ipset program starts at once and destroys
   * once `after` resolves; if it rejects, nothing is destroyed and this rejects with its error.
   */
  async removeStale(
    desired: Iterable<IpSetState>,
    after?: Promise<unknown>,
  ): Promise<{ destroyed: number; inUse: string[]; bytesWritten: number; restoreMs: number }> {
    const kernel = await this.load();
    const want = new Set([...desired].map((s) => s.name));
    const stale = [...kernel.keys()].filter((n) => !want.has(n)).sort();
    if (stale.length === 0) {
      await after;
      return { destroyed: 0, inUse: [], bytesWritten: 0, restoreMs: 0 };
    }
    const inUse: string[] = [];
    let bytesWritten = 0;
    let restoreMs = 0;
    const restore = async (input: string, hold?: Promise<unknown>) => {
      bytesWritten += input.length;
      let t0 = performance.now();
      hold?.then(
        () => (t0 = performance.now()),
        () => {},
      ); // the wait for `after` is not ipset's time
      try {
        await this.backend.restore(input, hold);
      } finally {
        restoreMs += performance.now() - t0;
      }
    };
    try {
      await restore(`${stale.map((n) => `destroy ${n}`).join("\n")}\n`, after);
      for (const n of stale) kernel.delete(n);
    } catch (e) {
      if (
        after &&
        (await after.then(
          () => false,
          () => true,
        ))
      )
        throw e; // the rules were not replaced
      // One set still referenced (by someone else's rule) stops the batch:
      // go one by one so the others still go.
      this.invalidate();
      for (const n of stale) {
        try {
          await restore(`destroy ${n}\n`);
        } catch {
          inUse.push(n);
        }
      }
    }
    return { destroyed: stale.length - inUse.length, inUse, bytesWritten, restoreMs };
  }
}
