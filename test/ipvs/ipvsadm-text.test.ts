import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  formatIpvsadmList,
  formatIpvsadmSave,
  IpvsadmParseError,
  parseHostPort,
  parseIpvsadmList,
  parseIpvsadmSave,
} from "../../ipvs/ipvsadm-text.js";
import { LIST_TEXT, SAVE_TEXT } from "./ipvsadm-fixtures.js";

const withoutFwmark = (text: string) =>
  text
    .split("\n")
    .filter((l) => !/ -f 100 /.test(l))
    .join("\n");

describe("ipvsadm text", () => {
  test("parses -S -n: protocols, IPv6 brackets, persistence, weights, masq; skips fwmark services", () => {
    const t = parseIpvsadmSave(SAVE_TEXT);
    assert.deepEqual(
      [...t.keys()],
      [
        "tcp:10.96.0.1:443",
        "tcp:10.96.0.10:53",
        "tcp:10.96.0.20:80",
        "tcp:192.168.1.10:30080",
        "udp:10.96.0.10:53",
        "sctp:10.96.0.30:9999",
        "tcp:[fd00::1]:80",
      ],
    );
    assert.deepEqual(t.get("tcp:10.96.0.20:80")!.service, {
      protocol: "tcp",
      address: "10.96.0.20",
      port: 80,
      scheduler: "rr",
      persistenceTimeout: 10800,
    });
    assert.equal(t.get("sctp:10.96.0.30:9999")!.service.scheduler, "sh");
    assert.deepEqual(t.get("tcp:10.96.0.10:53")!.realServers, [
      { address: "10.244.0.2", port: 53, weight: 1, forward: "masq" },
      { address: "10.244.0.3", port: 53, weight: 0, forward: "masq" },
    ]);
    assert.deepEqual(t.get("tcp:[fd00::1]:80")!.realServers, [
      { address: "fd00:10:244::5", port: 8080, weight: 1, forward: "masq" },
    ]);
  });

  test("parses -L -n with the same table and the connection counters", () => {
    const list = parseIpvsadmList(LIST_TEXT);
    const save = parseIpvsadmSave(SAVE_TEXT);
    assert.deepEqual([...list.keys()], [...save.keys()]);
    for (const [k, e] of save) {
      assert.deepEqual(list.get(k)!.service, e.service, k);
      const plain = list.get(k)!.realServers.map(({ activeConns: _a, inactiveConns: _i, ...r }) => r);
      assert.deepEqual(plain, e.realServers, k);
    }
    const rs = list.get("tcp:10.96.0.1:443")!.realServers[1];
    assert.deepEqual([rs.activeConns, rs.inactiveConns], [2, 5]);
    assert.equal(list.get("udp:10.96.0.10:53")!.realServers[0].inactiveConns, 12);
  });

  test("formats -S -n and -L -n exactly as ipvsadm prints them (fwmark services aside)", () => {
    assert.equal(formatIpvsadmSave(parseIpvsadmSave(SAVE_TEXT)), withoutFwmark(SAVE_TEXT));
    const listNoFwm = LIST_TEXT.split("\n")
      .filter((l) => !l.startsWith("FWM") && !l.includes("10.9.9.9:0"))
      .join("\n");
    assert.equal(formatIpvsadmList(parseIpvsadmList(LIST_TEXT)), listNoFwm);
  });

  test("an empty table lists the three header lines only", () => {
    assert.equal(formatIpvsadmList(new Map()), LIST_TEXT.split("\n").slice(0, 3).join("\n").concat("\n"));
    assert.equal(formatIpvsadmSave(new Map()), "");
    assert.equal(parseIpvsadmSave("").size, 0);
  });

  test("keeps options it does not program (netmask, pe, ops) so they compare and round-trip", () => {
    const t = parseIpvsadmSave("-A -t 10.0.0.1:80 -s wrr -p 60 -M 255.255.255.0 pe sip\n");
    assert.deepEqual(t.get("tcp:10.0.0.1:80")!.service, {
      protocol: "tcp",
      address: "10.0.0.1",
      port: 80,
      scheduler: "wrr",
      persistenceTimeout: 60,
      extra: "-M 255.255.255.0 pe sip",
    });
    assert.equal(formatIpvsadmSave(t), "-A -t 10.0.0.1:80 -s wrr -p 60 -M 255.255.255.0 pe sip\n");
    const l = parseIpvsadmList("TCP  10.0.0.1:80 wrr persistent 60 mask 255.255.255.0 pe sip\n");
    assert.deepEqual(l.get("tcp:10.0.0.1:80")!.service, t.get("tcp:10.0.0.1:80")!.service);
  });

  test("rejects malformed text with the line", () => {
    assert.throws(() => parseIpvsadmSave("-A -t 10.0.0.1 -s rr\n"), IpvsadmParseError);
    assert.throws(() => parseIpvsadmSave("-a -t 10.0.0.1:80 -r 10.1.1.1:80 -m -w 1\n"), /before its virtual service/);
    assert.throws(() => parseIpvsadmSave("-X foo\n"), /line 1/);
    assert.throws(() => parseIpvsadmList("TCP  10.0.0.1:80 rr\n  -> 10.1.1.1:80 Masq x 0 0\n"), /bad real server/);
  });

  test("host:port: canonical IPv6, brackets required for IPv6, port range", () => {
    assert.deepEqual(parseHostPort("[FD00:0::01]:80"), { address: "fd00::1", port: 80 });
    assert.equal(parseHostPort("fd00::1:80"), undefined);
    assert.equal(parseHostPort("10.0.0.1:70000"), undefined);
  });
});
