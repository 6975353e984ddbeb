/**
 * JSON payloads kept as their text: the check of a text (isJsonText), the
 * payload (JsonTextPayload) and a server that keeps the texts it receives.
 */

import assert from "node:assert/strict";
import { connect, type Event, JsonTextPayload, listen } from "../mod.ts";
import { isJsonText, parseJsonText } from "../common/json/mod.ts";
import { JsonBytes, jsonBytesKind } from "../common/json/validate_bytes.ts";
import { Reader, Writer } from "../common/sbs/mod.ts";
import {
  readOptPayload,
  readOptPayloadKeepingText,
  writeOptPayload,
} from "../common/eventer/mod.ts";
import { Rng } from "./_rng.ts";

const VALID = [
  "0",
  "-0",
  "-0.0",
  "1e5",
  "1E+05",
  "1.5e-3",
  " true ",
  "false",
  "null",
  '""',
  '"a\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\ude00"',
  '"é日本"',
  "[]",
  "{}",
  "[ ]",
  "{ }",
  '{"10": 1, "2": 2, "x": 2.0, "u": "\\u00e9"}',
  '[1, [2, [3, {"a": [{}]}]], "x"]',
  "\t\n\r 1 \t\n\r",
  "1e308",
  "123456789012345678901234567890",
  "1e-400",
  "9".repeat(400),
  "-" + "9".repeat(400),
  "[" + "[".repeat(2000) + "]".repeat(2000) + "]",
];

const INVALID = [
  "",
  " ",
  "01",
  "-",
  "1.",
  ".5",
  "1e",
  "1e+",
  "+1",
  "0x10",
  "NaN",
  "Infinity",
  "1e999",
  "-1e400",
  "9".repeat(400) + ".5",
  "9".repeat(400) + "e0",
  "tru",
  "nul",
  "True",
  '"a',
  '"\\x"',
  '"\\u12"',
  '"\\u12g4"',
  '"a\nb"',
  '"\t"',
  "[1,]",
  "[,1]",
  "[1 2]",
  '{"a" 1}',
  '{"a": 1,}',
  "{a: 1}",
  "{'a': 1}",
  '{"a": 1}}',
  "[1]]",
  "[[1]",
  "1 2",
  "{} {}",
  "\ufeff1",
  "\u00a01",
];

// `n` texts made from VALID ones by one to three random insertions,
// deletions or replacements of characters.
function* mutations(seed: number, n: number): Generator<string> {
  const rng = new Rng(seed);
  const random = () => rng.float();
  const alphabet = ' \t{}[]":,.-+eE0129aztrufnl\\/"é';
  for (let i = 0; i < n; i++) {
    const base = VALID[Math.floor(random() * (VALID.length - 1))];
    const chars = [...base];
    const edits = 1 + Math.floor(random() * 3);
    for (let j = 0; j < edits; j++) {
      const at = Math.floor(random() * (chars.length + 1));
      const c = alphabet[Math.floor(random() * alphabet.length)];
      const op = random();
      if (op < 0.4) chars.splice(at, 0, c);
      else if (op < 0.7) chars.splice(at, 1);
      else chars.splice(at, 1, c);
    }
    const t = chars.join("");
    yield t;
  }
}

Deno.test("isJsonText accepts what parseJsonText accepts, and nothing else", () => {
  const parses = (t: string) => {
    try {
      parseJsonText(t);
      return true;
    } catch {
      return false;
    }
  };
  for (const t of VALID) {
    assert.ok(parses(t), `parses ${t.slice(0, 40)}`);
    assert.ok(isJsonText(t), `valid ${t.slice(0, 40)}`);
  }
  for (const t of INVALID) {
    assert.ok(!parses(t), `does not parse ${t}`);
    assert.ok(!isJsonText(t), `invalid ${JSON.stringify(t)}`);
  }
  // Random mutations of valid texts: both agree on each.
  for (const t of mutations(7, 5_000)) {
    assert.equal(isJsonText(t), parses(t), JSON.stringify(t));
  }
});

// jsonBytesKind of `text`'s UTF-8 bytes, between bytes that would make
// it valid, or invalid, when read past its ends.
function bytesKind(text: string): number {
  const bytes = new TextEncoder().encode(text);
  const kinds = ["]} 1", '"', "["].map((pad) => {
    const padded = new TextEncoder().encode(pad + text + pad);
    const start = padded.length - bytes.length - pad.length;
    return jsonBytesKind(padded, start, start + bytes.length);
  });
  assert.ok(kinds.every((k) => k === kinds[0]), JSON.stringify(text));
  return kinds[0];
}

Deno.test("jsonBytesKind never says yes where isJsonText says no, and says it for common payloads", () => {
  const agrees = (t: string) => {
    const kind = bytesKind(t);
    if (kind !== JsonBytes.undecided) {
      assert.ok(isJsonText(t), `bytes valid, text not: ${JSON.stringify(t)}`);
      // deno-lint-ignore no-control-regex
      const ascii = /^[\x00-\x7f]*$/.test(t);
      assert.equal(kind, ascii ? JsonBytes.ascii : JsonBytes.utf8, t);
    }
    return kind;
  };
  for (const t of INVALID) {
    assert.equal(agrees(t), JsonBytes.undecided, JSON.stringify(t));
  }
  // All of VALID is decided but the texts left to isJsonText: too deep,
  // an exponent of 3 digits or more.
  const left = VALID.filter((t) => agrees(t) === JsonBytes.undecided);
  assert.deepEqual(left.map((t) => t.slice(0, 8)), [
    "1e308",
    "1e-400",
    "[[[[[[[[",
  ]);
  assert.equal(bytesKind("1.5e99"), JsonBytes.ascii);
  assert.equal(bytesKind("1" + "0".repeat(15) + ".5"), JsonBytes.undecided);
  assert.equal(bytesKind("[".repeat(31) + "]".repeat(31)), JsonBytes.ascii);
  assert.equal(bytesKind("[".repeat(32) + "]".repeat(32)), 0);
  assert.equal(
    bytesKind('{"value": 0.5, "quality": "good", "valid": true}'),
    JsonBytes.ascii,
  );
  assert.equal(bytesKind('{"é": ["日本"]}'), JsonBytes.utf8);
  // Random mutations of valid texts: never a yes for a no.
  let decided = 0;
  for (const t of mutations(11, 5_000)) {
    if (agrees(t) !== JsonBytes.undecided) decided++;
    else if (isJsonText(t) && !/\d{16}|[eE][+-]?\d{3}|\[{31}/.test(t)) {
      assert.fail(`valid and not decided: ${JSON.stringify(t)}`);
    }
  }
  assert.ok(decided > 500, `${decided} decided`);
});

Deno.test("a JsonTextPayload is its text, parsed on demand", () => {
  const text = '{"10": 1, "2": 2, "x": 2.0}';
  const p = new JsonTextPayload(text);
  assert.equal(p.kind, "json");
  assert.equal(p.text, text);
  assert.deepEqual(p.data, { 10: 1, 2: 2, x: 2 });
  assert.equal(p.data, p.data, "parsed once");
  assert.equal(
    JSON.stringify(p),
    '{"kind":"json","data":{"2":2,"10":1,"x":2}}',
  );
  assert.notDeepEqual(p, new JsonTextPayload('{"2": 2, "10": 1, "x": 2.0}'));
  assert.deepEqual(p, new JsonTextPayload(text));
  assert.throws(() => new JsonTextPayload("{"), SyntaxError);
  assert.throws(() => new JsonTextPayload("1e999"), SyntaxError);
  // Written as the text, and read back as it by a reader that keeps it.
  const w = new Writer(64);
  writeOptPayload(w, p);
  const back = readOptPayloadKeepingText(new Reader(w.bytes()));
  assert.ok(back instanceof JsonTextPayload);
  assert.equal(back.text, text);
  // A reader that does not keep texts parses.
  const parsed = readOptPayload(new Reader(w.bytes()));
  assert.deepEqual(parsed, { kind: "json", data: { 10: 1, 2: 2, x: 2 } });
  // Invalid text on the wire fails the read, as before.
  const bad = new Writer(64);
  bad.byte(0x81);
  bad.byte(0x81);
  bad.string("[1,");
  assert.throws(
    () => readOptPayloadKeepingText(new Reader(bad.bytes())),
    /JSON/,
  );
});

Deno.test("a server with keepJsonText gets the very text a client sent", async () => {
  const got: string[] = [];
  const texts = ['{"10": 1, "2": 2, "x": 2.0}', '[1.50,  "\\u00e9" ]'];
  await using server = await listen({ hostname: "127.0.0.1", port: 0 }, {
    status: "operational",
    keepJsonText: true,
    registerCb: (_info, events) => {
      for (const e of events) {
        assert.ok(e.payload instanceof JsonTextPayload);
        got.push(e.payload.text);
      }
      return events.map((e, i): Event => ({
        id: { server: 1, session: 1, instance: i + 1 },
        type: e.type,
        timestamp: { s: 0, us: 0 },
        sourceTimestamp: null,
        payload: e.payload ?? null,
      }));
    },
  });
  await using client = await connect(server.addresses[0], "text");
  const answered = await client.register(
    texts.map((t) => ({ type: ["a"], payload: new JsonTextPayload(t) })),
    true,
  );
  assert.deepEqual(got, texts);
  // The client parses what comes back.
  assert.deepEqual(answered?.map((e) => e.payload), [
    { kind: "json", data: { 10: 1, 2: 2, x: 2 } },
    { kind: "json", data: [1.5, "é"] },
  ]);
});
