import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Tracer } from "../../iptables/tracer.js";
import { tokenize, UnsupportedRule } from "../../iptables/tracer-rule.js";

const env = { localAddresses: ["172.18.0.1"], ipsets: { pods: ["10.65.0.0/16"] } };
const pkt = { src: "10.65.1.2", dst: "10.96.0.1", dport: 80, protocol: "tcp" as const };

describe("tracer", () => {
  test("tokenize honours quotes and escapes", () => {
    assert.deepEqual(tokenize('-m comment --comment "a b \\"c\\"" -j X'), [
      "-m",
      "comment",
      "--comment",
      'a b "c"',
      "-j",
      "X",
    ]);
  });

  test("addresses, negation, protocol, ports, sets: the first matching rule wins", () => {
    const t = new Tracer(
      {
        chains: {
          START: [
            "-d 10.96.0.2/32 -p tcp -m tcp --dport 80 -j DROP",
            "-d 10.96.0.1/32 -p udp -j DROP",
            "! -s 10.65.1.2/32 -j DROP",
            "-m set ! --match-set pods src -j DROP",
            '-d 10.96.0.1/32 -p tcp -m comment --comment "hit" -m tcp --dport 80 -j DNAT --to-destination 10.65.2.2:8080',
          ],
        },
      },
      env,
    );
    const [o] = t.trace("START", pkt);
    assert.equal(o.verdict, "dnat");
    assert.deepEqual(o.dnat, { ip: "10.65.2.2", port: 8080 });
    assert.deepEqual(o.path, ["START#5"]);
    assert.deepEqual(o.comments, ["hit"]);
  });

  test("a probabilistic jump branches into every endpoint, weighted; jumps return, gotos do not", () => {
    const t = new Tracer(
      {
        chains: {
          START: ["-j SVC", "-j DROP"],
          SVC: [
            "-m statistic --mode random --probability 0.33333333349 -j A",
            "-m statistic --mode random --probability 0.50000000000 -g B",
            "-j C",
          ],
          A: ["-p tcp -j DNAT --to-destination 10.0.0.1:1"],
          B: ["-s 1.1.1.1/32 -j ACCEPT"],
          C: ["-p tcp -j DNAT --to-destination [fd00::1]:3"],
        },
      },
      env,
    );
    const out = t.trace("START", pkt);
    const byVerdict = out.map((o) => `${o.verdict} ${o.dnat?.ip ?? ""} ${o.probability.toFixed(3)}`);
    // B falls through: a goto returns past SVC's caller's jump, so START goes on to its DROP.
    assert.deepEqual(byVerdict.sort(), ["dnat 10.0.0.1 0.333", "dnat fd00::1 0.333", "drop  0.333"]);
    assert.ok(Math.abs(out.reduce((a, o) => a + o.probability, 0) - 1) < 1e-9);
  });

  test("marks are set and matched; recent --rcheck branches; addrtype LOCAL", () => {
    const t = new Tracer(
      {
        chains: {
          START: [
            "-m addrtype --dst-type LOCAL -j MARK --set-xmark 0x200000/0x200000",
            "-m recent --rcheck --seconds 10 --reap --name S --mask 255.255.255.255 --rsource -j ACCEPT",
            "-m mark --mark 0x200000/0x200000 -j MASQUERADE",
            "-m mark ! --mark 0x200000/0x200000 -j DROP",
          ],
        },
      },
      env,
    );
    const local = t.trace("START", { ...pkt, dst: "172.18.0.1" });
    assert.deepEqual(local.map((o) => o.verdict).sort(), ["accept", "masquerade"]);
    assert.match(local.find((o) => o.verdict === "accept")!.conditions[0], /affinity entry in S/);
    const remote = t.trace("START", pkt);
    assert.deepEqual(remote.map((o) => o.verdict).sort(), ["accept", "drop"]);
  });

  test("an unknown match is reported, not guessed", () => {
    const t = new Tracer({ chains: { START: ["-m owner --uid-owner 0 -j DROP"] } }, env);
    assert.throws(() => t.trace("START", pkt), UnsupportedRule);
  });
});
