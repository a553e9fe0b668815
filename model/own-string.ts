// A string that holds no other string alive.
//
// V8 keeps a substring of 13 characters or more (`slice`, `split`, a regex
// group) as a view of its whole parent: one such view kept from a parsed
// text keeps all of the text.

/** V8 copies shorter substrings instead of making a view (SlicedString::kMinLength). */
export const MIN_VIEW = 13;

/**
 * The string as a property name: V8 internalizes it, a flat copy shared by
 * every equal name (a namespace or label key repeated across objects is then
 * held once). A computed key is an own property, "__proto__" included.
 */
export function ownString(s: string): string {
  if (s.length < MIN_VIEW) return s;
  for (const k in { [s]: 0 }) return k;
  return s;
}
