// The fakes refuse what the kernel refuses: every scenario runs against the
// fake kernel (always) and, as root, against the real ipset and
// iptables-restore (legacy and nft) in a throwaway namespace; each step's
// outcome must be the one the scenario records for both, and the fake must
// end in the same state as the real kernel.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { skipIf } from "../helpers/skip.js";
import { createNetns, deleteNetns, netnsSkipReason } from "../routes/netns.js";
import { fakeKernel, realKernel, SCENARIOS, type Scenario, type ScenarioKernel } from "./kernel-scenarios.js";

const missing = ["ipset", "iptables-legacy-restore", "iptables-nft-restore"].find(
  (t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0,
);
const skip = netnsSkipReason() ?? (missing && `needs ${missing}`);

async function outcomes(k: ScenarioKernel, s: Scenario): Promise<boolean[]> {
  const out: boolean[] = [];
  for (const step of s.steps) out.push(await k.apply(step));
  return out;
}

describe("the fake kernel refuses what the kernel refuses", () => {
  for (const s of SCENARIOS) {
    test(`fake: ${s.name}`, async () => {
      assert.deepEqual(
        await outcomes(fakeKernel("legacy"), s),
        s.steps.map((st) => st.ok),
      );
    });
  }
});

for (const mode of ["legacy", "nft"] as const) {
  describe(`fake and real ${mode} tools agree`, () => {
    for (const s of SCENARIOS) {
      test(`real ${mode}: ${s.name}`, skipIf(skip), async () => {
        const ns = createNetns("fxfake");
        try {
          const real = realKernel(ns, mode);
          const fake = fakeKernel(mode);
          assert.deepEqual(
            await outcomes(real, s),
            s.steps.map((st) => st.ok),
            "the real tools",
          );
          await outcomes(fake, s);
          assert.deepEqual(await fake.state(), await real.state());
        } finally {
          deleteNetns(ns);
        }
      });
    }
  });
}
