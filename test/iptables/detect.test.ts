// The iptables backend choice (Felix's feature detection) from injected
// iptables-save outputs: no kernel, no root.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { IptablesMode } from "../../iptables/backend.js";
import { chooseBackend, detectBackend, type SaveOf, StartSaves } from "../../iptables/detect.js";

type Outputs = Partial<Record<`${4 | 6}-${IptablesMode}${"" | "-mangle"}`, string>>;

/** iptables-save as the injected outputs say; a key left out is a missing tool. */
function saves(o: Outputs): SaveOf & { calls: string[] } {
  const calls: string[] = [];
  const f = async (family: 4 | 6, mode: IptablesMode, table?: string) => {
    calls.push(`${family}-${mode}${table ? `-${table}` : ""}`);
    const key = `${family}-${mode}${table === "mangle" ? "-mangle" : ""}` as keyof Outputs;
    // A whole-table save includes mangle's hints too.
    return o[key] ?? (table ? undefined : o[`${family}-${mode}-mangle` as keyof Outputs]);
  };
  return Object.assign(f, { calls });
}

const rules = (n: number, chain = "INPUT") =>
  `*filter\n:${chain} ACCEPT [0:0]\n${Array.from({ length: n }, (_, i) => `-A ${chain} -s 10.0.0.${i} -j ACCEPT`).join("\n")}\nCOMMIT\n`;
const hint = "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n";
const canary = "*mangle\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n";

describe("iptables backend detection", () => {
  test("kube-proxy's hint chain decides, even against more rules in the other backend", async () => {
    assert.equal(await detectBackend(saves({ "4-nft-mangle": hint, "4-legacy": rules(50), "4-nft": rules(1) })), "nft");
    assert.equal(
      await detectBackend(saves({ "6-legacy-mangle": canary, "4-nft": rules(50), "4-legacy": "" })),
      "legacy",
    );
  });

  test("without hints the backend holding more rules wins; a tie goes to legacy", async () => {
    assert.equal(await detectBackend(saves({ "4-legacy": rules(2), "4-nft": rules(3) })), "nft");
    assert.equal(
      await detectBackend(saves({ "4-legacy": rules(3), "6-legacy": rules(1), "4-nft": rules(3) })),
      "legacy",
    );
    assert.equal(await detectBackend(saves({ "4-legacy": rules(2), "4-nft": rules(2) })), "legacy");
    assert.equal(await detectBackend(saves({ "4-legacy": rules(0), "4-nft": rules(0) })), "legacy");
  });

  test("each iptables-save runs at most once per detection (agent start-up runs it)", async () => {
    const s = saves({ "4-nft": rules(0) });
    assert.equal(await detectBackend(s), "nft");
    assert.deepEqual(s.calls, [
      "4-nft-mangle",
      "6-nft-mangle",
      "4-legacy-mangle",
      "6-legacy-mangle",
      "4-legacy",
      "6-legacy",
      "4-nft",
      "6-nft",
    ]);
  });

  test("the saves run four at a time (mangle, then whole), and the hint of the first backend in order still decides", async () => {
    let inFlight = 0;
    const peaks: number[] = [];
    const o: Outputs = { "4-nft": rules(9), "4-legacy": rules(1) };
    const s = saves(o);
    const slow: SaveOf = async (family, mode, table) => {
      peaks.push(++inFlight);
      // nft's own mangle answers last: a later backend's answer must not overtake it.
      for (let i = 0; i < (mode === "nft" && table ? 3 : 1); i++) await new Promise(setImmediate);
      inFlight--;
      return s(family, mode, table);
    };
    assert.equal(await detectBackend(slow), "nft");
    assert.deepEqual([Math.max(...peaks.slice(0, 4)), Math.max(...peaks.slice(4))], [4, 4]);
    o["4-nft-mangle"] = hint;
    o["6-legacy-mangle"] = canary;
    assert.equal(await detectBackend(slow), "nft", "4-nft's hint is read first though it answers last");
  });

  test("only the nft tools present: nft; no tools at all: legacy (preflight then says what is missing)", async () => {
    assert.equal(await detectBackend(saves({ "4-nft": rules(0) })), "nft");
    assert.equal(await detectBackend(saves({})), "legacy");
  });

  test("FELIX_IPTABLESBACKEND: legacy/nft in any case skip detection; auto detects; anything else is refused", async () => {
    const s = saves({ "4-nft": rules(5) });
    assert.equal(await chooseBackend("NFT", s), "nft");
    assert.equal(await chooseBackend("Legacy", s), "legacy");
    assert.deepEqual(s.calls, [], "an explicit setting runs no iptables-save");
    assert.equal(await chooseBackend(undefined, s), "nft");
    assert.equal(await chooseBackend("auto", s), "nft");
    await assert.rejects(
      chooseBackend("iptables", s),
      /FELIX_IPTABLESBACKEND must be auto, legacy or nft, not iptables/,
    );
  });
});

test("the start's saves run once each; a full save is handed over once, then the rest are forgotten", async () => {
  const s = saves({ "4-legacy": rules(2), "4-nft": rules(3) });
  const starts = new StartSaves(s);
  assert.equal(await chooseBackend(undefined, starts.save), "nft");
  const ran = s.calls.length;
  assert.equal(await detectBackend(starts.save), "nft");
  assert.equal(s.calls.length, ran, "a second detection runs nothing");
  assert.equal(await starts.take(4, "nft"), rules(3));
  assert.equal(starts.take(4, "nft"), undefined, "handed over once");
  assert.equal(await starts.take(6, "legacy"), undefined, "ran and failed: no text");
  starts.clear();
  assert.equal(starts.take(4, "legacy"), undefined);
});
