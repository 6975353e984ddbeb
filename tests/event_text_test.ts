// Events and event types as text: eventToJson / eventFromJson (the CLI's
// JSON lines) and parseEventType / formatEventType, both exact both ways.

import assert from "node:assert/strict";
import {
  type Event,
  eventFromJson,
  eventToJson,
  formatEventType,
  parseEventType,
} from "../mod.ts";
import { MAX_TIMESTAMP, MIN_TIMESTAMP } from "../common/event/timestamp.ts";
import * as m from "../common/eventer/mod.ts";
import { Reader } from "../common/sbs/mod.ts";
import { hexToBytes, loadVectors } from "./_vectors.ts";

const base: Event = {
  id: { server: 1, session: 2, instance: 3 },
  type: ["a", "b"],
  timestamp: { s: 1700000000, us: 5 },
  sourceTimestamp: null,
  payload: null,
};

function roundTrip(event: Event): void {
  for (const binaryEncoding of ["base64", "hex"] as const) {
    const text = eventToJson(event, { binaryEncoding });
    assert.deepEqual(eventFromJson(text), event, text);
  }
}

// Events exactly as the wire decoder makes them: frozen shared types,
// payload views, JSON payloads from the reference's text.
function vectorEvents(): Event[] | null {
  const entries = loadVectors<{ type: string; hex: string }>("eventer.json");
  if (!entries) return null;
  const events: Event[] = [];
  for (const e of entries) {
    const r = new Reader(hexToBytes(e.hex));
    if (e.type === "HatEventer.MsgEventsNotify") {
      events.push(...m.readEvents(r));
    }
    if (e.type === "HatEventer.MsgRegisterRes") {
      events.push(...m.readRegisterRes(r) ?? []);
    }
    if (e.type === "HatEventer.MsgQueryRes") {
      events.push(...m.readQueryResult(r).events);
    }
  }
  return events;
}

const vectors = vectorEvents();
Deno.test({
  name: vectors
    ? `eventFromJson(eventToJson(e)) is e for the ${vectors.length} events of eventer.json`
    : "eventToJson round trip of eventer.json (skipped: ../shared/vectors missing)",
  ignore: vectors === null,
  fn() {
    assert.ok(vectors!.length > 50);
    let binary = 0;
    let big = 0;
    for (const event of vectors!) {
      roundTrip(event);
      if (event.payload?.kind === "binary") binary++;
      if (typeof event.timestamp.s === "bigint") big++;
      // Every type of the vectors has a text form read back exactly.
      assert.deepEqual(parseEventType(formatEventType(event.type)), event.type);
    }
    assert.ok(binary > 0 && big > 0, "the vectors cover binary and 2^63");
  },
});

Deno.test("eventToJson is exact beyond 2^53 and reads back", () => {
  const event: Event = {
    ...base,
    timestamp: MAX_TIMESTAMP,
    sourceTimestamp: MIN_TIMESTAMP,
    payload: {
      kind: "json",
      data: {
        big: 12345678901234567890n,
        neg: -(2n ** 70n),
        list: [2n ** 53n, 1.5, -0, "é\ud800", null, true],
        // A computed key: an ordinary key, as JSON.parse makes it.
        ["__proto__"]: { x: 1 },
      },
    },
  };
  const text = eventToJson(event);
  assert.match(text, /"s":"9223372036854775807","us":999999/);
  assert.match(text, /"s":"-9223372036854775808","us":0/);
  assert.match(text, /"big":12345678901234567890,/);
  assert.match(text, /"neg":-1180591620717411303424,/);
  assert.match(text, /"list":\[9007199254740992,1.5,-0,/);
  assert.match(text, /"__proto__":\{"x":1\}/);
  const back = eventFromJson(text);
  assert.deepEqual(back, event);
  const list = (back.payload!.data as { list: unknown[] }).list;
  assert.ok(Object.is(list[2], -0));

  // Seconds written as exact JSON integers, or as strings within 2^53,
  // read back in canonical form.
  const withInts = text.replace('"9223372036854775807"', "9223372036854775807")
    .replace('"s":"-9223372036854775808"', '"s":-9223372036854775808');
  assert.deepEqual(eventFromJson(withInts), event);
  const small = eventToJson(base).replace('"s":1700000000', '"s":"1700000000"');
  assert.deepEqual(eventFromJson(small), base);

  // The CLI's format: key order, iso text with microseconds.
  assert.equal(
    eventToJson({
      ...base,
      payload: { kind: "binary", type: "t", data: new Uint8Array([0, 255]) },
    }),
    '{"id":{"server":1,"session":2,"instance":3},"type":["a","b"],' +
      '"timestamp":{"iso":"2023-11-14T22:13:20.000005Z","s":1700000000,"us":5},' +
      '"sourceTimestamp":null,"payload":{"kind":"binary","type":"t","base64":"AP8="}}',
  );
  assert.match(
    eventToJson({
      ...base,
      payload: { kind: "binary", type: "t", data: new Uint8Array([0, 255]) },
    }, { binaryEncoding: "hex" }),
    /"payload":\{"kind":"binary","type":"t","hex":"00ff"\}\}$/,
  );
});

Deno.test("eventToJson refuses what JSON would silently change", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  for (
    const data of [NaN, Infinity, [undefined], { f: () => 1 }, cyclic]
  ) {
    assert.throws(
      () =>
        eventToJson({
          ...base,
          // deno-lint-ignore no-explicit-any
          payload: { kind: "json", data: data as any },
        }),
      (e) => e instanceof TypeError && e.name === "JsonPayloadError",
    );
  }
  // A value seen twice but not a cycle is fine.
  const shared = { a: 1 };
  eventToJson({ ...base, payload: { kind: "json", data: [shared, shared] } });
});

Deno.test("eventFromJson accepts the optional parts left out", () => {
  const minimal =
    '{"id":{"server":1,"session":2,"instance":3},"type":["a","b"],' +
    '"timestamp":{"s":1700000000,"us":5}}';
  assert.deepEqual(eventFromJson(minimal), base);
  // A parsed value too (JSON.parse: exact within 2^53 only).
  assert.deepEqual(eventFromJson(JSON.parse(eventToJson(base))), base);
  // iso is not checked against s and us: they are the value.
  assert.deepEqual(
    eventFromJson(eventToJson(base).replace(/"iso":"[^"]*"/, '"iso":null')),
    base,
  );
  assert.deepEqual(
    eventFromJson(
      minimal.replace(
        /}$/,
        ',"payload":{"kind":"binary","type":"x","hex":"00FF"}}',
      ),
    ).payload,
    { kind: "binary", type: "x", data: new Uint8Array([0, 255]) },
  );
  assert.deepEqual(
    eventFromJson(
      minimal.replace(/}$/, ',"payload":{"kind":"json","data":null}}'),
    )
      .payload,
    { kind: "json", data: null },
  );
});

Deno.test("eventFromJson names the field it refuses", () => {
  const good = JSON.parse(eventToJson({
    ...base,
    sourceTimestamp: { s: 1, us: 0 },
    payload: { kind: "binary", type: "t", data: new Uint8Array([1]) },
  }));
  const cases: [(e: Record<string, unknown>) => unknown, RegExp][] = [
    [() => [], /^event must be an object, got an array$/],
    [(e) => ({ ...e, extra: 1 }), /^unknown field extra$/],
    [(e) => ({ ...e, id: undefined }), /^id must be an object, got nothing$/],
    [(e) => ({ ...e, id: { server: 1, session: 2 } }), /^id\.instance must be/],
    [
      (e) => ({ ...e, id: { server: 1.5, session: 2, instance: 3 } }),
      /^id\.server must be an integer .*, got 1\.5$/,
    ],
    [(e) => ({ ...e, type: "a/b" }), /^type must be an array, got "a\/b"$/],
    [(e) => ({ ...e, type: ["a", 1] }), /^type\[1\] must be a string, got 1$/],
    [(e) => ({ ...e, timestamp: null }), /^timestamp must be an object/],
    [
      (e) => ({ ...e, timestamp: { s: 1, us: 1e6 } }),
      /^timestamp\.us must be an integer in \[0, 1000000\), got 1000000$/,
    ],
    [
      (e) => ({ ...e, timestamp: { s: "1e3", us: 0 } }),
      /^timestamp\.s must be an integer or a decimal string, got "1e3"$/,
    ],
    [
      (e) => ({ ...e, timestamp: { s: "9223372036854775808", us: 0 } }),
      /^timestamp\.s must be in \[-2\^63, 2\^63 - 1\]/,
    ],
    [
      (e) => ({ ...e, timestamp: { s: 1, us: 0, iso: 5 } }),
      /^timestamp\.iso must be a string or null, got 5$/,
    ],
    [
      (e) => ({ ...e, timestamp: { s: 1, us: 0, ms: 5 } }),
      /^unknown field timestamp\.ms$/,
    ],
    [
      (e) => ({ ...e, sourceTimestamp: { s: 1.5, us: 0 } }),
      /^sourceTimestamp\.s must be an integer/,
    ],
    [
      (e) => ({ ...e, payload: { kind: "xml" } }),
      /^payload\.kind must be "json" or "binary", got "xml"$/,
    ],
    [
      (e) => ({ ...e, payload: { kind: "json" } }),
      /^payload\.data is missing$/,
    ],
    [
      (e) => ({ ...e, payload: { kind: "binary", type: 1, base64: "" } }),
      /^payload\.type must be a string, got 1$/,
    ],
    [
      (e) => ({ ...e, payload: { kind: "binary", type: "t" } }),
      /exactly one of payload\.base64 and payload\.hex/,
    ],
    [
      (e) => ({ ...e, payload: { kind: "binary", type: "t", hex: "0g" } }),
      /^payload\.hex must be a hex string, got "0g"$/,
    ],
    [
      (e) => ({ ...e, payload: { kind: "binary", type: "t", base64: "%" } }),
      /^payload\.base64 must be a base64 string, got "%"$/,
    ],
  ];
  for (const [change, message] of cases) {
    const value = change(structuredClone(good));
    assert.throws(
      () => eventFromJson(JSON.stringify(value)),
      (e) => e instanceof TypeError && message.test(e.message),
      `${JSON.stringify(value)} -> ${message}`,
    );
  }
  // Ids beyond 2^53 are refused, not rounded.
  assert.throws(
    () =>
      eventFromJson(
        eventToJson(base).replace('"server":1', '"server":9007199254740993'),
      ),
    /^TypeError: id\.server must be an integer .*, got 9007199254740993$/,
  );
  assert.throws(() => eventFromJson("{nope"), SyntaxError);
});

Deno.test("parseEventType and formatEventType", () => {
  const cases: [string, string[]][] = [
    ["a/b/c", ["a", "b", "c"]],
    ["a", ["a"]],
    ["", []],
    ["/", ["", ""]],
    ["a/", ["a", ""]],
    ["gateway/?/*", ["gateway", "?", "*"]],
    ["unit/m\\/s", ["unit", "m/s"]],
    ["c:\\\\x/y", ["c:\\x", "y"]],
    ["\\/", ["/"]],
    ["\\[x]/y", ["[x]", "y"]],
    ['[""]', [""]],
    ["é/\u{1F600}", ["é", "\u{1F600}"]],
  ];
  for (const [text, type] of cases) {
    assert.deepEqual(parseEventType(text), type, text);
    assert.equal(formatEventType(type), text, JSON.stringify(type));
  }
  // The JSON form is read, and written only for [""].
  assert.deepEqual(parseEventType('["a", "b/c"]'), ["a", "b/c"]);
  assert.deepEqual(parseEventType("[]"), []);
  assert.deepEqual(parseEventType("a/[b"), ["a", "[b"]);
  assert.equal(formatEventType(["a", "[b"]), "a/[b");
  for (const bad of ["a\\b", "a\\", "[1]", "[", '["a"', "{}x"]) {
    if (bad === "{}x") {
      assert.deepEqual(parseEventType(bad), ["{}x"]);
      continue;
    }
    assert.throws(() => parseEventType(bad), SyntaxError, bad);
  }
  assert.throws(() => parseEventType("a\\b"), /invalid escape "\\\\b"/);
  // Every type of up to three segments drawn from awkward ones
  // round-trips.
  const segments = ["", "a", "/", "\\", "[", "a/", "\\/", "[a", "//", "?", "*"];
  let types: string[][] = [[]];
  for (let depth = 0; depth < 3; depth++) {
    for (const type of types) {
      assert.deepEqual(parseEventType(formatEventType(type)), type);
    }
    types = types.flatMap((t) => segments.map((s) => [...t, s]));
  }
});
