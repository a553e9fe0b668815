// User-supplied regular expressions (mtuIfacePattern) run in JavaScript's
// backtracking engine, where `(a+)+$` or `((a*)*)*` take exponential time.
// Felix compiles them with Go's RE2 (linear time). Rather than ship a second
// engine, we refuse the constructs that make backtracking blow up and keep
// what RE2 also accepts: no backreferences or lookaround (RE2 has neither), no
// unbounded or counted repetition of a group that itself repeats or
// alternates, no counts over 1000, at most 256 characters. Felix's default
// `^((en|wl|ww|sl|ib)[Pcopsvx].*|(eth|wlan|wwan).*)` passes.

const MAX_LENGTH = 256;
const MAX_COUNT = 1000;

/** Why `pattern` is refused, or undefined when it compiles and matches in linear time. */
export function unsafeRegexReason(pattern: string): string | undefined {
  if (pattern.length > MAX_LENGTH) return `longer than ${MAX_LENGTH} characters`;
  try {
    new RegExp(pattern);
  } catch (e) {
    return (e as Error).message;
  }
  // One frame per open group: does it (so far) repeat or alternate inside?
  const groups: { risky: boolean }[] = [{ risky: false }];
  let lastGroupRisky = false; // the atom just closed was a group with repetition/alternation inside
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    const top = groups[groups.length - 1];
    let closedRisky = false;
    if (c === "\\") {
      const n = pattern[i + 1] ?? "";
      if (/[1-9]/.test(n) || n === "k") return "backreferences are not supported (RE2 semantics)";
      i++;
    } else if (c === "[") {
      // A character class: skip to its unescaped end.
      for (i++; i < pattern.length && pattern[i] !== "]"; i++) if (pattern[i] === "\\") i++;
    } else if (c === "(") {
      if (/^\?(=|!|<=|<!)/.test(pattern.slice(i + 1, i + 4))) return "lookaround is not supported (RE2 semantics)";
      groups.push({ risky: false });
    } else if (c === ")") {
      const g = groups.pop()!;
      closedRisky = g.risky;
      if (g.risky) groups[groups.length - 1].risky = true;
    } else if (c === "|") {
      top.risky = true;
    } else if (c === "*" || c === "+" || c === "{") {
      if (c === "{") {
        const m = /^\{(\d*)(,?)(\d*)\}/.exec(pattern.slice(i));
        if (!m) continue; // a literal brace
        if (Number(m[1] || 0) > MAX_COUNT || Number(m[3] || 0) > MAX_COUNT) return `a count over ${MAX_COUNT}`;
        i += m[0].length - 1;
      }
      if (lastGroupRisky) return "a repeated group that itself repeats or alternates (exponential backtracking)";
      top.risky = true;
    }
    // `?` (at most once, or lazy after a quantifier) is bounded: no check.
    lastGroupRisky = closedRisky;
  }
  return undefined;
}
