// A demo scenario: a directory holding scenario.yaml (which pods exist, where,
// with which labels and ports, and which ports the matrix probes) plus plain
// Kubernetes manifests (NetworkPolicies, Services) that are passed to the
// agents as they are. Format documented in examples/README.md.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { PortSpec, Protocol } from "../netns/topology.js";
import { DEFAULT_SCENARIO } from "./default-scenario.js";

export const SCENARIO_FILE = "scenario.yaml";
export const EXPECTED_FILE = "expected.txt";
export { DEFAULT_SCENARIO };

export interface ScenarioPort {
  readonly name?: string;
  readonly port: number;
  readonly protocol: "TCP" | "UDP";
}

export interface ScenarioPod {
  readonly namespace: string;
  readonly name: string;
  /** Node name, or undefined to spread the pods over the nodes in order. */
  readonly node?: string;
  readonly ip?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Declared container ports (what named ports resolve to). */
  readonly ports: readonly ScenarioPort[];
}

export interface Scenario {
  readonly name: string;
  readonly dir: string;
  readonly description: string;
  /** Minimum number of nodes (the highest node the pods name, or `nodes:`). */
  readonly nodes: number;
  /** Namespace → extra labels. */
  readonly namespaces: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly pods: readonly ScenarioPod[];
  /** Columns of the matrix: every pod serves all of them. */
  readonly probe: readonly PortSpec[];
}

export class ScenarioError extends Error {}

/** examples/ of this package (from src/demo or dist/src/demo). */
export function examplesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const found = [resolve(here, "../../examples"), resolve(here, "../../../examples")].find((d) =>
    existsSync(join(d, DEFAULT_SCENARIO, SCENARIO_FILE)),
  );
  return found ?? resolve(here, "../../../examples");
}

/** A scenario by directory path or by the name of one under examples/. */
export function resolveScenario(nameOrDir: string): string {
  const candidates = [resolve(nameOrDir), join(examplesDir(), nameOrDir)];
  const dir = candidates.find((d) => existsSync(join(d, SCENARIO_FILE)));
  if (!dir) {
    throw new ScenarioError(
      `no scenario "${nameOrDir}": give a directory holding ${SCENARIO_FILE} or one of: ${listScenarios().join(", ")}`,
    );
  }
  return dir;
}

export function listScenarios(): string[] {
  const root = examplesDir();
  try {
    return readdirSync(root)
      .filter((n) => existsSync(join(root, n, SCENARIO_FILE)))
      .sort();
  } catch {
    return [];
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function loadScenario(dir: string): Scenario {
  const file = join(dir, SCENARIO_FILE);
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ScenarioError(`${file}: ${(e as Error).message}`);
  }
  return parseScenario(doc, basename(dir), dir, file);
}

export function parseScenario(doc: unknown, name: string, dir: string, file = SCENARIO_FILE): Scenario {
  const fail = (msg: string): never => {
    throw new ScenarioError(`${file}: ${msg}`);
  };
  if (!isObject(doc)) fail("expected a mapping with pods:");
  const d = doc as Record<string, unknown>;
  const pods: ScenarioPod[] = [];
  if (!Array.isArray(d.pods) || d.pods.length === 0) fail("pods: expected a non-empty list");
  const seen = new Set<string>();
  let highestNode = 0;
  for (const [i, raw] of (d.pods as unknown[]).entries()) {
    const where = `pods[${i}]`;
    if (!isObject(raw)) fail(`${where}: expected a mapping`);
    const p = raw as Record<string, unknown>;
    const podName = str(p.name, `${where}.name`, fail);
    const ns = p.namespace === undefined ? "default" : str(p.namespace, `${where}.namespace`, fail);
    for (const [what, v] of [
      ["name", podName],
      ["namespace", ns],
    ])
      if (!DNS_LABEL.test(v!) || v!.length > 40) fail(`${where}.${what}: "${v}" is not a DNS label`);
    const key = `${ns}/${podName}`;
    if (seen.has(key)) fail(`${where}: pod ${key} appears twice`);
    seen.add(key);
    let node: string | undefined;
    if (p.node !== undefined) {
      node = str(p.node, `${where}.node`, fail);
      const m = /^node([1-9][0-9]?)$/.exec(node);
      if (!m) fail(`${where}.node: "${node}": nodes are named node1, node2, …`);
      highestNode = Math.max(highestNode, Number(m![1]));
    }
    const ip = p.ip === undefined ? undefined : str(p.ip, `${where}.ip`, fail);
    pods.push({
      namespace: ns,
      name: podName,
      node,
      ip,
      labels: labels(p.labels, `${where}.labels`, fail),
      ports: ports(p.ports, `${where}.ports`, fail),
    });
  }
  const namespaces: Record<string, Record<string, string>> = {};
  if (d.namespaces !== undefined) {
    if (!isObject(d.namespaces)) fail("namespaces: expected a mapping of namespace → labels");
    for (const [ns, l] of Object.entries(d.namespaces as Record<string, unknown>)) {
      if (!DNS_LABEL.test(ns)) fail(`namespaces: "${ns}" is not a DNS label`);
      namespaces[ns] = labels(l ?? {}, `namespaces.${ns}`, fail);
    }
  }
  for (const p of pods) namespaces[p.namespace] ??= {};
  let probe: PortSpec[] = [{ port: 80, protocol: "tcp" }];
  if (d.probe !== undefined) {
    if (!Array.isArray(d.probe) || d.probe.length === 0) fail("probe: expected a list like [tcp/80, udp/53]");
    probe = (d.probe as unknown[]).map((x) => {
      const m = typeof x === "string" ? /^(tcp|udp)\/(\d{1,5})$/i.exec(x.trim()) : null;
      const port = Number(m?.[2]);
      if (!m || port < 1 || port > 65535) fail(`probe: "${String(x)}" is not <tcp|udp>/<port>`);
      return { protocol: m![1]!.toLowerCase() as Protocol, port };
    });
  }
  let nodes = highestNode;
  if (d.nodes !== undefined) {
    if (typeof d.nodes !== "number" || !Number.isInteger(d.nodes) || d.nodes < 1 || d.nodes > 9)
      fail("nodes: expected a number from 1 to 9");
    nodes = Math.max(nodes, d.nodes as number);
  }
  const description = typeof d.description === "string" ? d.description.trim() : "";
  return { name, dir, description, nodes, namespaces, pods, probe };
}

function isObject(x: unknown): boolean {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function str(x: unknown, where: string, fail: (m: string) => never): string {
  if (typeof x !== "string" || x === "") return fail(`${where}: expected a string`);
  return x;
}

function labels(x: unknown, where: string, fail: (m: string) => never): Record<string, string> {
  if (x === undefined) return {};
  if (!isObject(x)) return fail(`${where}: expected a mapping of label → value`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(x as Record<string, unknown>)) {
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean")
      fail(`${where}.${k}: expected a string value`);
    out[k] = String(v);
  }
  return out;
}

function ports(x: unknown, where: string, fail: (m: string) => never): ScenarioPort[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) return fail(`${where}: expected a list of {name, port, protocol}`);
  return x.map((p, i) => {
    if (!isObject(p)) fail(`${where}[${i}]: expected a mapping`);
    const r = p as Record<string, unknown>;
    const port = r.port;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
      fail(`${where}[${i}].port: expected a port number`);
    const protocol = r.protocol === undefined ? "TCP" : String(r.protocol).toUpperCase();
    if (protocol !== "TCP" && protocol !== "UDP") fail(`${where}[${i}].protocol: TCP or UDP`);
    const name = r.name === undefined ? undefined : str(r.name, `${where}[${i}].name`, fail);
    return { name, port: port as number, protocol: protocol as "TCP" | "UDP" };
  });
}
