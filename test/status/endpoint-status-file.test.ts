import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { EndpointStatus } from "../../status/endpoint-status.js";
import {
  DEFAULT_ENDPOINT_STATUS_PATH,
  EndpointStatusFile,
  endpointStatusConfigFromEnv,
  writeFileAtomic,
} from "../../status/endpoint-status-file.js";

const up = (workload: string): EndpointStatus => ({
  workload,
  iface: `cali${workload.length}`,
  status: "up",
  reason: "programmed",
  since: "2026-01-01T00:00:00.000Z",
});

describe("EndpointStatusFile", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "felix-ts-epstatus-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("creates the directory and writes every status as one JSON object keyed by workload", async () => {
    const path = join(dir, "a", "b", "status.json");
    const f = new EndpointStatusFile(path);
    assert.equal(
      await f.write([up("prod/web"), { ...up("dev/db"), status: "down", reason: "interface cali6 not present" }]),
      true,
    );
    const content = JSON.parse(await readFile(path, "utf8"));
    assert.deepEqual(Object.keys(content.endpoints), ["dev/db", "prod/web"]);
    assert.deepEqual(content.endpoints["prod/web"], {
      workload: "prod/web",
      iface: "cali8",
      status: "up",
      reason: "programmed",
      since: "2026-01-01T00:00:00.000Z",
    });
    assert.equal(content.endpoints["dev/db"].status, "down");
    assert.equal((await stat(path)).mode & 0o777, 0o644);
    assert.deepEqual(await readdir(join(dir, "a", "b")), ["status.json"], "no temp file left behind");
  });

  test("writes only when the content changed; the first write replaces an old file", async () => {
    const path = join(dir, "dedupe.json");
    await writeFile(path, "stale from a previous run");
    const f = new EndpointStatusFile(path);
    assert.equal(await f.write([]), true);
    assert.deepEqual(JSON.parse(await readFile(path, "utf8")), { endpoints: {} });
    assert.equal(await f.write([]), false);
    assert.equal(await f.write([up("prod/web")]), true);
    assert.equal(await f.write([up("prod/web")]), false);
    assert.equal(f.writes, 2);
  });

  test("concurrent writes run in order and the last one wins", async () => {
    const path = join(dir, "concurrent.json");
    const f = new EndpointStatusFile(path);
    const results = await Promise.all([
      f.write([up("a/1")]),
      f.write([up("a/1"), up("a/2")]),
      f.write([up("a/1"), up("a/2")]),
      f.write([up("a/3")]),
    ]);
    assert.deepEqual(results, [true, true, false, true]);
    assert.deepEqual(Object.keys(JSON.parse(await readFile(path, "utf8")).endpoints), ["a/3"]);
  });

  test("the replacement is atomic: a new inode renamed over the old file", async () => {
    const path = join(dir, "atomic.json");
    const f = new EndpointStatusFile(path);
    await f.write([up("a/1")]);
    const before = await stat(path);
    await f.write([up("a/2")]);
    const afterStat = await stat(path);
    assert.notEqual(afterStat.ino, before.ino, "renamed into place, not rewritten in place");
  });

  test("an I/O error rejects, leaves no temp file, and the next write retries", async () => {
    const blocker = join(dir, "not-a-dir");
    await writeFile(blocker, "");
    const f = new EndpointStatusFile(join(blocker, "status.json"));
    await assert.rejects(f.write([up("a/1")]), /ENOTDIR|EEXIST/);
    await assert.rejects(f.write([up("a/1")]), /ENOTDIR|EEXIST/, "retried, not deduplicated");

    const dir2 = join(dir, "retry");
    const path = join(dir2, "s.json");
    await writeFileAtomic(path, "x");
    assert.equal(await readFile(path, "utf8"), "x");
    assert.deepEqual(await readdir(dir2), ["s.json"]);
  });
});

describe("endpointStatusConfigFromEnv", () => {
  test("default /var/run/calico/felix-ts-endpoint-status.json", () => {
    assert.equal(DEFAULT_ENDPOINT_STATUS_PATH, "/var/run/calico/felix-ts-endpoint-status.json");
    assert.deepEqual(endpointStatusConfigFromEnv({}), { path: DEFAULT_ENDPOINT_STATUS_PATH });
  });

  test("FELIX_ENDPOINTSTATUSPATHPREFIX sets the directory; it must be absolute", () => {
    assert.deepEqual(endpointStatusConfigFromEnv({ FELIX_ENDPOINTSTATUSPATHPREFIX: "/run/felix-ts" }), {
      path: "/run/felix-ts/felix-ts-endpoint-status.json",
    });
    assert.throws(
      () => endpointStatusConfigFromEnv({ FELIX_ENDPOINTSTATUSPATHPREFIX: "run/calico" }),
      /FELIX_ENDPOINTSTATUSPATHPREFIX must be an absolute path, not "run\/calico"/,
    );
  });
});
