// Reading a snapshot part through an immer draft makes proxies for what is
// read (and iterating a draft Set copies it). Comparisons read the plain
// object the draft stands for instead.

import { type Draft, isDraft, original } from "immer";

/** The plain object behind a draft value read from a draft; other values as they are. */
export function plain<T>(value: T): T {
  return value !== null && value !== undefined && isDraft(value) ? (original(value as Draft<T>) as T) : value;
}
