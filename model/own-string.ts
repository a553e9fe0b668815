// A string that holds no other string alive.
//
// V8 keeps a substring of 13 characters or more (`slice`, `split`, a regex
// group) as a view of its whole parent: one such view kept from a parsed
// text keeps all of the text.

/** V8 copies shorter substrings instead of making a view (SlicedString::kMinLength). */
export const MIN_VIEW = 13;

/** The string, or (when it may be a view) its internalized copy: flat, shared by every equal one. */
export function ownString(s: string): string {
  return s.length < MIN_VIEW ? s : internalized(s);
}

/**
 * A scratch object in dictionary mode (V8 switches an object to it after a
 * few deletes): storing a name there internalizes it without a new hidden
 * class per name, ~3× cheaper than an object literal's computed key (1.3 µs).
 * No prototype: "__proto__" is a plain key here.
 */
const scratch: Record<string, number> = Object.create(null);
for (let i = 0; i < 64; i++) scratch[`k${i}`] = 0;
for (let i = 0; i < 64; i++) delete scratch[`k${i}`];

/**
 * V8's one copy of the string (its string table, which holds strings weakly),
 * shared with every equal string internalized, whatever its length: ~0.5 µs.
 */
export function internalized(s: string): string {
  scratch[s] = 0;
  let own = s;
  for (const k in scratch) own = k;
  delete scratch[s];
  return own;
}
