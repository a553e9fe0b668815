import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { kernelProbabilityText, kubeProxyProbability, probabilityText } from "../../iptables/statistic.js";

test("1/n renders as iptables-save prints it back (values read from a real kernel)", () => {
  assert.equal(kubeProxyProbability(3), "0.3333333333");
  assert.equal(probabilityText(3), "0.33333333349");
  assert.equal(probabilityText(2), "0.50000000000");
  assert.equal(probabilityText(10), "0.10000000009");
  assert.equal(kernelProbabilityText(0x80000000), "1.00000000000");
});

test("the printed probability is within the kernel's resolution of 1/n", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100000 }), (n) => {
      const p = Number(probabilityText(n));
      assert.ok(Math.abs(p - 1 / n) < 1e-9, `${n}: ${p}`);
    }),
  );
});
