// `felix demo` end to end: the real CLI builds its namespace cluster, runs the
// real felix in every node namespace and measures with real connections. Each
// shipped scenario must print its expected matrix and leave nothing behind.
//
// A demo refuses to start beside another demo's namespaces, and "leaves
// nothing" looks at every demo namespace and process of the machine: the file
// holds a machine-wide lock (runs of it in other modes wait), and runs beside
// the other e2e files, which make no demo objects.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { compareMatrices, parseMatrix } from "../../src/demo/matrix.js";
import { EXPECTED_FILE, listScenarios, resolveScenario } from "../../src/demo/scenario.js";
import { isRoot, requirementsMissing, which } from "../../src/netns/topology.js";
import { machineLock } from "../helpers/machine-lock.js";
import { skipIf } from "../helpers/skip.js";
import "./dataplane-mode.js"; // FELIX_TEST_DATAPLANE: the agents' policy dataplane

const FELIX = resolve(dirname(fileURLToPath(import.meta.url)), "../../src/cli/felix.js");
const skip = requirementsMissing();

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `killWhen` is polled every 50 ms and sends `killWith` (default SIGKILL) once true. */
function felix(
  args: string[],
  o: { uid?: number; killWhen?: () => boolean; killWith?: NodeJS.Signals } = {},
): Promise<Run & { killed: boolean }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [FELIX, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "" },
      ...(o.uid !== undefined ? { uid: o.uid, gid: o.uid } : {}),
    });
    let stdout = "";
    let stderr = "";
    let killed = false;
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setInterval(() => {
      if (o.killWhen && !killed && o.killWhen()) {
        killed = true;
        child.kill(o.killWith ?? "SIGKILL");
      }
    }, 50);
    child.on("close", (code, signal) => {
      clearInterval(timer);
      res({ code, signal, stdout, stderr, killed });
    });
  });
}

/** What a demo may leave: namespaces, temp directories, processes (felix agents, pod servers). */
function traces(): string[] {
  const ns = (() => {
    try {
      return readdirSync("/run/netns").filter((n) => /^demo[0-9a-f]{4}-/.test(n));
    } catch {
      return [];
    }
  })();
  const dirs = readdirSync(tmpdir()).filter((n) => n.startsWith("felix-demo-"));
  let owners: string[] = [];
  try {
    owners = readdirSync("/run/felix-ts-e2e").filter((n) => /^demo[0-9a-f]{4}$/.test(n));
  } catch {}
  const procs: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.includes("/felix-demo-demo") || /pod-server\.py --name \S+ .*demo/.test(cmd))
        procs.push(`${pid}: ${cmd}`);
    } catch {}
  }
  return [
    ...ns.map((n) => `netns ${n}`),
    ...dirs.map((d) => `dir ${d}`),
    ...owners.map((o) => `owner file /run/felix-ts-e2e/${o}`),
    ...procs.map((p) => `process ${p}`),
  ];
}

let unlock: (() => Promise<void>) | undefined;
before(async () => {
  if (isRoot()) unlock = await machineLock("demo");
});
after(async () => {
  await unlock?.();
});

describe("felix demo", skipIf(skip), () => {
  for (const name of listScenarios()) {
    // Placement must not change the verdicts: one scenario runs on three nodes instead of two.
    const extra = name === "three-tier" ? ["--nodes", "3"] : [];
    test(`scenario ${[name, ...extra].join(" ")}: --once prints the expected matrix, explains every X, leaves nothing`, async () => {
      const expected = readFileSync(join(resolveScenario(name), EXPECTED_FILE), "utf8");
      const r = await felix(["demo", "--scenario", name, "--once", ...extra]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes("\x1b["), "no colour when stdout is not a terminal");
      const diff = compareMatrices(expected, r.stdout);
      assert.deepEqual(diff, [], `measured:\n${r.stdout}`);
      const blocked = [...parseMatrix(r.stdout)].filter(([, c]) => c !== ".").length;
      const reasons = r.stdout.split("\n").filter((l) => / ← .*: denied by .* \((ingress|egress) of /.test(l));
      assert.equal(reasons.length, blocked, r.stdout);
      assert.deepEqual(traces(), []);
    });
  }

  test("SIGKILLed mid-run: the next demo refuses and names --cleanup, which removes everything", async () => {
    // The temp directory appears once the pods are up, before the agents have programmed anything.
    const killed = await felix(["demo", "--once"], { killWhen: () => traces().some((t) => t.startsWith("dir ")) });
    assert.ok(killed.killed && killed.signal === "SIGKILL", `not killed: ${killed.stderr}`);
    assert.notDeepEqual(traces(), []);
    const refused = await felix(["demo", "--once"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /an earlier demo was left behind/);
    assert.match(refused.stderr, /felix demo --cleanup/);
    const cleaned = await felix(["demo", "--cleanup"]);
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.match(cleaned.stdout, /^removed \d+ network namespaces/);
    assert.deepEqual(traces(), []);
    assert.equal((await felix(["demo", "--cleanup"])).stdout, "nothing to clean up\n");
  });

  test("--keep leaves the programmed namespaces for inspection; --cleanup removes them", async () => {
    const kept = await felix(["demo", "--once", "--keep", "--scenario", "egress-cidr"]);
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stdout, /kept for inspection/);
    const ns = traces()
      .filter((t) => t.startsWith("netns "))
      .map((t) => t.slice(6));
    const node1 = ns.find((n) => n.endsWith("-n-node1"));
    assert.ok(node1, ns.join(" "));
    assert.deepEqual(
      traces().filter((t) => t.startsWith("process")),
      [],
    );
    const cleaned = await felix(["demo", "--cleanup"]);
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.deepEqual(traces(), []);
  });

  test("SIGTERM during a run tears everything down", async () => {
    const r = await felix(["demo", "--once"], {
      killWhen: () => traces().some((t) => t.startsWith("dir ")),
      killWith: "SIGTERM",
    });
    assert.ok(r.killed, "the demo ended before it could be stopped");
    assert.equal(r.code, 143, r.stderr);
    assert.deepEqual(traces(), []);
  });
});

/**
 * A copy of a shipped scenario and the demo on it in a terminal (script(1)
 * gives it a TTY on stdin and stdout, as a user's shell would).
 */
function demoOnTerminal(scenario: string) {
  const dir = mkdtempSync(join(tmpdir(), "demo-scenario-"));
  cpSync(resolveScenario(scenario), dir, { recursive: true });
  const child = spawn("script", ["-qfc", `${process.execPath} ${FELIX} demo --scenario ${dir}`, "/dev/null"], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  let done = false;
  const exited = new Promise<number | null>((r) =>
    child.on("close", (code) => {
      done = true;
      r(code);
    }),
  );
  return {
    dir,
    output: () => out,
    /** Waits (up to 30 s) until the output matches. */
    until: async (re: RegExp, what: string) => {
      for (let i = 0; i < 600 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(out, re, `${what}; output so far:\n${out}`);
    },
    /** Presses q; the demo must exit 0 and leave nothing behind. */
    quit: async () => {
      child.stdin.write("q");
      assert.equal(await exited, 0, out);
      assert.deepEqual(traces(), []);
    },
    /** After a failed step: asks the demo to quit, then ends script(1) (its pty hangs up on the demo), so the file never hangs. */
    remove: async () => {
      if (!done) {
        child.stdin.write("q");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (!done) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const terminalSkip = skip ?? (which("script") ? undefined : "needs script(1) for a terminal");

describe("felix demo on a terminal", skipIf(terminalSkip), () => {
  test("an edited policy file is re-measured and reprinted; q tears everything down", async () => {
    const demo = demoOnTerminal("default-deny");
    try {
      await demo.until(/watching .*q quit/, "the first matrix");
      assert.match(demo.output(), /backend\/api ← frontend\/web udp\/80: denied/);
      assert.doesNotMatch(demo.output(), /backend\/api ← frontend\/web tcp\/80/);
      // Drop allow-frontend: frontend/web → backend/api on tcp/80 becomes blocked.
      const file = join(demo.dir, "policies.yaml");
      writeFileSync(file, readFileSync(file, "utf8").split("---")[0]!);
      await demo.until(
        /re-measured[\s\S]*backend\/api ← frontend\/web tcp\/80: denied by backend\/knp.default.default-deny/,
        "the re-measured matrix",
      );
      await demo.quit();
    } finally {
      await demo.remove();
    }
  });

  test("an edited Service selector regenerates its EndpointSlices: the ~ cell becomes .", async () => {
    const demo = demoOnTerminal("services");
    try {
      const svcCell = (text: string) => parseMatrix(text.replace(/\r/g, "")).get("tcp/8080 ops/debug svc:app/api");
      await demo.until(/watching .*q quit/, "the first matrix");
      assert.equal(svcCell(demo.output()), "~", demo.output());
      // Only api-1 behind the Service: ops/debug, allowed to reach api-1, now always gets through.
      const file = join(demo.dir, "service.yaml");
      writeFileSync(file, readFileSync(file, "utf8").replace("selector: {app: api}", "selector: {pod: api-1}"));
      await demo.until(
        /re-measured[\s\S]*svc:app\/api = ClusterIP 10\.96\.0\.10:80\/tcp → app\/api-1 on/,
        "the new slices",
      );
      const out = demo.output();
      const after = out.slice(out.lastIndexOf("re-measured"));
      assert.equal(svcCell(after.slice(after.indexOf("\n"))), ".", after);
      await demo.quit();
    } finally {
      await demo.remove();
    }
  });
});

describe("felix demo without root", skipIf(process.platform !== "linux" && "needs Linux"), () => {
  test("says it needs root and exits 1", async () => {
    const r = await felix(["demo", "--once"], isRoot() ? { uid: 65534 } : {});
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "felix: needs root to create network namespaces: run with sudo\n");
    assert.deepEqual(traces(), []);
  });

  test("bad flags and unknown scenarios exit 2", async () => {
    const r = await felix(["demo", "--scenario", "no-such-scenario"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no scenario "no-such-scenario".*default-deny/);
    assert.equal((await felix(["demo", "--nodes", "x"])).code, 2);
  });
});
