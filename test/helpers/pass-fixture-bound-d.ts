// Not a test file: test/helpers/passes.test.ts runs it with pass-fixture-bound-c.js
// through test/run.ts. Machine-bound (it starts a process), and passes only
// when the runner runs it at the same time as the other (see pass-fixture.ts).
import { execFileSync } from "node:child_process";
import { registerFixture } from "./pass-fixture.js";

execFileSync(process.execPath, ["-e", "0"]);
registerFixture(import.meta.url);
