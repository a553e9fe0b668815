// The snapshot's service ports (DesiredState.services, ~5,000 at the large
// preset), sharded by id (model/sharded-record.ts): a service change copied
// the whole record, ~0.2 MB promoted to the old generation per service
// endpoint change in the daemon (two thirds of all it promoted for that kind).

import {
  changedShardKeys,
  emptySharded,
  type Sharded,
  shardedFrom,
  shardKeys,
  shardValue,
  shardValues,
  withWrites,
} from "../../model/sharded-record.js";
import type { ServicePort } from "./model.js";

/** DesiredState.services: service ports by id (servicePortId), sharded. */
export type ServicePorts = Sharded<ServicePort>;

export const noServicePorts = (): ServicePorts => emptySharded<ServicePort>();

export const servicePortOf = (s: ServicePorts, id: string): ServicePort | undefined => shardValue(s, id);

/** Every service port, unsorted. */
export const servicePortList = (s: ServicePorts): ServicePort[] => shardValues(s);

/** Every id, unsorted. */
export const servicePortIds = (s: ServicePorts): string[] => shardKeys(s);

/** Shards holding `ports` by id (tests, tools). */
export const servicePortsOf = (ports: Record<string, ServicePort>): ServicePorts => shardedFrom(Object.entries(ports));

/** `base` with `writes` (undefined: delete), only the shards they change copied, frozen; `base` if none does. */
export const withServicePorts = (
  base: ServicePorts,
  writes: Iterable<readonly [string, ServicePort | undefined]>,
): ServicePorts => withWrites(base, writes, true);

/** Ids whose port differs between two versions (added, removed or another object), in changed shards only. */
export const changedServicePorts = (before: ServicePorts, after: ServicePorts): string[] =>
  changedShardKeys(before, after);
