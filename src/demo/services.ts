// Services in a demo scenario. The scenario's Service manifests go to the agents
// as they are; what an API server's EndpointSlice controller would add, the demo
// generates from the pods it placed: one EndpointSlice per distinct set of
// resolved target ports (named targetPorts resolve per pod from its
// containerPorts), endpoints = the pods the selector matches, with nodeName and
// targetRef. Each service port then becomes a matrix column, shown in the block
// of the port its backends serve (what NetworkPolicy sees after DNAT).
// Pure: no I/O (demo-cluster.ts writes and probes).

import { convertService } from "../../calc-graph/services/convert.js";
import type { KubeObject } from "../../model/k8s.js";
import type { PortSpec, Protocol } from "../netns/topology.js";
import type { Cell } from "./matrix.js";
import type { ScenarioPort } from "./scenario.js";

/** A placed pod as the Pod manifest shows it (labels include `pod: <name>`). */
export interface DemoPod {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly node: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly ScenarioPort[];
}

interface RawPort {
  name?: string;
  protocol?: string;
  port?: number;
  targetPort?: number | string;
}

interface RawService extends KubeObject {
  spec?: { type?: string; selector?: Record<string, string>; ports?: RawPort[]; clusterIP?: string };
}

export const MANAGED_BY = "felix-demo";

const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;
const proto = (p: RawPort) => (p.protocol ?? "TCP").toUpperCase();

function selectorOf(svc: RawService): Record<string, string> | undefined {
  const s = svc.spec?.selector;
  // No selector (or an empty one): the endpoints are the user's, as in Kubernetes.
  if (!s || typeof s !== "object" || Object.keys(s).length === 0) return undefined;
  return s;
}

/** The pods of the service's namespace that its selector matches, in placement order. */
export function selectedPods(svc: RawService, pods: readonly DemoPod[]): DemoPod[] {
  const sel = selectorOf(svc);
  if (!sel || svc.spec?.type === "ExternalName") return [];
  const ns = svc.metadata?.namespace || "default";
  return pods.filter((p) => p.namespace === ns && Object.entries(sel).every(([k, v]) => p.labels[k] === String(v)));
}

/** The container port a service port targets on one pod; undefined when a named port does not resolve. */
export function resolveTargetPort(sp: RawPort, pod: DemoPod): number | undefined {
  const t = sp.targetPort ?? sp.port;
  if (typeof t === "number") return t;
  if (typeof t === "string" && /^\d+$/.test(t)) return Number(t);
  return pod.ports.find((c) => c.name === t && c.protocol === proto(sp))?.port;
}

/**
 * The EndpointSlices the controller would write for one Service (none without a
 * selector or for ExternalName; one empty slice when no pod matches, as the
 * controller's placeholder). Pods whose named target ports resolve alike share a
 * slice; a port that does not resolve on a pod is left out of that pod's slice.
 */
export function endpointSlicesFor(svc: RawService, pods: readonly DemoPod[]): object[] {
  const name = svc.metadata?.name;
  if (!name || !selectorOf(svc) || svc.spec?.type === "ExternalName") return [];
  const namespace = svc.metadata?.namespace || "default";
  const svcPorts = (svc.spec?.ports ?? []).filter((p) => typeof p?.port === "number");
  const groups = new Map<string, { ports: object[]; pods: DemoPod[] }>();
  for (const pod of selectedPods(svc, pods)) {
    const ports = svcPorts.flatMap((sp) => {
      const port = resolveTargetPort(sp, pod);
      return port === undefined ? [] : [{ name: sp.name ?? "", port, protocol: proto(sp) }];
    });
    const k = JSON.stringify(ports);
    const g = groups.get(k) ?? { ports, pods: [] };
    g.pods.push(pod);
    groups.set(k, g);
  }
  if (groups.size === 0) groups.set("", { ports: [], pods: [] });
  return [...groups.values()].map((g, i) => ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${name}-${MANAGED_BY}-${i + 1}`,
      namespace,
      labels: { "kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": MANAGED_BY },
    },
    addressType: "IPv4",
    ports: g.ports,
    endpoints: g.pods.map((p) => ({
      addresses: [p.ip],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: p.node,
      targetRef: { kind: "Pod", namespace: p.namespace, name: p.name },
    })),
  }));
}

/** One service port probed as a matrix column. */
export interface ServiceColumn {
  /** `svc:<ns>/<name>`, plus `:<port>` when the service has several probed ports. */
  readonly label: string;
  readonly service: string;
  readonly clusterIP: string;
  /** The port clients dial on the ClusterIP. */
  readonly port: PortSpec;
  /** The block it is shown in: the port its backends serve. */
  readonly block: PortSpec;
  /** `<ns>/<pod>` of its endpoints. */
  readonly backends: readonly string[];
  /** The selector, for explanations ("app=api"). */
  readonly selector: string;
}

export interface ServiceColumns {
  readonly columns: readonly ServiceColumn[];
  /** Services or ports that get no column, and why. */
  readonly notes: readonly string[];
}

/**
 * The columns for the scenario's Services. Invalid Services are left to the
 * graph's problem report; Services without a selector (endpoints of the user's
 * own) and headless ones get no column.
 */
export function serviceColumns(
  services: readonly KubeObject[],
  pods: readonly DemoPod[],
  probe: readonly PortSpec[],
): ServiceColumns {
  const columns: ServiceColumn[] = [];
  const notes: string[] = [];
  const sorted = [...services].sort((a, b) =>
    key({ namespace: a.metadata?.namespace || "default", name: a.metadata?.name ?? "" }).localeCompare(
      key({ namespace: b.metadata?.namespace || "default", name: b.metadata?.name ?? "" }),
    ),
  );
  for (const raw of sorted) {
    const svc = raw as RawService;
    let converted: ReturnType<typeof convertService>;
    try {
      converted = convertService(svc);
    } catch {
      continue; // reported by the graph
    }
    const id = key(converted);
    const sel = selectorOf(svc);
    if (!sel) {
      if (svc.spec?.type !== "ExternalName")
        notes.push(`${id}: no selector, so no endpoints from the demo: not probed`);
      continue;
    }
    if (
      svc.spec?.type !== "ExternalName" &&
      !svc.spec?.clusterIP &&
      !(svc.spec as { clusterIPs?: unknown })?.clusterIPs
    )
      notes.push(`${id}: no spec.clusterIP, and no API server here allocates one: set one, e.g. 10.96.0.10`);
    const backends = selectedPods(svc, pods);
    const mine: Omit<ServiceColumn, "label">[] = [];
    for (const sp of svc.spec?.ports ?? []) {
      const protocol = proto(sp).toLowerCase();
      const t = converted.ports.find(
        (x) => x.family === 4 && x.portName === (sp.name ?? "") && x.protocol === protocol,
      );
      if (!t) continue; // headless, no IPv4 ClusterIP, or a bad port: the graph says why
      if (protocol !== "tcp" && protocol !== "udp") {
        notes.push(`${id} port ${t.port}/${protocol}: the demo probes only TCP and UDP`);
        continue;
      }
      const port: PortSpec = { port: t.port, protocol: protocol as Protocol };
      const targets = [...new Set(backends.map((p) => resolveTargetPort(sp, p)).filter((x) => x !== undefined))].sort(
        (a, b) => a - b,
      );
      const numeric = typeof (sp.targetPort ?? sp.port) === "number" ? Number(sp.targetPort ?? sp.port) : undefined;
      const target = targets[0] ?? numeric ?? t.port;
      if (targets.length > 1)
        notes.push(`${id} port ${t.port}: its backends serve ${targets.join(", ")}; shown under ${protocol}/${target}`);
      const block: PortSpec = { port: target, protocol: port.protocol };
      if (!probe.some((p) => p.port === block.port && p.protocol === block.protocol)) {
        notes.push(
          `${id} port ${t.port}/${protocol}: its backends serve ${protocol}/${target}, which the scenario does not probe (add it to probe:)`,
        );
        continue;
      }
      mine.push({
        service: id,
        clusterIP: t.clusterIP,
        port,
        block,
        backends: backends.filter((p) => resolveTargetPort(sp, p) !== undefined).map(key),
        selector: Object.entries(sel)
          .map(([k, v]) => `${k}=${v}`)
          .join(","),
      });
    }
    for (const c of mine) columns.push({ ...c, label: mine.length > 1 ? `svc:${id}:${c.port.port}` : `svc:${id}` });
  }
  return { columns, notes };
}

/** Connections per service cell (a second round when the first is mixed). */
export const SERVICE_PROBES = 12;

export interface ServiceOutcome {
  readonly cell: Cell;
  readonly attempts: number;
  readonly answered: number;
  /** Backends whose reply arrived. */
  readonly answeredBy: readonly string[];
}

/**
 * A cell from the replies of connections to a ClusterIP (each reply names the
 * backend that answered; failures name nobody): `.` every connection answered,
 * `X` none did, `~` some did and some backend never answered — the policy lets
 * the client reach only some backends. Failures while every backend answered
 * at least once are transient (a lost packet), not policy: still `.`.
 */
export function classifyService(
  replies: readonly { ok: boolean; reply?: string }[],
  backends: readonly string[],
): ServiceOutcome {
  const answeredBy = [...new Set(replies.filter((r) => r.ok).map((r) => (r.reply ?? "").trim()))].sort();
  const answered = replies.filter((r) => r.ok).length;
  const everyBackend = backends.length > 0 && backends.every((b) => answeredBy.includes(b));
  const cell: Cell = answered === replies.length || everyBackend ? "." : answered === 0 ? "X" : "~";
  return { cell, attempts: replies.length, answered, answeredBy };
}

/**
 * Why a service cell is not `.`: the connection counts, then per backend
 * whether it answered or which policy denied the DNATed connection.
 * `deny(client, backend, port)` is the per-pod explanation (undefined: allowed).
 */
export function explainServiceCell(
  col: ServiceColumn,
  client: string,
  o: ServiceOutcome,
  deny: (client: string, server: string, port: PortSpec) => string | undefined,
): string {
  const head = `${col.label} ← ${client} ${col.clusterIP}:${col.port.port}/${col.port.protocol}`;
  if (col.backends.length === 0)
    return `${head}: no endpoints (no pod matches ${col.selector}), the connection is rejected`;
  const tried = `${o.answered} of ${o.attempts} connections answered; backends on ${col.block.protocol}/${col.block.port}`;
  const parts = col.backends.map((b) => {
    if (o.answeredBy.includes(b)) return `${b} answered`;
    const why = deny(client, b, col.block);
    return `${b}: ${why ?? "no reply, although the policies allow it"}`;
  });
  return `${head}: ${tried}: ${parts.join("; ")}`;
}
