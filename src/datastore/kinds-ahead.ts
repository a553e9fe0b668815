// Which manifest files may wait (the file datastore's `ahead`): those that
// provably hold no document of the kinds read ahead, told from the text alone,
// no parse. Every other file (JSON, flow style, a List, one of the kinds, any
// line we do not recognise) is read ahead: the files left after the mark
// cannot hold one of those kinds, so what the consumer computes from them at
// the mark (src/nat-first.ts: the nat table) is what the whole batch gives.
//
// The proof: a YAML file whose every line at column 0 is a document marker, a
// comment or a plain `key:` of the document's root mapping, and whose every
// document with content has exactly one `kind: <Word>` line there, naming
// another kind. A document's root key `kind` is then that line (a root key of
// a block mapping at column 0 is a line at column 0; flow style, quoted or
// complex keys, directives and tags at column 0 fail the check), and a second
// `kind:` line (say inside a multi-line scalar) fails it too.

/** A column-0 line that cannot hide a root key: a marker (nothing after it), a comment, a plain key. */
const SAFE_LINE = /^(?:(?:---|\.\.\.)[ \t]*(?:#.*)?|#.*|[A-Za-z_][A-Za-z0-9_./-]*:(?:[ \t].*)?)$/;
const KIND_LINE = /^kind:[ \t]*(["']?)([A-Za-z0-9]+)\1[ \t]*(?:#.*)?$/;

/** Whether the file `path` with `text` provably holds no document of `kinds` (nor a List, which could). */
export function holdsNoneOfKinds(path: string, text: string, kinds: ReadonlySet<string>): boolean {
  if (!/\.ya?ml$/i.test(path)) return false;
  let kindLines = 0;
  let content = false;
  // A document is done right: one kind line, or nothing in it at all (before a leading `---`, say).
  const done = () => kindLines === 1 || (kindLines === 0 && !content);
  for (let at = 0; at < text.length; ) {
    let end = text.indexOf("\n", at);
    if (end === -1) end = text.length;
    const c = text[at];
    if (c === " ") {
      // Indented: content unless blank or a comment (looked at only while the document has none yet).
      if (!content) {
        let i = at;
        while (i < end && text[i] === " ") i++;
        content = i < end && text[i] !== "#" && text[i] !== "\r";
      }
    } else if (at < end && !(c === "\r" && end === at + 1)) {
      const line = text.slice(at, text[end - 1] === "\r" ? end - 1 : end);
      if (!SAFE_LINE.test(line)) return false;
      if (c === "-" || c === ".") {
        if (!done()) return false;
        kindLines = 0;
        content = false;
      } else if (c !== "#") {
        content = true;
        if (c === "k" && line.startsWith("kind:")) {
          const m = KIND_LINE.exec(line);
          if (!m || kinds.has(m[2]) || m[2].endsWith("List")) return false;
          kindLines++;
        }
      }
    }
    at = end + 1;
  }
  return done();
}
