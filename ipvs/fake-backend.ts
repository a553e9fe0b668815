// An in-memory IPVS with the kernel's rules: adding what exists or touching
// what does not fails (EEXIST / ESRCH as ipvsadm reports them), deleting a
// service deletes its real servers. Connection counters are test-settable.

import { type IpvsBackend, type IpvsChange, IpvsError } from "./backend.js";
import {
  type IpvsService,
  type IpvsTable,
  type KernelRealServer,
  realServerKey,
  serviceKey,
  sortRealServers,
} from "./model.js";

interface FakeService {
  service: IpvsService["service"];
  servers: Map<string, KernelRealServer>;
}

export class FakeIpvsBackend implements IpvsBackend {
  private readonly services = new Map<string, FakeService>();
  /** Every apply() batch, for assertions. */
  readonly applied: IpvsChange[][] = [];
  lists = 0;
  counterLists = 0;

  constructor(initial?: IpvsTable<KernelRealServer>) {
    for (const [k, e] of initial ?? []) {
      this.services.set(k, {
        service: e.service,
        servers: new Map(e.realServers.map((r) => [realServerKey(r), r])),
      });
    }
  }

  /** Sets a real server's connection counters (as traffic would). */
  setConnections(service: string, server: string, active: number, inactive: number): void {
    const s = this.services.get(service)?.servers;
    const r = s?.get(server);
    if (!s || !r) throw new Error(`no real server ${server} in ${service}`);
    s.set(server, { ...r, activeConns: active, inactiveConns: inactive });
  }

  async list(counters = false): Promise<IpvsTable<KernelRealServer>> {
    this.lists++;
    if (counters) this.counterLists++;
    const out = new Map<string, IpvsService<KernelRealServer>>();
    for (const [k, s] of this.services) {
      const servers = [...s.servers.values()].map((r) => {
        if (counters) return { ...r, activeConns: r.activeConns ?? 0, inactiveConns: r.inactiveConns ?? 0 };
        const { activeConns: _a, inactiveConns: _i, ...plain } = r;
        return plain;
      });
      out.set(k, { service: s.service, realServers: sortRealServers(servers) });
    }
    return out;
  }

  async apply(changes: readonly IpvsChange[]): Promise<void> {
    this.applied.push([...changes]);
    for (const c of changes) {
      const key = serviceKey(c.service);
      const svc = this.services.get(key);
      switch (c.op) {
        case "add-service":
          if (svc) throw new IpvsError(`Service already exists: ${key}`);
          this.services.set(key, { service: c.service, servers: new Map() });
          break;
        case "edit-service":
          if (!svc) throw new IpvsError(`No such service: ${key}`);
          svc.service = c.service;
          break;
        case "delete-service":
          if (!svc) throw new IpvsError(`No such service: ${key}`);
          this.services.delete(key);
          break;
        default: {
          if (!svc) throw new IpvsError(`No such service: ${key}`);
          const rk = realServerKey(c.server);
          const old = svc.servers.get(rk);
          if (c.op === "add-server") {
            if (old) throw new IpvsError(`Destination already exists: ${rk} in ${key}`);
            svc.servers.set(rk, { ...c.server });
          } else if (!old) {
            throw new IpvsError(`No such destination: ${rk} in ${key}`);
          } else if (c.op === "edit-server") {
            svc.servers.set(rk, { ...old, weight: c.server.weight, forward: c.server.forward });
          } else {
            svc.servers.delete(rk);
          }
        }
      }
    }
  }
}
