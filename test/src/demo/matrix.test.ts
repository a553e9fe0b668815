import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareMatrices, formatMatrix, parseMatrix, type Reachability, useColour } from "../../../src/demo/matrix.js";

const M: Reachability = {
  clients: ["x/a", "frontend/web"],
  servers: ["x/a", "frontend/web"],
  ports: [
    { protocol: "tcp", port: 80 },
    { protocol: "udp", port: 53 },
  ],
  connected: (c, s, p) => c === s || (p.protocol === "tcp" && s === "frontend/web"),
};

describe("demo matrix", () => {
  it("prints one block per port: servers as columns, a row per client, . and X under each server", () => {
    assert.equal(
      formatMatrix(M),
      [
        "tcp/80        x/a  frontend/web",
        "x/a            .        .",
        "frontend/web   X        .",
        "",
        "udp/53        x/a  frontend/web",
        "x/a            .        X",
        "frontend/web   X        .",
        "",
      ].join("\n"),
    );
  });

  it("colours . green and X red only when asked, and reads back the same cells", () => {
    const plain = formatMatrix(M);
    const coloured = formatMatrix(M, { colour: true });
    assert.ok(!plain.includes("\x1b["));
    assert.ok(coloured.includes("\x1b[32m.\x1b[0m"));
    assert.ok(coloured.includes("\x1b[1;31mX\x1b[0m"));
    assert.deepEqual(parseMatrix(coloured), parseMatrix(plain));
    const cells = parseMatrix(plain);
    assert.equal(cells.size, 8);
    assert.equal(cells.get("tcp/80 frontend/web x/a"), "X");
    assert.equal(cells.get("udp/53 frontend/web frontend/web"), ".");
  });

  it("colour follows the terminal and NO_COLOR", () => {
    assert.equal(useColour({ isTTY: true }, {}), true);
    assert.equal(useColour({ isTTY: true }, { NO_COLOR: "1" }), false);
    assert.equal(useColour({ isTTY: false }, {}), false);
    assert.equal(useColour({}, {}), false);
  });

  it("comparison names every differing, missing or extra cell and ignores spacing", () => {
    const expected = formatMatrix(M);
    assert.deepEqual(compareMatrices(expected, expected.replace(/ {2}/g, "\t")), []);
    const flipped = formatMatrix({
      ...M,
      connected: (c, s, p) => !(c === "x/a" && s === "frontend/web") && M.connected(c, s, p),
    });
    assert.deepEqual(compareMatrices(expected, flipped), [
      "tcp/80 x/a frontend/web: expected connected, measured blocked",
    ]);
    const fewer = formatMatrix({ ...M, ports: [M.ports[0]!] });
    assert.equal(compareMatrices(expected, fewer).length, 4);
    assert.match(compareMatrices(fewer, expected)[0]!, /not in the expected matrix/);
  });

  it("service columns follow the pods in their block only, with . X and ~ cells (~ in yellow), and read back", () => {
    const withSvc: Reachability = {
      ...M,
      services: [
        { label: "svc:x/api", block: { protocol: "tcp", port: 80 }, cell: (c) => (c === "x/a" ? "~" : ".") },
        { label: "svc:x/dns", block: { protocol: "udp", port: 53 }, cell: () => "X" },
      ],
    };
    const text = formatMatrix(withSvc);
    assert.equal(
      text,
      [
        "tcp/80        x/a  frontend/web  svc:x/api",
        "x/a            .        .            ~",
        "frontend/web   X        .            .",
        "",
        "udp/53        x/a  frontend/web  svc:x/dns",
        "x/a            .        X            X",
        "frontend/web   X        .            X",
        "",
      ].join("\n"),
    );
    assert.ok(formatMatrix(withSvc, { colour: true }).includes("\x1b[1;33m~\x1b[0m"));
    const cells = parseMatrix(text);
    assert.equal(cells.get("tcp/80 x/a svc:x/api"), "~");
    assert.equal(cells.get("udp/53 frontend/web svc:x/dns"), "X");
    assert.equal(cells.has("udp/53 x/a svc:x/api"), false);
    const allDots = formatMatrix({ ...withSvc, services: [{ ...withSvc.services![0]!, cell: () => "." }] });
    assert.deepEqual(compareMatrices(allDots, text), [
      "tcp/80 x/a svc:x/api: expected connected, measured partly connected",
      "udp/53 x/a svc:x/dns: not in the expected matrix",
      "udp/53 frontend/web svc:x/dns: not in the expected matrix",
    ]);
  });

  it("rejects a row without one cell per server", () => {
    assert.throws(() => parseMatrix("tcp/80 a b\na . X .\n"), /one \. or X per server/);
  });
});
