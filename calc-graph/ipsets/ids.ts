// IP set ids and kernel names. Ids hash the canonical selector text, so a set
// keeps its name across restarts and agents agree on it.

import { hash } from "node:crypto";
import type { IpVersion, Protocol } from "../model.js";
import { type Selector, selectorText } from "../selector/selector.js";

/** ipset's name limit (IPSET_MAXNAMELEN 32, with the NUL). */
export const MAX_IPSET_NAME_LENGTH = 31;

function uniqueId(prefix: string, text: string): string {
  return `${prefix}:${hash("sha224", text, "base64url")}`;
}

export type IpSetSpec =
  | { readonly id: string; readonly kind: "selector"; readonly selector: Selector }
  | {
      readonly id: string;
      readonly kind: "named-port";
      readonly selector: Selector;
      readonly protocol: Protocol;
      readonly port: string;
    };

export function selectorSet(selector: Selector): IpSetSpec {
  return { id: uniqueId("s", selectorText(selector)), kind: "selector", selector };
}

export function namedPortSet(selector: Selector, protocol: Protocol, port: string): IpSetSpec {
  const id = uniqueId("n", `${selectorText(selector)},${protocol},${port}`);
  return { id, kind: "named-port", selector, protocol, port };
}

/** `cali40<id>` / `cali60<id>`, cut to 31 characters. */
export function ipSetName(id: string, version: IpVersion): string {
  return `cali${version}0${id}`.slice(0, MAX_IPSET_NAME_LENGTH);
}

export function ipSetType(spec: IpSetSpec): "hash:net" | "hash:ip,port" {
  return spec.kind === "selector" ? "hash:net" : "hash:ip,port";
}
