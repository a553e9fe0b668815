// RBAC: the DaemonSet's ServiceAccount may do exactly what the agent's code
// does (list/watch what it is fed from, patch its node's status, create pod
// events), and a ValidatingAdmissionPolicy limits the status patch to its own
// Node. The policy's CEL cannot run here (no API server): this test checks
// that it is present and wired, not what CEL makes of it.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { WATCHED } from "../../src/datastore/kubernetes.js";

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("no package.json above the test");
    dir = up;
  }
  return dir;
}
const ROOT = repoRoot();

/** Every Kubernetes API write the agent makes (status/node-status.ts), by its raw request, as (group, resource, verb). */
const STATUS_CALLS: Readonly<Record<string, readonly [string, string, string]>> = {
  "PATCH /api/v1/nodes/*/status": ["", "nodes/status", "patch"],
  "POST /api/v1/namespaces/*/events": ["", "events", "create"],
};

/** `group|resource|verb` from the code: informer paths (LIST + WATCH) and the status calls. */
function usedByCode(): Set<string> {
  const out = new Set<string>();
  for (const k of WATCHED) {
    const m = k.path.match(/^\/api\/v1\/([a-z]+)$/) ?? k.path.match(/^\/apis\/([^/]+)\/[^/]+\/([a-z]+)$/);
    assert.ok(m, `unexpected path ${k.path}`);
    const [group, resource] = m.length === 2 ? ["", m[1]] : [m[1], m[2]];
    for (const verb of ["list", "watch"]) out.add(`${group}|${resource}|${verb}`);
  }
  for (const [group, resource, verb] of Object.values(STATUS_CALLS)) out.add(`${group}|${resource}|${verb}`);
  return out;
}

function sources(dir: string): { file: string; text: string }[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => ({ file: join(dir, f), text: readFileSync(join(ROOT, dir, f), "utf8") }));
}

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

const docs = (parseAllDocuments(readFileSync(join(ROOT, "deploy/felix-ts.yaml"), "utf8")) as { toJS(): Doc }[])
  .map((d) => d.toJS())
  .filter(Boolean);
const one = (kind: string) => {
  const found = docs.filter((d) => d.kind === kind);
  assert.equal(found.length, 1, `one ${kind} in deploy/felix-ts.yaml`);
  return found[0] as Doc & Record<string, never>;
};

describe("hostile input: RBAC of the DaemonSet", () => {
  test("the code calls the API only where the table above says", () => {
    const code = [...sources("src"), ...sources("status")];
    // No client-node API client or informer: every request is raw, in src/datastore/kube-request.ts.
    const clients = code.filter((s) => /makeApiClient\(|makeInformer\(/.test(s.text)).map((s) => s.file);
    assert.deepEqual(clients, [], "typed API clients or informers");
    const raw = code.filter((s) => /\b(https?\.)?request\(/.test(s.text) && /node:https?/.test(s.text));
    assert.deepEqual(
      raw.map((s) => s.file),
      [join("src", "datastore", "kube-request.ts")],
      "raw HTTP to the API server",
    );
    // Writes: send(kc, <verb>, <path>) in the status reporter only, the paths in the table.
    const writes = code.flatMap((s) =>
      [...s.text.matchAll(/\bsend\(kc, "(\w+)", `([^`]*)`/g)].map((m) => ({ file: s.file, call: `${m[1]} ${m[2]}` })),
    );
    assert.ok(
      writes.every((w) => w.file === join("status", "node-status.ts")),
      "writes only in node-status.ts",
    );
    const calls = writes.map((w) => w.call.replace(/\$\{[^}]*\}/g, "*"));
    assert.deepEqual(calls.sort(), Object.keys(STATUS_CALLS).sort());
    // Reads: the paged LIST and the WATCH of the list-watch, of the WATCHED paths only.
    const requests = code.filter((s) => /\b(listPage|watchEvents)\(/.test(s.text)).map((s) => s.file);
    assert.deepEqual(requests.sort(), [
      join("src", "datastore", "kube-request.ts"),
      join("src", "datastore", "list-watch.ts"),
    ]);
    const lw = code.find((s) => s.file === join("src", "datastore", "list-watch.ts"))!.text;
    assert.ok(
      /apiUrl\(this\.o\.kubeConfig, this\.spec\.path,/.test(lw),
      "the list-watch requests its kind's WATCHED path",
    );
  });

  test("the ClusterRole grants exactly what the code uses", () => {
    const role = one("ClusterRole");
    const granted = new Set<string>();
    for (const r of role.rules as {
      apiGroups: string[];
      resources: string[];
      verbs: string[];
      resourceNames?: string[];
    }[]) {
      for (const g of r.apiGroups)
        for (const res of r.resources) for (const v of r.verbs) granted.add(`${g}|${res}|${v}`);
    }
    assert.deepEqual([...granted].sort(), [...usedByCode()].sort());
    assert.ok(![...granted].some((g) => g.includes("*")), "no wildcards");
  });

  test("the binding and the admission policy name the DaemonSet's ServiceAccount", () => {
    const ds = one("DaemonSet");
    const sa = (ds.spec as { template: { spec: { serviceAccountName: string } } }).template.spec.serviceAccountName;
    const ns = ds.metadata.namespace!;
    const binding = one("ClusterRoleBinding");
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: sa, namespace: ns }]);
    assert.equal((binding.roleRef as { name: string }).name, one("ClusterRole").metadata.name);
    const vap = one("ValidatingAdmissionPolicy");
    const spec = vap.spec as {
      failurePolicy: string;
      matchConstraints: { resourceRules: { resources: string[]; operations: string[] }[] };
      matchConditions: { expression: string }[];
      validations: { expression: string }[];
    };
    assert.equal(spec.failurePolicy, "Fail");
    assert.deepEqual(
      spec.matchConstraints.resourceRules.flatMap((r) => r.resources),
      ["nodes/status"],
    );
    // PATCH reaches admission as UPDATE.
    assert.deepEqual(
      spec.matchConstraints.resourceRules.flatMap((r) => r.operations),
      ["UPDATE"],
    );
    assert.ok(spec.matchConditions.some((c) => c.expression.includes(`'system:serviceaccount:${ns}:${sa}'`)));
    const own = spec.validations.find((v) => v.expression.includes("authentication.kubernetes.io/node-name"));
    assert.ok(own, "a validation on the token's node-name claim");
    assert.match(
      own.expression,
      /request\.userInfo\.extra\['authentication\.kubernetes\.io\/node-name'\] == \[object\.metadata\.name\]/,
    );
    const vapBinding = one("ValidatingAdmissionPolicyBinding");
    assert.deepEqual(vapBinding.spec, { policyName: vap.metadata.name, validationActions: ["Deny"] });
  });
});
