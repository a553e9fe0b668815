// PATCH: strategic-merge, JSON merge and JSON patch, as the API server applies them.
import { clone, deepEqual, isPlainObject } from "./selectors.js";
import { ApiError, statusObject } from "./status.js";

// ---------------------------------------------------------------------------------------------------------------
// Patching

/** Strategic-merge merge keys, by dotted field path (list items share their list's path). */
const MERGE_KEYS: Record<string, string> = {
  "status.conditions": "type",
  "status.addresses": "type",
  "status.images": "names",
  "spec.containers": "name",
  "spec.initContainers": "name",
  "spec.containers.ports": "containerPort",
  "spec.containers.env": "name",
  "spec.volumes": "name",
  "spec.ports": "port",
  "metadata.ownerReferences": "uid",
  "status.containerStatuses": "name",
  "status.podIPs": "ip",
};

/**
 * Minimal strategic merge patch: maps merge recursively, `null` deletes a key, lists with a known merge key
 * (`status.conditions` by `type`, ...) are merged item by item, other lists are replaced. Honours
 * `$patch: delete|replace` (on maps and list items) and `$setElementOrder/<list>`; ignores `$retainKeys`.
 */
export function strategicMerge(original: unknown, patch: unknown, path = ""): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  if (patch.$patch === "replace") {
    const { $patch: _, ...rest } = patch;
    return stripDirectives(rest);
  }
  const result: Record<string, unknown> = isPlainObject(original) ? clone(original) : {};
  const orders: Record<string, unknown[]> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys") continue;
    if (k.startsWith("$setElementOrder/")) {
      if (Array.isArray(v)) orders[k.slice("$setElementOrder/".length)] = v;
      continue;
    }
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const key = k.slice("$deleteFromPrimitiveList/".length);
      if (Array.isArray(result[key]) && Array.isArray(v)) {
        result[key] = (result[key] as unknown[]).filter((x) => !v.some((d) => deepEqual(d, x)));
      }
      continue;
    }
    if (v === null) {
      delete result[k];
      continue;
    }
    const childPath = path ? `${path}.${k}` : k;
    const mergeKey = MERGE_KEYS[childPath];
    if (Array.isArray(v) && mergeKey) {
      result[k] = mergeList(Array.isArray(result[k]) ? (result[k] as unknown[]) : [], v, mergeKey, childPath);
    } else if (isPlainObject(v)) {
      if (v.$patch === "delete") delete result[k];
      else result[k] = strategicMerge(result[k], v, childPath);
    } else {
      result[k] = clone(v);
    }
  }
  for (const [listKey, order] of Object.entries(orders)) {
    const mergeKey = MERGE_KEYS[path ? `${path}.${listKey}` : listKey];
    const list = result[listKey];
    if (!mergeKey || !Array.isArray(list)) continue;
    const rank = (item: unknown) => {
      const key = isPlainObject(item) ? item[mergeKey] : undefined;
      const i = order.findIndex((o) => isPlainObject(o) && deepEqual(o[mergeKey], key));
      return i < 0 ? order.length : i;
    };
    result[listKey] = list
      .map((item, i) => ({ item, i }))
      .sort((a, b) => rank(a.item) - rank(b.item) || a.i - b.i)
      .map((x) => x.item);
  }
  return result;
}

function mergeList(original: unknown[], patch: unknown[], mergeKey: string, path: string): unknown[] {
  const result = original.map((x) => clone(x));
  for (const item of patch) {
    if (!isPlainObject(item)) {
      result.push(clone(item));
      continue;
    }
    const key = item[mergeKey];
    const idx = result.findIndex((o) => isPlainObject(o) && deepEqual(o[mergeKey], key));
    if (item.$patch === "delete") {
      if (idx >= 0) result.splice(idx, 1);
      continue;
    }
    if (idx >= 0) result[idx] = strategicMerge(result[idx], item, path);
    else result.push(strategicMerge({}, item, path));
  }
  return result;
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith("$")) out[k] = stripDirectives(x);
  return out;
}

/** RFC 7386 JSON merge patch. */
export function jsonMergePatch(original: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isPlainObject(original) ? clone(original) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = jsonMergePatch(result[k], v);
  }
  return result;
}

export interface JsonPatchOp {
  op: "add" | "remove" | "replace" | "test" | "move" | "copy";
  path: string;
  from?: string;
  value?: unknown;
}

/** RFC 6902 JSON patch. */
export function jsonPatch(original: unknown, ops: JsonPatchOp[]): unknown {
  let doc = clone(original);
  const bad = (msg: string) => new ApiError(statusObject(422, "Invalid", `json patch: ${msg}`));
  const split = (p: string) =>
    p === ""
      ? []
      : p
          .slice(1)
          .split("/")
          .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  const parentOf = (root: unknown, parts: string[]) => {
    let cur: unknown = root;
    for (const part of parts.slice(0, -1)) {
      if (Array.isArray(cur)) cur = cur[Number(part)];
      else if (isPlainObject(cur)) cur = cur[part];
      else throw bad(`path not found`);
      if (cur === undefined) throw bad(`path not found`);
    }
    return cur;
  };
  const read = (root: unknown, p: string) => {
    const parts = split(p);
    if (parts.length === 0) return root;
    const parent = parentOf(root, parts);
    const last = parts[parts.length - 1]!;
    const v = Array.isArray(parent) ? parent[Number(last)] : (parent as Record<string, unknown>)[last];
    if (v === undefined) throw bad(`path ${p} not found`);
    return v;
  };
  const remove = (root: unknown, p: string) => {
    const parts = split(p);
    const parent = parentOf(root, parts);
    const last = parts[parts.length - 1]!;
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else if (isPlainObject(parent) && Object.hasOwn(parent, last)) delete parent[last];
    else throw bad(`path ${p} not found`);
  };
  const add = (root: unknown, p: string, value: unknown, replace: boolean): unknown => {
    const parts = split(p);
    if (parts.length === 0) return clone(value);
    const parent = parentOf(root, parts);
    const last = parts[parts.length - 1]!;
    if (Array.isArray(parent)) {
      const i = last === "-" ? parent.length : Number(last);
      if (replace) parent[i] = clone(value);
      else parent.splice(i, 0, clone(value));
    } else if (isPlainObject(parent)) {
      if (replace && !Object.hasOwn(parent, last)) throw bad(`path ${p} not found`);
      parent[last] = clone(value);
    } else throw bad(`path ${p} not found`);
    return root;
  };
  if (!Array.isArray(ops)) throw bad("body is not a list of operations");
  for (const o of ops) {
    switch (o.op) {
      case "add":
        doc = add(doc, o.path, o.value, false);
        break;
      case "replace":
        doc = add(doc, o.path, o.value, true);
        break;
      case "remove":
        remove(doc, o.path);
        break;
      case "test":
        if (!deepEqual(read(doc, o.path), o.value)) throw bad(`test failed at ${o.path}`);
        break;
      case "move": {
        const v = read(doc, o.from ?? "");
        remove(doc, o.from ?? "");
        doc = add(doc, o.path, v, false);
        break;
      }
      case "copy":
        doc = add(doc, o.path, read(doc, o.from ?? ""), false);
        break;
      default:
        throw bad(`unsupported op ${(o as { op: string }).op}`);
    }
  }
  return doc;
}
