// Keeps the kernel's protocol-80 routes in the main table equal to the desired
// set with the fewest writes: read our routes, diff, add/replace/delete.
// Routes of any other protocol are never written (an `add` that collides with
// one fails with EEXIST and is reported, never replaced), with one exception:
// a device route of protocol boot (3) on a workload interface (`cali*`) is
// what Calico's CNI plugin adds for a pod. Felix owns those (its
// DeviceRouteProtocol is 3); we adopt one whose destination we want, replacing
// it with ours, so a stale one (the address's pod moved to another interface or
// node) is repaired instead of blocking the right route. One we do not want is
// left alone: its pod may be newer than our view of the datastore.

import { errnoCode, type KernelRoute, type NetlinkRoutes, parseRouteCidr, routeMatches } from "./netlink-routes.js";
import type { Route } from "./route.js";

export interface PendingRoute {
  readonly dst: string;
  readonly dev?: string;
  readonly gateway?: string;
  /** `device-missing` (ENODEV), `device-down` (ENETDOWN) or `gateway-unreachable` (ENETUNREACH). */
  readonly reason: PendingReason;
}

export type PendingReason = "device-missing" | "device-down" | "gateway-unreachable";

export interface RouteFailure {
  readonly dst: string;
  readonly error: string;
  readonly code?: string;
}

export interface RouteApplyResult {
  /** dsts of routes created. */
  readonly added: string[];
  /** dsts of our routes rewritten in place (different dev, gateway, type or scope). */
  readonly replaced: string[];
  /** dsts of CNI routes (protocol boot, workload interface) taken over and rewritten as ours. */
  readonly adopted: string[];
  /** dsts of our routes deleted (no longer desired, or stale while the new device is pending). */
  readonly removed: string[];
  readonly unchanged: number;
  /** Desired routes waiting for a device or a reachable gateway; not errors, retried later. */
  readonly pending: PendingRoute[];
  readonly failed: RouteFailure[];
  readonly durationMs: number;
}

export interface RouteReconcilerOptions {
  /** Netlink requests in flight at once (default 32). */
  readonly concurrency?: number;
  /** Workload interface prefixes (FELIX_INTERFACEPREFIX; default `cali`): CNI routes on them are adopted. */
  readonly workloadPrefixes?: readonly string[];
}

const PENDING: Record<string, PendingReason> = {
  ENODEV: "device-missing",
  ENETDOWN: "device-down",
  ENETUNREACH: "gateway-unreachable",
};

export class RouteReconciler {
  private desired = new Map<string, Route>();
  private invalid: RouteFailure[] = [];
  private pendingByDst = new Map<string, PendingRoute>();
  /** Devices our gateway routes went out of at the last read (the kernel drops them when it goes down). */
  private gatewayDevs = new Set<string>();
  private running?: Promise<RouteApplyResult>;
  private queued?: Promise<RouteApplyResult>;
  private readonly concurrency: number;
  private readonly workloadPrefixes: readonly string[];

  constructor(
    private readonly nl: NetlinkRoutes,
    opts: RouteReconcilerOptions = {},
  ) {
    this.concurrency = Math.max(1, opts.concurrency ?? 32);
    this.workloadPrefixes = (opts.workloadPrefixes ?? ["cali"]).filter((p) => p !== "");
  }

  /** Replaces the desired set (keyed by anything; identity is the canonical dst). */
  setDesired(routes: Readonly<Record<string, Route>>): void {
    const desired = new Map<string, Route>();
    const invalid: RouteFailure[] = [];
    for (const r of Object.values(routes)) {
      try {
        const dst = parseRouteCidr(r.dst).text;
        if (desired.has(dst)) invalid.push({ dst, error: "duplicate desired route for dst", code: "EINVAL" });
        else desired.set(dst, { ...r, dst });
      } catch (e) {
        invalid.push({ dst: r.dst, error: (e as Error).message, code: "EINVAL" });
      }
    }
    this.desired = desired;
    this.invalid = invalid;
    for (const dst of this.pendingByDst.keys()) if (!desired.has(dst)) this.pendingByDst.delete(dst);
  }

  /** Routes waiting for a device or gateway after the last apply. */
  get pending(): PendingRoute[] {
    return [...this.pendingByDst.values()];
  }

  /**
   * Reads the kernel and converges. Calls made while one is running are
   * coalesced into a single follow-up run.
   */
  apply(): Promise<RouteApplyResult> {
    if (!this.running) {
      this.running = this.run().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    if (!this.queued) {
      this.queued = this.running
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined;
          return this.apply();
        });
    }
    return this.queued;
  }

  /** A device appeared: retry if something waits for it. Resolves undefined when nothing to do. */
  onLinkAdded(name: string): Promise<RouteApplyResult | undefined> {
    return this.onLink(name);
  }

  /**
   * A device came up: retry routes waiting for it, and re-check routes using it
   * (the kernel deletes a device's routes when it goes down).
   */
  onLinkUp(name: string): Promise<RouteApplyResult | undefined> {
    return this.onLink(name);
  }

  private async onLink(name: string): Promise<RouteApplyResult | undefined> {
    const interested =
      this.gatewayDevs.has(name) ||
      [...this.pendingByDst.values()].some((p) => p.dev === name || p.reason === "gateway-unreachable") ||
      [...this.desired.values()].some((r) => r.dev === name && r.type === "unicast");
    return interested ? this.apply() : undefined;
  }

  private async run(): Promise<RouteApplyResult> {
    const t0 = performance.now();
    const desired = this.desired;
    const added: string[] = [];
    const replaced: string[] = [];
    const adopted: string[] = [];
    const removed: string[] = [];
    const failed: RouteFailure[] = [...this.invalid];
    const pending = new Map<string, PendingRoute>();
    let unchanged = 0;

    const kernel = await this.nl.list();
    const byDst = new Map<string, KernelRoute[]>();
    for (const k of kernel) {
      const list = byDst.get(k.dst);
      if (list) list.push(k);
      else byDst.set(k.dst, [k]);
    }
    this.gatewayDevs = new Set(kernel.filter((k) => k.gateway && k.dev).map((k) => k.dev!));
    const cni = new Set<string>();
    for (const k of (await this.nl.listDeviceRoutes?.()) ?? []) {
      if (desired.has(k.dst) && !byDst.has(k.dst) && this.workloadPrefixes.some((p) => k.dev?.startsWith(p))) {
        cni.add(k.dst);
      }
    }

    const fail = (dst: string, e: unknown) =>
      failed.push({ dst, error: (e as Error)?.message ?? String(e), code: errnoCode(e) });
    const pendingFor = (r: Route, e: unknown): PendingRoute | undefined => {
      const reason = PENDING[errnoCode(e) ?? ""];
      if (!reason) return undefined;
      // ENETUNREACH only means "waiting" for a gateway route.
      if (reason === "gateway-unreachable" && !r.gateway) return undefined;
      return { dst: r.dst, dev: r.dev, gateway: r.gateway, reason };
    };

    const tasks: (() => Promise<void>)[] = [];
    for (const [dst, ks] of byDst) {
      if (desired.has(dst)) continue;
      // One delete per route: duplicates (e.g. IPv6 metrics) go one at a time.
      tasks.push(async () => {
        for (let i = 0; i < ks.length; i++) {
          try {
            await this.nl.delete({ dst });
          } catch (e) {
            if (errnoCode(e) === "ESRCH") return; // already gone
            fail(dst, e);
            return;
          }
        }
        removed.push(dst);
      });
    }
    for (const [dst, r] of desired) {
      const existing = byDst.get(dst)?.[0];
      if (existing && routeMatches(existing, r)) {
        unchanged++;
        continue;
      }
      tasks.push(async () => {
        try {
          if (existing) {
            await this.nl.replace(r);
            replaced.push(dst);
          } else if (cni.has(dst)) {
            await this.nl.replace(r);
            adopted.push(dst);
          } else {
            await this.nl.add(r);
            added.push(dst);
          }
        } catch (e) {
          const p = pendingFor(r, e);
          if (!p) {
            if (errnoCode(e) === "EEXIST") {
              failed.push({
                dst,
                error: `${dst}: a route with another protocol owns this destination; not touching it`,
                code: "EEXIST",
              });
            } else fail(dst, e);
            return;
          }
          pending.set(dst, p);
          if (existing) {
            // Our old route points somewhere that is no longer wanted: remove
            // it rather than keep sending traffic there until the device appears.
            try {
              await this.nl.delete({ dst });
              removed.push(dst);
            } catch (e2) {
              if (errnoCode(e2) !== "ESRCH") fail(dst, e2);
            }
          }
        }
      });
    }
    await runLimited(tasks, this.concurrency);

    this.pendingByDst = pending;
    const sort = (a: string[]) => a.sort();
    return {
      added: sort(added),
      replaced: sort(replaced),
      adopted: sort(adopted),
      removed: sort(removed),
      unchanged,
      pending: [...pending.values()].sort((a, b) => (a.dst < b.dst ? -1 : 1)),
      failed: failed.sort((a, b) => (a.dst < b.dst ? -1 : 1)),
      durationMs: performance.now() - t0,
    };
  }
}

async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}
