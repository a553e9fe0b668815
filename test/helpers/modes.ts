// The dataplane modes a kernel e2e file runs in (test/run.ts). One run of the
// suite is in the mode that FELIX_TEST_DATAPLANE / FELIX_TEST_PROXYMODE select
// (test/e2e/dataplane-mode.ts; iptables by default). FELIX_TEST_MODES=all (what
// .ci/run sets) adds, in the same run and the same machine pass, every e2e file
// that the mode reaches (it imports dataplane-mode, itself or through a helper)
// again in nftables mode, and the services suites (they read TEST_PROXYMODE)
// once more in kube-proxy's nftables layout. A file
// whose agents pick their mode themselves says so with ONE_MODE_MARK.
//
// node:test starts each file's process with the runner's environment, so a
// file runs in another mode through a wrapper module that sets the variable
// and then imports it; the wrappers live in a temporary directory. node names
// a test's file by where the test is defined (the wrapped file), so a wrapper
// first announces its mode on stdout, which node tags with the wrapper's path;
// node reports each file's events together, in the order of the files, so the
// events that follow, of the wrapped file, are that mode's (`relabel`).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { testModules } from "./file-kind.js";

export const ONE_MODE_MARK = "test-runner: one dataplane mode";
const ANNOUNCE = "felix-test-mode:";

/** The extra modes and the variables each sets (dataplane-mode.ts reads them when imported). */
export const EXTRA_MODES = {
  nftables: { FELIX_TEST_DATAPLANE: "nftables" },
  "proxy-nftables": { FELIX_TEST_PROXYMODE: "nftables" },
} as const;
export type ExtraMode = keyof typeof EXTRA_MODES;

/** The extra modes a compiled test file runs in under FELIX_TEST_MODES=all. */
export function extraModes(file: string, testRoot: string): ExtraMode[] {
  if (!relative(testRoot, file).startsWith(`e2e${sep}`)) return [];
  let own = "";
  let reached = false;
  for (const [path, text] of testModules(file, testRoot)) {
    if (path === file) own = text ?? "";
    if (path === join(testRoot, "e2e", "dataplane-mode.js")) reached = true;
  }
  if (!reached || own.includes(ONE_MODE_MARK)) return [];
  return /\bTEST_PROXYMODE\b/.test(own) ? ["nftables", "proxy-nftables"] : ["nftables"];
}

/** Wrapper modules, one per (file, mode), and the label each is reported under. */
export class ModeWrappers {
  private dir: string | undefined;
  /** Wrapper path → the wrapped file's path with the mode, e.g. ".../e2e/pools.test.js [nftables]". */
  readonly labels = new Map<string, string>();
  private readonly sources = new Map<string, string>();

  constructor(private readonly testRoot: string) {}

  /** A module that sets the mode's variables, then imports `file`. */
  wrap(file: string, mode: ExtraMode): string {
    this.dir ??= mkdtempSync(join(tmpdir(), "felix-test-modes-"));
    const path = join(this.dir, mode, relative(this.testRoot, file).replace(/\.js$/, ".mjs"));
    mkdirSync(dirname(path), { recursive: true });
    const sets = Object.entries(EXTRA_MODES[mode]).map(([k, v]) => `process.env.${k} = ${JSON.stringify(v)};\n`);
    const announce = `process.stdout.write(${JSON.stringify(`${ANNOUNCE}${mode}\n`)});\n`;
    writeFileSync(path, `${announce}${sets.join("")}await import(${JSON.stringify(pathToFileURL(file).href)});\n`);
    this.labels.set(path, `${file} [${mode}]`);
    this.sources.set(path, file);
    return path;
  }

  private current: { file: string; mode: string } | undefined;

  /**
   * Marks a reported event with its mode: a wrapped file's events get the file's label and their
   * top-level names the mode. False for a wrapper's announcement (not to be reported).
   */
  relabel(ev: { type: string; data?: { file?: string; name?: string; nesting?: number; message?: string } }): boolean {
    const d = ev.data;
    if (d?.file === undefined) return true;
    const source = this.sources.get(d.file);
    if (source !== undefined && ev.type === "test:stdout" && d.message?.startsWith(ANNOUNCE)) {
      this.current = { file: source, mode: d.message.slice(ANNOUNCE.length).trim() };
      return false;
    }
    if (source !== undefined)
      d.file = this.labels.get(d.file); // the wrapper's own events (a crash, output)
    else if (d.file === this.current?.file) {
      d.file = `${d.file} [${this.current.mode}]`;
      if (d.nesting === 0 && d.name !== undefined) d.name = `${d.name} [${this.current.mode}]`;
    } else this.current = undefined;
    return true;
  }

  remove(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
