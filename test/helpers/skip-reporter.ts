// A node:test reporter that prints, after the run, everything that did not run
// and why: skipped tests and whole skipped suites (node's own "skipped" count
// leaves suites out, and a skipped suite's tests are never registered), and
// todo tests. Under FELIX_TEST_STRICT=1 any of them fails the run.
//
// Used next to the spec reporter by `npm test` (test/run.ts); see
// test/helpers/skip.ts for how tests skip.

import { relative } from "node:path";

interface Event {
  type: string;
  data?: {
    name?: string;
    file?: string;
    skip?: string | boolean;
    todo?: string | boolean;
    details?: { type?: string };
  };
}

interface NotRun {
  kind: "test" | "suite";
  name: string;
  file: string;
  reason: string;
}

const reasonOf = (v: string | boolean | undefined): string => (typeof v === "string" && v ? v : "(no reason given)");

export default async function* skipReporter(source: AsyncIterable<Event>): AsyncGenerator<string> {
  const skips: NotRun[] = [];
  const todos: NotRun[] = [];
  for await (const ev of source) {
    if (ev.type !== "test:pass" && ev.type !== "test:fail") continue;
    const d = ev.data ?? {};
    const entry = (v: string | boolean | undefined): NotRun => ({
      kind: d.details?.type === "suite" ? "suite" : "test",
      name: d.name ?? "?",
      file: d.file ? relative(process.cwd(), d.file) : "?",
      reason: reasonOf(v),
    });
    if (d.skip !== undefined && d.skip !== false) skips.push(entry(d.skip));
    else if (d.todo !== undefined && d.todo !== false) todos.push(entry(d.todo));
  }
  yield summary(skips, todos, process.env.FELIX_TEST_STRICT === "1");
  if (process.env.FELIX_TEST_STRICT === "1" && skips.length + todos.length > 0) process.exitCode = 1;
}

/** The printed summary. */
function summary(skips: readonly NotRun[], todos: readonly NotRun[], strict: boolean): string {
  const suites = skips.filter((s) => s.kind === "suite").length;
  const lines = [
    "",
    `skip summary: ${skips.length} skipped (${plural(skips.length - suites, "test")}, ` +
      `${plural(suites, "whole suite")} whose tests were not registered), ${todos.length} todo`,
  ];
  for (const [label, list] of [
    ["skipped", skips],
    ["todo", todos],
  ] as const) {
    for (const [reason, byFile] of group(list)) {
      const n = [...byFile.values()].reduce((a, b) => a + b.length, 0);
      lines.push(`  ${label} ${n} × ${reason}`);
      for (const [file, names] of byFile) lines.push(...wrap(`    ${file}: `, names));
    }
  }
  if (strict && skips.length + todos.length > 0) {
    lines.push(`FELIX_TEST_STRICT=1: ${skips.length + todos.length} tests or suites did not run fully: the run fails`);
  }
  return `${lines.join("\n")}\n`;
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

/** `head` and the names joined by "; ", wrapped at 120 columns under the first name. */
function wrap(head: string, names: readonly string[]): string[] {
  const out: string[] = [];
  let line = head;
  for (const [i, n] of names.entries()) {
    const piece = i < names.length - 1 ? `${n};` : n;
    if (line.length > head.length && line.length + 1 + piece.length > 120) {
      out.push(line);
      line = `${" ".repeat(head.length)}${piece}`;
    } else line += line.length > head.length ? ` ${piece}` : piece;
  }
  out.push(line);
  return out;
}

/** reason → file → names (suites marked), in first-seen order. */
function group(list: readonly NotRun[]): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  for (const s of list) {
    const byFile = out.get(s.reason) ?? new Map<string, string[]>();
    out.set(s.reason, byFile);
    const names = byFile.get(s.file) ?? [];
    byFile.set(s.file, names);
    names.push(s.kind === "suite" ? `suite "${s.name}"` : s.name);
  }
  return out;
}
