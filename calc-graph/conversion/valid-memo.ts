// A memo of strings a pure check found valid: label keys and values, node and
// namespace names repeat across thousands of objects. Bounded by count and by
// characters, and generational: when the young generation fills, it becomes
// the old one and the previous old one is dropped; an old string checked again
// moves back to the young one. Unique strings a tenant churns through (pod
// names, label values) therefore age out instead of staying for the agent's
// life or filling the memo for good, and repeated ones stay memoized.

/** Strings per generation: more than the distinct label keys and values of a large cluster's hot set. */
export const MEMO_ENTRIES = 10_000;
/** Characters per generation: 10,000 strings of 26 on average; at most 2 x 256K characters held per memo. */
export const MEMO_CHARS = 256 * 1024;

export class ValidMemo {
  private young = new Set<string>();
  private old = new Set<string>();
  private youngChars = 0;

  constructor(
    private readonly test: (s: string) => boolean,
    private readonly maxEntries = MEMO_ENTRIES,
    private readonly maxChars = MEMO_CHARS,
  ) {}

  has(s: string): boolean {
    if (this.young.has(s)) return true;
    if (!this.old.has(s) && !this.test(s)) return false;
    this.remember(s);
    return true;
  }

  /** Strings held (both generations), and their characters: what the bound applies to. */
  get size(): { entries: number; chars: number } {
    let chars = this.youngChars;
    for (const s of this.old) chars += s.length;
    return { entries: this.young.size + this.old.size, chars };
  }

  private remember(s: string): void {
    if (this.young.size >= this.maxEntries || this.youngChars + s.length > this.maxChars) {
      this.old = this.young;
      this.young = new Set();
      this.youngChars = 0;
    }
    if (s.length > this.maxChars) return; // never memoized (a check re-runs it)
    this.young.add(s);
    this.youngChars += s.length;
  }
}
