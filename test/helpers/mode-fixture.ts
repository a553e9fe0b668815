// Not a test file: test/helpers/passes.test.ts runs it through a mode's wrapper
// (test/helpers/modes.ts); its test's name shows the variables it was run with.
import { test } from "node:test";

const v = (k: string) => `${k}=${process.env[k] ?? "(unset)"}`;
test(`mode fixture: ${v("FELIX_TEST_DATAPLANE")} ${v("FELIX_TEST_PROXYMODE")}`, () => {});
