// IP set ids and names: stable across releases (agents and restarts must agree,
// so the names are pinned here), distinct for distinct selectors, ports and
// protocols, within ipset's 31 characters, and typed by kind.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import {
  ipSetName,
  ipSetType,
  MAX_IPSET_NAME_LENGTH,
  namedPortSet,
  selectorSet,
} from "../../../calc-graph/ipsets/ids.js";
import { parseSelector } from "../../../calc-graph/selector/parse.js";
import { selectorText } from "../../../calc-graph/selector/selector.js";

const web = parseSelector('app == "web"');

test("ids: pinned names for a selector set and a named-port set", () => {
  const s = selectorSet(web);
  assert.equal(s.id, "s:aw9xkEWfn5bYxP8OdpmaoIl4wS0aC2XLQthDIg");
  assert.equal(s.id, `s:${createHash("sha224").update(selectorText(web)).digest("base64url")}`);
  assert.equal(ipSetName(s.id, 4), "cali40s:aw9xkEWfn5bYxP8OdpmaoIl");
  assert.equal(ipSetName(s.id, 6), "cali60s:aw9xkEWfn5bYxP8OdpmaoIl");
  const n = namedPortSet(web, "tcp", "http");
  assert.equal(n.id, "n:1yoAG0R7QRw_fQ6ji3fQSlMeHm1gXjj1Xbi4cw");
  assert.equal(ipSetName(n.id, 4), "cali40n:1yoAG0R7QRw_fQ6ji3fQSlM");
  assert.deepEqual(n, { id: n.id, kind: "named-port", selector: web, protocol: "tcp", port: "http" });
  assert.deepEqual([s.kind, s.selector], ["selector", web]);
});

test("ids: distinct selectors, ports and protocols give distinct names, all within 31 characters", () => {
  const specs = [
    selectorSet(web),
    selectorSet(parseSelector('app == "db"')),
    selectorSet(parseSelector("all()")),
    namedPortSet(web, "tcp", "http"),
    namedPortSet(web, "udp", "http"),
    namedPortSet(web, "tcp", "dns"),
    namedPortSet(parseSelector('app == "db"'), "tcp", "http"),
  ];
  const names = specs.flatMap((s) => [ipSetName(s.id, 4), ipSetName(s.id, 6)]);
  assert.equal(new Set(names).size, names.length);
  for (const n of names) assert.equal(n.length, MAX_IPSET_NAME_LENGTH);
  assert.equal(MAX_IPSET_NAME_LENGTH, 31);
  assert.equal(ipSetName("short", 4), "cali40short");
});

test("ids: a selector set is hash:net, a named-port set hash:ip,port", () => {
  assert.equal(ipSetType(selectorSet(web)), "hash:net");
  assert.equal(ipSetType(namedPortSet(web, "tcp", "http")), "hash:ip,port");
});
