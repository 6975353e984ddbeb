// Codec details below the vectors: the decoded event type cache.

import assert from "node:assert/strict";
import {
  eventTypeWriteSlots,
  readEventId,
  readEventType,
  readTimestamp,
  writeEventId,
  writeEventType,
  writeQueryResult,
  writeTimestamp,
} from "../common/eventer/mod.ts";
import { encodeQueryResultInTurns } from "../common/eventer/_query_result_in_turns.ts";
import type { Event } from "../common/event/mod.ts";
import { Reader, SbsError, Writer } from "../common/sbs/mod.ts";
import { Rng, seedFromEnv } from "./_rng.ts";

const SEED = seedFromEnv("MESSAGES_SEED");

// The writer's type slots pause for 4,096 types after a window of misses
// (earlier tests cause some): types that come back, past any pause.
function wakeTypeSlots(): void {
  const w = new Writer();
  for (let i = 0; i < 5000; i++) {
    w.reset();
    writeEventType(w, ["gateway", "warm"]);
  }
}

Deno.test("cached event types never return another type's value", () => {
  // Same lengths and edge bytes, differing only inside; non-ASCII; empty
  // segments and types; long segments and long types that bypass the cache.
  const types: string[][] = [];
  for (let i = 0; i < 6000; i++) {
    const mid = i.toString(36).padStart(3, "0");
    types.push(["gw", `d${mid}x`, "value"]);
  }
  for (let i = 0; i < 500; i++) {
    types.push(["č", `ž${i}`], [], [""], ["a", "", `${i}`], [
      "x".repeat(64 + i),
    ], Array.from({ length: 10 }, (_, j) => `segment-${j}-${i % 37}`));
  }
  const w = new Writer();
  for (const t of types) writeEventType(w, t);
  for (const t of types) writeEventType(w, t);
  // One long input (compared a word at a time), then each type alone
  // (compared byte by byte).
  const r = new Reader(w.bytes());
  for (const t of [...types, ...types]) {
    const got = readEventType(r);
    assert.deepEqual(got, t);
    assert.ok(Object.isFrozen(got));
  }
  r.done();
  for (const t of [...types].reverse()) {
    const one = new Writer();
    writeEventType(one, t);
    const r = new Reader(one.bytes());
    assert.deepEqual(readEventType(r), t);
    r.done();
  }
});

Deno.test("event types beyond the cache's room: decoded right, written back right", () => {
  // More distinct types than the cache holds, so that its slots are taken
  // over again and again, and types decoded again (written back from their
  // own copy of the bytes) interleave.
  const types: string[][] = [];
  for (let i = 0; i < 30000; i++) {
    types.push(["gw", `p${i}`, "v", `${i % 11}`]);
  }
  const encoded = types.map((t) => {
    const w = new Writer(64);
    writeEventType(w, t);
    return w.bytes().slice();
  });
  for (let round = 0; round < 3; round++) {
    const w = new Writer();
    const order = types.map((_, i) => (i * 7919 + round * 104729) % 30000);
    for (const i of order) w.raw(encoded[i]);
    const r = new Reader(w.bytes());
    for (const i of order) {
      const got = readEventType(r);
      assert.deepEqual(got, types[i]);
      const again = new Writer(64);
      writeEventType(again, got);
      assert.deepEqual(again.bytes(), encoded[i]);
    }
    r.done();
  }
});

Deno.test("event types of numbered points spread over the type cache", () => {
  // 1,000 types that differ in one or two inner characters, decoded twice:
  // types still cached come back as the same frozen array. With a hash as
  // good as random keys, ~60 % stay (the rest share a slot with another);
  // a hash blind to inner characters keeps few.
  const w = new Writer();
  for (let i = 0; i < 1000; i++) writeEventType(w, ["gw", `dev${i}`, "data"]);
  const bytes = w.bytes().slice();
  // Also 13 bytes into a larger buffer, as a message sits in a receive
  // buffer (the words are read through a DataView of the whole buffer).
  const host = new Uint8Array(bytes.length + 29);
  host.set(bytes, 13);
  for (const input of [bytes, host.subarray(13, 13 + bytes.length)]) {
    const decode = () => {
      const r = new Reader(input);
      return Array.from({ length: 1000 }, () => readEventType(r));
    };
    const first = decode();
    const again = decode();
    const kept = first.filter((t, i) => t === again[i]).length;
    assert.ok(kept >= 500, `${kept} of 1,000 types kept`);
  }
});

Deno.test("decoded event types are written back as the same bytes", () => {
  const types = [
    ["gw", "device1", "data", "value7"],
    ["č", "ž"],
    [],
    [""],
    ["x".repeat(70), "y"],
  ];
  const w = new Writer();
  for (const t of types) writeEventType(w, t);
  const bytes = w.bytes().slice();
  // Decoded twice: the second time from the cache.
  for (let round = 0; round < 2; round++) {
    const r = new Reader(bytes);
    const again = new Writer(4);
    for (const t of types) {
      const decoded = readEventType(r);
      assert.deepEqual(decoded, t);
      writeEventType(again, decoded);
    }
    r.done();
    assert.deepEqual(again.bytes(), bytes);
  }
});

Deno.test("event types whose long segments grow the writer mid-type", () => {
  const short = "a".repeat(62);
  for (
    const long of ["é".repeat(62), "x".repeat(5000), "ø".repeat(3000), "😀"]
  ) {
    // Room for five short ASCII segments, then a wider one first.
    const type = [long, short, short, short, short];
    const w = new Writer(5 * 64 + 1);
    writeEventType(w, type);
    const r = new Reader(w.bytes());
    assert.deepEqual(readEventType(r), type);
    r.done();
  }
});

Deno.test("a cached event type is no excuse to accept bad bytes", () => {
  const w = new Writer();
  writeEventType(w, ["ok", "é"]);
  const good = w.bytes().slice();
  assert.deepEqual(readEventType(new Reader(good)), ["ok", "é"]);
  // The same shape with invalid UTF-8 must still fail, cached or not.
  const bad = good.slice();
  bad[bad.length - 1] = 0xff;
  assert.throws(() => readEventType(new Reader(bad)), SbsError);
  assert.throws(() => readEventType(new Reader(good.subarray(0, 4))), SbsError);
});

Deno.test(`caller-built event types: segment slots write what the segments are (seed ${SEED})`, () => {
  // The writer keeps the bytes of short segments in slots chosen by place,
  // length and last character. Here many segments share a slot's choice
  // (so slots miss, are replaced, go cold and are tried again), equal
  // strings are separate objects, and segments are empty, non-ASCII, or
  // around the 32 bytes a slot holds; every type must come out as the
  // general string writer writes it, in one long buffer and in small
  // writers that grow mid-type.
  wakeTypeSlots();
  const rng = new Rng(SEED);
  const same = (k: number) => `dev${k.toString(36).padStart(2, "0")}x`;
  const vocabulary = [
    ...Array.from({ length: 40 }, (_, k) => same(k)),
    "a",
    "b",
    "",
    "č",
    "xč",
    "\u{1f600}",
    "abcdefgh",
    "x".repeat(12),
    "x".repeat(28),
    "x".repeat(30),
    "y".repeat(30),
    "x".repeat(31),
    "x".repeat(32),
    "x".repeat(62),
    "gateway",
    "data",
  ];
  // Equal content, another object each time.
  const copy = (s: string) => s.split("").join("");
  // Each segment three times in a row at each of the first places (the
  // second and third are written from its slot), then at random.
  const types: string[][] = [];
  for (const s of vocabulary) {
    for (let place = 0; place < 3; place++) {
      for (let k = 0; k < 3; k++) {
        types.push([...vocabulary.slice(-place - 1, -1), copy(s)]);
      }
    }
  }
  for (let i = 0; i < 6000; i++) {
    const n = rng.chance(0.02) ? 64 + rng.int(8) : 1 + rng.int(6);
    const t = Array.from({ length: n }, () => {
      const s = rng.chance(0.3)
        ? rng.pick(vocabulary.slice(0, 4))
        : rng.pick(vocabulary);
      return rng.chance(0.5) ? copy(s) : s;
    });
    types.push(t);
  }
  // One array written, changed in place (same lengths and last characters,
  // so the same slots) and written again, at each place.
  const changed: string[] = ["gateway", same(1), "data", same(2)];
  for (let i = 0; i < 24; i++) {
    types.push(changed.slice());
    changed[i % 4] = i % 8 < 4 ? same(3 + i) : copy(changed[i % 4]);
  }
  const expected = new Writer();
  for (const t of types) {
    expected.int(t.length);
    for (const s of t) expected.string(s);
  }
  const w = new Writer();
  for (const t of types) writeEventType(w, t);
  // The same array object, changed between writes.
  const one = ["gateway", same(1), "data", same(2)];
  for (let i = 0; i < 12; i++) {
    const a = new Writer();
    writeEventType(a, one);
    const b = new Writer();
    b.int(one.length);
    for (const s of one) b.string(s);
    assert.deepEqual(a.bytes(), b.bytes(), one.join("/"));
    one[1 + 2 * (i % 2)] = same(10 + i);
  }
  assert.deepEqual(w.bytes(), expected.bytes());
  let at = 0;
  const all = expected.bytes();
  for (const t of types) {
    const one = new Writer(1 + rng.int(16));
    writeEventType(one, t);
    const b = one.bytes();
    assert.deepEqual(b, all.subarray(at, at + b.length), `type ${t.join("/")}`);
    at += b.length;
  }
  assert.equal(at, all.length);
});

Deno.test("timestamps around the writer's fast paths: the bytes of two Integers", () => {
  // int32 seconds take one room check; those of five groups (from 2^27,
  // 1974) are written straight; the rest go through the general writer.
  const seconds = [
    0,
    1,
    -1,
    63,
    64,
    -64,
    -65,
    8191,
    8192,
    2 ** 20 - 1,
    2 ** 20,
    2 ** 27 - 1,
    2 ** 27,
    2 ** 27 + 1,
    1732000000,
    2 ** 31 - 1,
    2 ** 31,
    -(2 ** 27),
    -(2 ** 27) - 1,
    -(2 ** 31),
    -(2 ** 31) - 1,
    2 ** 40,
    Number.MAX_SAFE_INTEGER,
  ];
  for (const s of seconds) {
    for (const us of [0, 63, 64, 999999]) {
      const w = new Writer(1);
      writeTimestamp(w, { s, us });
      const expected = new Writer();
      expected.int(s);
      expected.int(us);
      assert.deepEqual(w.bytes(), expected.bytes(), `${s} s ${us} us`);
      const r = new Reader(w.bytes());
      assert.deepEqual(readTimestamp(r), { s, us });
      r.done();
    }
  }
});

Deno.test("event ids around the writer's fast paths: the bytes of three Integers", () => {
  // A server id of one group is written in place, int32 ids with one room
  // check, the rest through the general writer.
  const values = [0, 1, 63, 64, -1, -64, -65, 8191, 8192, 2 ** 31 - 1];
  values.push(2 ** 31, -(2 ** 31), -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER);
  for (const server of values) {
    for (const session of [0, 64, 2 ** 31]) {
      for (const instance of [1, -65, 2 ** 40]) {
        const id = { server, session, instance };
        const w = new Writer(1);
        writeEventId(w, id);
        const expected = new Writer();
        expected.int(server);
        expected.int(session);
        expected.int(instance);
        assert.deepEqual(w.bytes(), expected.bytes(), JSON.stringify(id));
        const r = new Reader(w.bytes());
        assert.deepEqual(readEventId(r), id);
        r.done();
      }
    }
  }
});

Deno.test("event type slots keep what was written, even when an element is a getter", () => {
  // An array whose second element answers another string at each read:
  // the slot must hold the strings whose bytes it holds, or a later type
  // made of plain strings would be written as another one.
  let reads = 0;
  const odd: string[] = ["gateway", ""];
  Object.defineProperty(odd, 1, {
    get: () => (reads++ % 2 === 0 ? "dev01x" : "dev02x"),
  });
  const plain = [["gateway", "dev01x"], ["gateway", "dev02x"]];
  wakeTypeSlots();
  for (let i = 0; i < 50; i++) {
    const w = new Writer();
    writeEventType(w, odd);
    const r = new Reader(w.bytes());
    const got = readEventType(r);
    assert.ok(["dev01x", "dev02x"].includes(got[1]), got.join("/"));
    for (const t of plain) {
      const a = new Writer();
      writeEventType(a, t);
      const b = new Writer();
      b.int(t.length);
      for (const s of t) b.string(s);
      assert.deepEqual(a.bytes(), b.bytes(), `after ${i} odd writes`);
    }
  }
});

Deno.test("a frozen type written again is written from its kept bytes, unless an element is a getter", () => {
  // From empty slots: types other tests wrote in this process may have
  // left this type's slot alone for a while (or the slots paused).
  eventTypeWriteSlots.clear();
  wakeTypeSlots();
  // A proxy of a frozen array answers its elements (a proxy may not answer
  // another value for a frozen element) and counts the reads.
  let reads = 0;
  const frozen = Object.freeze(["gateway", "kept", "data", "č"]);
  const counted = new Proxy(frozen, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  const expected = new Writer();
  expected.int(frozen.length);
  for (const s of frozen) expected.string(s);
  // Another array of the same segments takes the slot first.
  for (let i = 0; i < 3; i++) writeEventType(new Writer(), [...frozen]);
  for (let i = 0; i < 20; i++) {
    const w = new Writer(1);
    writeEventType(w, counted);
    assert.deepEqual(w.bytes(), expected.bytes(), `write ${i}`);
  }
  reads = 0;
  for (let i = 0; i < 4; i++) {
    const w = new Writer(1);
    writeEventType(w, counted);
    assert.deepEqual(w.bytes(), expected.bytes(), `kept write ${i}`);
  }
  assert.equal(reads, 0, "segments read after the bytes were kept");
  // A frozen array whose element is a getter is read at every write.
  let calls = 0;
  const odd: string[] = ["gateway", ""];
  Object.defineProperty(odd, 1, {
    get: () => (calls++, "devget"),
  });
  Object.freeze(odd);
  for (let i = 0; i < 4; i++) writeEventType(new Writer(), odd);
  calls = 0;
  for (let i = 0; i < 4; i++) writeEventType(new Writer(), odd);
  assert.ok(calls >= 4, `${calls} reads of the getter in 4 writes`);
});

Deno.test("event type slots: a type too long for its slot leaves the slot's own type intact", () => {
  wakeTypeSlots();
  // The same lengths and last characters (so the same slot), but the
  // second type's non-ASCII characters make it 92 bytes, more than a slot
  // holds: it is not kept, and must not leave its segments with the first
  // type's bytes.
  const short = ["a".repeat(29) + "x", "b".repeat(29) + "y"];
  const wide = ["é".repeat(29) + "x", "b".repeat(29) + "y"];
  for (const t of [short, short, wide, wide, short, wide]) {
    const a = new Writer();
    writeEventType(a, t);
    const b = new Writer();
    b.int(t.length);
    for (const s of t) b.string(s);
    assert.deepEqual(a.bytes(), b.bytes(), t[0]);
  }
});

Deno.test("a large query result encoded in turns: the bytes of writeQueryResult, timers running meanwhile", async () => {
  const events: Event[] = [];
  for (let i = 0; i < 60_000; i++) {
    events.push({
      id: { server: 1, session: 1 + (i >> 10), instance: i },
      type: ["gateway", `device${i % 97}`, "data", `point${i}`],
      timestamp: { s: 1_700_000_000 + i, us: i % 1_000_000 },
      sourceTimestamp: i % 3 === 0 ? null : { s: 1_700_000_000, us: 7 },
      payload: i % 5 === 0
        ? { kind: "binary", type: "raw", data: new Uint8Array([i & 255]) }
        : { kind: "json", data: { value: i, text: "é\n" } },
    });
  }
  const res = { events, moreFollows: true };
  const w = new Writer();
  writeQueryResult(w, res);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  try {
    const bytes = await encodeQueryResultInTurns(res);
    assert.deepEqual(bytes, w.bytes());
  } finally {
    clearInterval(timer);
  }
  // 60,000 events take some 30 ms: the event loop turned meanwhile.
  assert.ok(ticks > 0, "no timer ran while encoding");
  const small = { events: events.slice(0, 3), moreFollows: false };
  const ws = new Writer();
  writeQueryResult(ws, small);
  assert.deepEqual(await encodeQueryResultInTurns(small), ws.bytes());
});
