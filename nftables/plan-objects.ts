// The transaction's part for kube-proxy's nft-only objects (verdict maps and
// affinity sets), planned beside plan.ts's sets and chains. A map element
// names a chain, so its commands sit around the chain commands:
//   - element deletes right after the flushes, before any `delete chain`
//     (a chain a map element still names cannot be deleted);
//   - stale maps/sets deleted with the stale sets (after the flushes of the
//     chains whose rules use them);
//   - new maps/sets declared with the sets, their elements added after the
//     chains are declared (an element naming a chain needs the chain).
// A map diffs element by element like a set (one endpoint change: a few
// elements). An affinity set's elements are the kernel's (`update` adds
// them): never deleted, never drift; a changed timeout is re-declared in
// place (the kernel takes it); another type re-creates the object with the
// chains using it.

import type { NftObjectState } from "../model/nft-objects.js";
import type { NftFamily } from "./backend.js";
import { NftError } from "./backend.js";
import { NFT_TABLE } from "./names.js";
import {
  elementKey,
  familyObjects,
  type NftObjectSpec,
  nftObjectElements,
  nftObjectSpec,
  objectDeclText,
} from "./objects.js";
import { assertSafeNftName, isSafeNftElement, isSafeNftName } from "./safe-text.js";
import type { NftView, ViewSet } from "./view.js";

export type NftObjects = Readonly<Record<string, NftObjectState>>;

export interface ObjectCommands {
  readonly elementDeletes: string[];
  readonly deletes: string[];
  readonly declares: string[];
  readonly elementAdds: string[];
  /** Objects re-created: the chains whose rules use them must be re-added after them. */
  readonly recreated: string[];
  setsWritten: number;
  setsDeleted: number;
  elementsAdded: number;
  elementsRemoved: number;
}

const PER_COMMAND = 1000;

/** The view of an object once written. */
export function objectView(spec: NftObjectSpec, elements: ReadonlySet<string>): ViewSet {
  return spec.timeout === undefined
    ? { type: spec.type, interval: false, elements }
    : { type: spec.type, interval: false, elements: new Set(), timeout: spec.timeout };
}

/** The names of this family's desired objects (plan.ts leaves them to this planner). */
export function objectNames(objects: NftObjects | undefined, family: NftFamily): Set<string> {
  return new Set(familyObjects(objects, family === "ip" ? 4 : 6).map((o) => o.name));
}

/**
 * Commands bringing the view's objects to `want` (only those not the same
 * object in `applied`, when given); `after` is updated. `owned(name)`: a
 * name in the kernel that plan.ts's sets do not claim (a stale object).
 */
export function planObjects(
  family: NftFamily,
  want: NftObjects | undefined,
  view: NftView,
  after: NftView,
  applied: NftObjects | undefined,
  staleCandidates: Iterable<string>,
  table = NFT_TABLE,
): ObjectCommands {
  const t = `${family} ${table}`;
  const v = family === "ip" ? 4 : 6;
  const out: ObjectCommands = {
    elementDeletes: [],
    deletes: [],
    declares: [],
    elementAdds: [],
    recreated: [],
    setsWritten: 0,
    setsDeleted: 0,
    elementsAdded: 0,
    elementsRemoved: 0,
  };
  const desired = new Map(familyObjects(want, v).map((o) => [o.name, o]));
  const candidates = new Set<string>();
  if (applied) {
    // Since the last apply: only what is not the same object (all of it when the objects went).
    const now = want ?? {};
    for (const k of new Set([...Object.keys(applied), ...Object.keys(now)])) {
      const o = now[k] ?? applied[k];
      if (o.family === v && applied[k] !== now[k]) candidates.add(o.name);
    }
  } else {
    for (const n of desired.keys()) candidates.add(n);
  }
  for (const n of staleCandidates) candidates.add(n);
  const batch = (cmds: string[], op: string, name: string, elems: string[]) => {
    for (let i = 0; i < elems.length; i += PER_COMMAND) {
      cmds.push(`${op} element ${t} ${name} { ${elems.slice(i, i + PER_COMMAND).join(", ")} }`);
    }
  };
  for (const name of [...candidates].sort()) {
    const o = desired.get(name);
    const have = view.sets.get(name);
    if (!o) {
      if (!have) continue;
      if (!isSafeNftName(name)) throw new NftError(`our table holds an object named ${JSON.stringify(name)}`);
      out.deletes.push(`delete set ${t} ${name}`);
      after.sets.delete(name);
      out.setsDeleted++;
      continue;
    }
    const spec = nftObjectSpec(o);
    const elems = nftObjectElements(o);
    assertSafeNftName(name);
    // Re-adding a timeout set with another timeout changes it in place (its elements and users stay).
    const retimed = have?.timeout !== undefined && spec.timeout !== undefined && have.timeout !== spec.timeout;
    const retyped = have && !retimed && (have.type !== spec.type || have.interval || have.timeout !== spec.timeout);
    if (retimed) {
      out.declares.push(`add set ${t} ${name} { ${objectDeclText(spec)} }`);
      out.setsWritten++;
    } else if (!have || retyped) {
      if (retyped) {
        // `delete set` removes a map too; the declare below comes after it in the script.
        out.deletes.push(`delete set ${t} ${name}`);
        out.recreated.push(name);
        out.elementsRemoved += spec.timeout === undefined ? have.elements.size : 0;
      }
      out.declares.push(`add ${spec.kind} ${t} ${name} { ${objectDeclText(spec)} }`);
      batch(out.elementAdds, "add", name, [...elems]);
      out.setsWritten++;
      out.elementsAdded += elems.size;
    } else if (spec.timeout === undefined) {
      const dels: string[] = [];
      for (const e of have.elements) {
        if (elems.has(e)) continue;
        const key = elementKey(e);
        if (!isSafeNftElement(key)) throw new NftError(`map ${name} holds an element ${JSON.stringify(e)}`);
        dels.push(key);
      }
      const adds = [...elems].filter((e) => !have.elements.has(e));
      batch(out.elementDeletes, "delete", name, dels);
      batch(out.elementAdds, "add", name, adds);
      out.elementsRemoved += dels.length;
      out.elementsAdded += adds.length;
    }
    after.sets.set(name, objectView(spec, elems));
  }
  return out;
}
