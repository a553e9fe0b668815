// A resource update of a networking kind → the NetworkUpdate the graph uses.

import type { BlockAffinity, FelixConfiguration, IPPool } from "../../model/k8s.js";
import type { ResourceUpdate } from "../../model/resource.js";
import { blockAffinityToAffinity, felixConfigurationToConfig, ipPoolToPool } from "./convert.js";
import type { NetworkUpdate } from "./model.js";

export function convertNetworkResource(u: ResourceUpdate): NetworkUpdate {
  switch (u.kind) {
    case "IPPool":
      return { kind: "pool", name: u.name, pool: u.value ? ipPoolToPool(u.value as IPPool) : null };
    case "BlockAffinity":
      return {
        kind: "affinity",
        name: u.name,
        affinity: u.value ? blockAffinityToAffinity(u.value as BlockAffinity) : null,
      };
    case "FelixConfiguration":
      return {
        kind: "felix-config",
        name: u.name,
        config: u.value ? felixConfigurationToConfig(u.value as FelixConfiguration) : null,
      };
    default:
      throw new Error(`not a networking kind: ${u.kind}`);
  }
}
