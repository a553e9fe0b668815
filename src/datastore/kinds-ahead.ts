// Which manifest files to parse first (the file datastore's `ahead`): a look
// at a file's text, no parse. A block-YAML file whose every top-level
// `kind:` line names one of the kinds asked for is read ahead; any other file
// (JSON, flow style, a List, another kind anywhere, no `kind:` line) after.
// Only the order of the work depends on it: each file is still parsed whole
// by the one parser, and what a document becomes is its parsed kind, so a
// file that merely looks like services (a `kind: Service` line inside a block
// scalar, say) is read early and nothing more.

/** A `kind:` line at the start of a line: a top-level document's kind in block style. */
const KIND_LINE = /^kind:[ \t]*(["']?)([A-Za-z0-9]*)\1[ \t]*(?:#.*)?$/gm;

/** Whether `text` (the file `path`) looks like it holds documents of `kinds` alone. */
export function holdsOnlyKinds(path: string, text: string, kinds: ReadonlySet<string>): boolean {
  if (!/\.ya?ml$/i.test(path)) return false;
  let matched = 0;
  for (const m of text.matchAll(KIND_LINE)) {
    if (!kinds.has(m[2])) return false;
    matched++;
  }
  // Every line that starts with `kind:` matched (none spelt another way we would have to guess at).
  let starts = text.startsWith("kind:") ? 1 : 0;
  for (let at = text.indexOf("\nkind:"); at !== -1; at = text.indexOf("\nkind:", at + 1)) starts++;
  return matched > 0 && matched === starts;
}
