// Not a test file: see pass-fixture.ts.
import { registerFixture } from "./pass-fixture.js";

registerFixture(import.meta.url);
