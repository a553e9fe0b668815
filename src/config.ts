// Configuration from FELIX_* environment variables (Felix's names).

import type { GraphConfig } from "../calc-graph/calc-graph.js";
import type { EndpointToHostAction } from "../calc-graph/rules/static.js";

export class ConfigError extends Error {}

export function graphConfigFromEnv(nodeName: string, env: NodeJS.ProcessEnv): GraphConfig {
  const prefix = (env.FELIX_INTERFACEPREFIX ?? "cali").split(",")[0].trim() || "cali";
  const action = (env.FELIX_DEFAULTENDPOINTTOHOSTACTION ?? "ACCEPT").toUpperCase();
  if (!["ACCEPT", "DROP", "RETURN"].includes(action)) {
    throw new ConfigError(`FELIX_DEFAULTENDPOINTTOHOSTACTION must be ACCEPT, DROP or RETURN, not ${action}`);
  }
  return { nodeName, interfacePrefix: prefix, endpointToHostAction: action as EndpointToHostAction };
}
