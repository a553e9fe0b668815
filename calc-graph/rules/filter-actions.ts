// How the filter table lets packets go and refuses them
// (iptablesFilterAllowAction, iptablesFilterDenyAction), as Felix renders
// them: REJECT is the kernel's default ICMP port-unreachable, written the
// way iptables-save prints it back for each family; and the mark bits that
// carry verdicts between chains (iptablesMarkMask).

import { type Action, Actions } from "../../model/rule.js";
import type { RuleSettings } from "../config/settings.js";
import type { IpVersion } from "../model.js";
import { allocateMarks, DEFAULT_MARKS, type Marks } from "./marks.js";

export interface FilterActions {
  readonly allow: "ACCEPT" | "RETURN";
  readonly deny: "DROP" | "REJECT";
  readonly marks: Marks;
  /** NFLOG group the drop paths copy dropped packets to first (drop-log.ts); undefined: off. */
  readonly dropNflogGroup?: number;
}

export const DEFAULT_FILTER_ACTIONS: FilterActions = { allow: "ACCEPT", deny: "DROP", marks: DEFAULT_MARKS };

/** The action of a rule that refuses a packet in the filter table. */
export function denyAction(a: FilterActions, v: IpVersion): Action {
  return a.deny === "DROP" ? Actions.drop : Actions.reject(v);
}

/** The action of a rule that lets a packet go (ACCEPT, or RETURN so later rules see it). */
export function allowAction(a: FilterActions): Action {
  return Actions.verdict(a.allow);
}

/** The actions and marks of the settings in force. */
export function filterActionsOf(s: RuleSettings): FilterActions {
  return {
    allow: s.filterAllowAction,
    deny: s.filterDenyAction,
    marks: allocateMarks(s.markMask),
    ...(s.dropNflogGroup ? { dropNflogGroup: s.dropNflogGroup } : {}),
  };
}
