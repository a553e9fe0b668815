// Parsing of the FELIX_* variables the status servers and files read, with
// errors that name the variable and the bad value (ConfigError: the CLI maps
// it to exit code 2 like every other configuration error).

import { isIP } from "node:net";
import { isAbsolute } from "node:path";
import { ConfigError } from "../src/config.js";

export { ConfigError };

const unset = (v: string | undefined): v is undefined => v === undefined || v.trim() === "";

/** Felix's booleans: true/false (also 1/0, yes/no, on/off), case-insensitive. */
export function envBool(env: NodeJS.ProcessEnv, name: string, dflt: boolean): boolean {
  const v = env[name];
  if (unset(v)) return dflt;
  if (/^(true|1|yes|on)$/i.test(v.trim())) return true;
  if (/^(false|0|no|off)$/i.test(v.trim())) return false;
  throw new ConfigError(`${name} must be true or false, not ${JSON.stringify(v)}`);
}

/** A TCP port, 0–65535 (0: any free port). */
export function envPort(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name];
  if (unset(v)) return dflt;
  const s = v.trim();
  const n = Number(s);
  if (!/^\d+$/.test(s) || n > 65535) {
    throw new ConfigError(`${name} must be a port number between 0 and 65535, not ${JSON.stringify(v)}`);
  }
  return n;
}

/** A host name or IP address to listen on (no port). */
export function envHost(env: NodeJS.ProcessEnv, name: string, dflt: string): string {
  const v = env[name];
  if (v === undefined) return dflt;
  const s = v.trim();
  if (s === "") return dflt;
  // Bracketed IPv6 ("[::1]") is accepted as Felix's Go net.JoinHostPort users write it.
  const host = s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : s;
  if (/[\s/@]/.test(host) || (host.includes(":") && isIP(host) !== 6)) {
    throw new ConfigError(`${name} must be a host name or IP address (without a port), not ${JSON.stringify(v)}`);
  }
  return host;
}

/** An absolute directory path. */
export function envDir(env: NodeJS.ProcessEnv, name: string, dflt: string): string {
  const v = env[name];
  if (unset(v)) return dflt;
  const s = v.trim();
  if (!isAbsolute(s)) throw new ConfigError(`${name} must be an absolute path, not ${JSON.stringify(v)}`);
  return s;
}
