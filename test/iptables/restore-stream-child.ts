// Child process for restore-stream-kernel.test.ts, run inside a throwaway
// namespace: ExecIptablesBackend.restoreParts streams a chain of 30,000 rules
// (several megabytes, in many small parts), then an input whose bad line sits
// in the middle, split over parts. Prints `RESULT {json}`. Does nothing unless
// FELIX_NETNS_CHILD=restore-stream (the test runner loads every file under test/).

import { spawnSync } from "node:child_process";
import { ExecIptablesBackend, RestoreError } from "../../iptables/backend.js";

async function main(mode: "legacy" | "nft"): Promise<void> {
  const b = new ExecIptablesBackend(4, mode);
  const parts = ["*filter\n:cali-big - [0:0]\n"];
  for (let i = 0; i < 30_000; i++) parts.push("-A cali-big ", `-s 10.${i >> 8}.${i & 255}.1/32 -j RETURN`, "\n");
  parts.push("COMMIT\n");
  await b.restoreParts(parts);
  const saved = spawnSync(`iptables-${mode}-save`, ["-t", "filter"], { encoding: "utf8", maxBuffer: 1 << 28 }).stdout;
  const rules = saved.split("\n").filter((l) => l.startsWith("-A cali-big ")).length;
  const bad = [
    "*filter\n:cali-bad - [0:0]\n-A cali-bad -s 10.0.0.1/32 ",
    "-j RETURN\n-A cali-bad -j ",
    "cali-nosuch",
    "\nCOMMIT\n",
  ];
  let error: { line?: number; text?: string; message: string } | undefined;
  try {
    await b.restoreParts(bad);
  } catch (e) {
    if (!(e instanceof RestoreError)) throw e;
    error = { line: e.lineNumber, text: e.line, message: e.message };
  }
  const after = spawnSync(`iptables-${mode}-save`, ["-t", "filter"], { encoding: "utf8", maxBuffer: 1 << 28 }).stdout;
  process.stdout.write(`RESULT ${JSON.stringify({ rules, error, badChain: after.includes(":cali-bad") })}\n`);
}

const mode = process.env.FELIX_NETNS_CHILD === "restore-stream" ? process.env.FXT_MODE : undefined;
if (mode === "legacy" || mode === "nft") await main(mode);
