// Regex DoS: mtuIfacePattern comes from FelixConfiguration (or FELIX_*) and is
// run by JavaScript's backtracking engine; patterns that can backtrack
// exponentially, or that RE2 (Felix's engine) would not accept, are refused.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { felixConfigurationToConfig, felixNetworkConfigFromEnv } from "../../../calc-graph/network/convert.js";
import { unsafeRegexReason } from "../../../calc-graph/network/safe-regex.js";
import { DEFAULT_MTU_IFACE_PATTERN } from "../../../ifaces/tunnel.js";

describe("mtuIfacePattern is linear-time or refused", () => {
  it("accepts Felix's default and ordinary patterns", () => {
    for (const p of [
      DEFAULT_MTU_IFACE_PATTERN,
      "^eth[0-9]+$",
      "^(eth|ens)\\d*",
      "^en.{2,5}$",
      "^br-[a-f0-9]{12}$",
      "(?:eth|bond)0",
    ]) {
      assert.equal(unsafeRegexReason(p), undefined, p);
    }
  });

  it("refuses nested repetition, repeated alternation, backreferences, lookaround, huge counts and length", () => {
    const refused: [string, RegExp][] = [
      ["^(a+)+$", /repeated group/],
      ["^((a*)*)*$", /repeated group/],
      ["^(a|aa)*$", /repeated group/],
      ["^(?:e|et)+h$", /repeated group/],
      ["(x+x+){2,}y", /repeated group/],
      ["^(eth)\\1$", /backreferences/],
      ["^(?<n>a)\\k<n>$", /backreferences/],
      ["^eth(?=0)", /lookaround/],
      ["^(?<!x)eth", /lookaround/],
      ["a{100000}", /count over 1000/],
      ["e".repeat(300), /longer than 256/],
      ["(", /Invalid regular expression/],
    ];
    for (const [p, why] of refused) assert.match(unsafeRegexReason(p) ?? "(accepted)", why, p);
  });

  it("a FelixConfiguration or FELIX_MTUIFACEPATTERN with such a pattern is refused with the reason", () => {
    assert.throws(
      () => felixConfigurationToConfig({ metadata: { name: "default" }, spec: { mtuIfacePattern: "^(e+)+$" } }),
      /FelixConfiguration spec.mtuIfacePattern is refused as a regular expression: a repeated group/,
    );
    assert.throws(
      () => felixNetworkConfigFromEnv({ FELIX_MTUIFACEPATTERN: "^(?=e)" }),
      /FELIX_MTUIFACEPATTERN .*lookaround/,
    );
    assert.equal(felixNetworkConfigFromEnv({ FELIX_MTUIFACEPATTERN: "^eth0$" }).mtuIfacePattern, "^eth0$");
  });
});
