// The transaction's part for kube-proxy's nft-only objects (verdict maps and
// affinity sets), planned beside plan.ts's sets and chains. A map element
// names a chain, so its commands sit around the chain commands:
//   - element deletes right after the flushes, before any `delete chain`
//     (a chain a map element still names cannot be deleted);
//   - stale maps/sets deleted after the flushes of the chains whose rules
//     use them and before any `delete chain` (a stale map's elements may
//     still name a stale chain);
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
import type { NftCommand, NftMapElement, NftSetKey } from "./commands.js";
import {
  elementKey,
  familyObjects,
  type NftObjectSpec,
  nftObjectElements,
  nftObjectSpec,
  objectKey,
  vmapElements,
} from "./objects.js";
import { assertSafeNftName, isSafeNftElement, isSafeNftName } from "./safe-text.js";
import type { NftView, ViewSet } from "./view.js";

export type NftObjects = Readonly<Record<string, NftObjectState>>;

export interface ObjectCommands {
  readonly elementDeletes: NftCommand[];
  readonly deletes: NftCommand[];
  readonly declares: NftCommand[];
  readonly elementAdds: NftCommand[];
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
): ObjectCommands {
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
  const chunks = <T>(xs: readonly T[]): T[][] => {
    const out: T[][] = [];
    for (let i = 0; i < xs.length; i += PER_COMMAND) out.push(xs.slice(i, i + PER_COMMAND));
    return out;
  };
  /** Element commands: a map's elements (by their view text) with their verdicts, a set's as they are. */
  const elementAdds = (o: NftObjectState, key: NftSetKey, texts: readonly string[]) => {
    if (o.kind === "vmap") {
      const byText = vmapElements(o);
      const elems = texts.map((x) => byText.get(x) as NftMapElement);
      for (const c of chunks(elems)) out.elementAdds.push({ op: "add map element", map: o.name, key, elements: c });
    } else {
      for (const c of chunks(texts)) out.elementAdds.push({ op: "add element", set: o.name, key, elements: c });
    }
  };
  for (const name of [...candidates].sort()) {
    const o = desired.get(name);
    const have = view.sets.get(name);
    if (!o) {
      if (!have) continue;
      if (!isSafeNftName(name)) throw new NftError(`our table holds an object named ${JSON.stringify(name)}`);
      out.deletes.push({ op: "delete set", set: name });
      after.sets.delete(name);
      out.setsDeleted++;
      continue;
    }
    const spec = nftObjectSpec(o);
    const key = objectKey(spec);
    const elems = nftObjectElements(o);
    assertSafeNftName(name);
    // Re-adding a timeout set with another timeout changes it in place (its elements and users stay).
    const retimed = have?.timeout !== undefined && spec.timeout !== undefined && have.timeout !== spec.timeout;
    const retyped = have && !retimed && (have.type !== spec.type || have.interval || have.timeout !== spec.timeout);
    if (retimed) {
      out.declares.push({ op: "add set", set: name, key, timeout: spec.timeout });
      out.setsWritten++;
    } else if (!have || retyped) {
      if (retyped) {
        // `delete set` removes a map too; the declare below comes after it in the script.
        out.deletes.push({ op: "delete set", set: name });
        out.recreated.push(name);
        out.elementsRemoved += spec.timeout === undefined ? have.elements.size : 0;
      }
      out.declares.push(
        spec.kind === "map"
          ? { op: "add map", map: name, key }
          : { op: "add set", set: name, key, timeout: spec.timeout },
      );
      elementAdds(o, key, [...elems]);
      out.setsWritten++;
      out.elementsAdded += elems.size;
    } else if (spec.timeout === undefined) {
      const dels: string[] = [];
      for (const e of have.elements) {
        if (elems.has(e)) continue;
        const k = elementKey(e);
        if (!isSafeNftElement(k)) throw new NftError(`map ${name} holds an element ${JSON.stringify(e)}`);
        dels.push(k);
      }
      const adds = [...elems].filter((e) => !have.elements.has(e));
      for (const c of chunks(dels)) out.elementDeletes.push({ op: "delete element", set: name, key, elements: c });
      elementAdds(o, key, adds);
      out.elementsRemoved += dels.length;
      out.elementsAdded += adds.length;
    }
    after.sets.set(name, objectView(spec, elems));
  }
  return out;
}
