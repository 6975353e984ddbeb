import assert from "node:assert/strict";
import {
  addSeconds,
  assertTimestamp,
  compareTimestamps,
  MAX_TIMESTAMP,
  MIN_TIMESTAMP,
  normalizeSeconds,
  now,
  timestampEquals,
  timestampFromBytes,
  timestampFromDate,
  timestampFromFloat,
  timestampToBytes,
  timestampToDate,
  timestampToFloat,
} from "../common/event/mod.ts";
import type { Timestamp } from "../common/event/mod.ts";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(text: string): Uint8Array {
  return Uint8Array.from(
    text.match(/../g)!,
    (pair) => parseInt(pair, 16),
  );
}

function isCanonical(s: number | bigint): boolean {
  return typeof s === "number"
    ? Number.isSafeInteger(s) && !Object.is(s, -0)
    : s < -Number.MAX_SAFE_INTEGER || s > Number.MAX_SAFE_INTEGER;
}

Deno.test("sentinels are exact and canonical", () => {
  assert.equal(MIN_TIMESTAMP.s, -9223372036854775808n);
  assert.equal(MIN_TIMESTAMP.us, 0);
  assert.equal(MAX_TIMESTAMP.s, 9223372036854775807n);
  assert.equal(MAX_TIMESTAMP.us, 999999);
  assert.ok(Object.isFrozen(MIN_TIMESTAMP) && Object.isFrozen(MAX_TIMESTAMP));
  assertTimestamp(MIN_TIMESTAMP);
  assertTimestamp(MAX_TIMESTAMP);
});

Deno.test("bytes match the reference's timestamp_to_bytes", () => {
  // Hex from hat-event 0.9.44 `timestamp_to_bytes`.
  const cases: [Timestamp, string][] = [
    [MIN_TIMESTAMP, "000000000000000000000000"],
    [MAX_TIMESTAMP, "ffffffffffffffff000f423f"],
    [{ s: 1, us: 2 }, "800000000000000100000002"],
    [{ s: -1, us: 999999 }, "7fffffffffffffff000f423f"],
  ];
  for (const [t, expected] of cases) {
    assert.equal(hex(timestampToBytes(t)), expected);
    assert.deepEqual(timestampFromBytes(fromHex(expected)), t);
  }
});

Deno.test("bytes round trip, canonical seconds, byte order is time order", () => {
  const ts: Timestamp[] = [
    MIN_TIMESTAMP,
    { s: -(2n ** 62n), us: 5 },
    { s: -(2 ** 53), us: 0 },
    { s: -Number.MAX_SAFE_INTEGER, us: 1 },
    { s: -1, us: 999999 },
    { s: 0, us: 0 },
    { s: 0, us: 1 },
    { s: 1700000000, us: 123456 },
    { s: Number.MAX_SAFE_INTEGER, us: 0 },
    { s: 2n ** 53n, us: 0 },
    MAX_TIMESTAMP,
  ];
  for (const t of ts) {
    const back = timestampFromBytes(timestampToBytes(t));
    assert.ok(timestampEquals(back, t));
    assert.equal(back.s, normalizeSeconds(t.s));
    assert.ok(isCanonical(back.s), `${back.s} is not canonical`);
  }
  for (let i = 1; i < ts.length; i++) {
    assert.equal(compareTimestamps(ts[i - 1], ts[i]), -1);
    assert.ok(hex(timestampToBytes(ts[i - 1])) < hex(timestampToBytes(ts[i])));
  }
  // Works on a view into a larger buffer.
  const buffer = new Uint8Array(20);
  buffer.set(timestampToBytes({ s: -7, us: 42 }), 4);
  assert.deepEqual(timestampFromBytes(buffer.subarray(4, 16)), {
    s: -7,
    us: 42,
  });
});

Deno.test("bytes of number seconds equal those of the BigInt formula", () => {
  const seconds = [
    0,
    -0,
    1,
    -1,
    2 ** 31,
    -(2 ** 31),
    2 ** 32 - 1,
    2 ** 32,
    2 ** 32 + 1,
    -(2 ** 32) - 1,
    -(2 ** 32),
    -(2 ** 32) + 1,
    2 ** 52,
    -(2 ** 52),
    2 ** 53 - 2 ** 32,
    -(2 ** 53) + 2 ** 32,
    2 ** 53 - 2 ** 32 - 1,
    -(2 ** 53) + 2 ** 32 - 1,
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_SAFE_INTEGER,
    1732000000,
  ];
  for (let i = 0; i < 200; i++) {
    seconds.push(Math.round((Math.random() - 0.5) * 2 ** (10 + i % 44)));
  }
  for (const s of seconds) {
    const view = new DataView(new ArrayBuffer(12));
    view.setBigUint64(0, BigInt(s) + 2n ** 63n);
    view.setUint32(8, 7);
    const expected = new Uint8Array(view.buffer);
    assert.deepEqual(timestampToBytes({ s, us: 7 }), expected, `${s}`);
    const back = timestampFromBytes(expected);
    assert.ok(Object.is(back.s, s + 0), `${s}: ${back.s}`);
  }
});

Deno.test("bytes reject bad lengths, microseconds and timestamps", () => {
  assert.throws(() => timestampFromBytes(new Uint8Array(11)), RangeError);
  assert.throws(() => timestampFromBytes(new Uint8Array(13)), RangeError);
  assert.throws(
    () => timestampFromBytes(fromHex("8000000000000000000f4240")),
    RangeError,
  );
  assert.throws(() => timestampToBytes({ s: 2n ** 63n, us: 0 }), TypeError);
  assert.throws(() => timestampToBytes({ s: 0, us: -1 }), TypeError);
});

Deno.test("compareTimestamps mixes number and bigint seconds", () => {
  assert.equal(compareTimestamps({ s: 1, us: 5 }, { s: 1n, us: 7 }), -1);
  assert.equal(compareTimestamps({ s: 1n, us: 7 }, { s: 1, us: 5 }), 1);
  assert.equal(compareTimestamps({ s: 3n, us: 0 }, { s: 3, us: 0 }), 0);
  assert.equal(compareTimestamps(MIN_TIMESTAMP, { s: -(2 ** 60), us: 0 }), -1);
  assert.equal(compareTimestamps(MAX_TIMESTAMP, { s: 2 ** 60, us: 999999 }), 1);
  // 2^53 + 1 is not a double; the bigint must win by exactly one second.
  assert.equal(
    compareTimestamps({ s: 2n ** 53n + 1n, us: 0 }, {
      s: 2 ** 53,
      us: 999999,
    }),
    1,
  );
  assert.equal(compareTimestamps(MAX_TIMESTAMP, MAX_TIMESTAMP), 0);
  assert.ok(timestampEquals({ s: 2 ** 60, us: 1 }, { s: 2n ** 60n, us: 1 }));
  assert.ok(!timestampEquals({ s: 1, us: 1 }, { s: 1, us: 2 }));
});

Deno.test("normalizeSeconds", () => {
  assert.equal(normalizeSeconds(5n), 5);
  assert.equal(normalizeSeconds(-5), -5);
  assert.ok(Object.is(normalizeSeconds(-0), 0));
  assert.equal(normalizeSeconds(BigInt(Number.MAX_SAFE_INTEGER)), 2 ** 53 - 1);
  assert.equal(normalizeSeconds(2n ** 53n), 2n ** 53n);
  assert.equal(normalizeSeconds(2 ** 53), 2n ** 53n);
  assert.equal(normalizeSeconds(-(2n ** 63n)), -(2n ** 63n));
  assert.throws(() => normalizeSeconds(1.5), TypeError);
  assert.throws(() => normalizeSeconds(NaN), TypeError);
});

Deno.test("assertTimestamp names what is wrong", () => {
  assertTimestamp({ s: 0, us: 0 });
  assertTimestamp({ s: -(2 ** 63), us: 999999 });
  assertTimestamp({ s: 2n ** 62n, us: 0 });
  const bad: [unknown, RegExp][] = [
    [null, /must be an object/],
    [5, /must be an object/],
    [{ s: 1.5, us: 0 }, /seconds .* got 1\.5/],
    [{ s: "1", us: 0 }, /seconds .* got "1"/],
    [{ us: 0 }, /seconds .* got undefined/],
    [{ s: 2n ** 63n, us: 0 }, /seconds .* got 9223372036854775808n/],
    [{ s: -(2n ** 63n) - 1n, us: 0 }, /seconds/],
    [{ s: 2 ** 63, us: 0 }, /seconds/],
    [{ s: 0, us: 1_000_000 }, /microseconds .* got 1000000/],
    [{ s: 0, us: -1 }, /microseconds/],
    [{ s: 0, us: 0.5 }, /microseconds/],
    [{ s: 0, us: 1n }, /microseconds/],
    [{ s: 0 }, /microseconds/],
  ];
  for (const [value, message] of bad) {
    assert.throws(
      () => assertTimestamp(value),
      (e: unknown) => e instanceof TypeError && message.test(e.message),
      String(message),
    );
  }
});

Deno.test("timestampFromFloat matches the reference", () => {
  // [input, s, us] from hat-event 0.9.44 `timestamp_from_float`.
  const cases: [number, number | bigint, number][] = [
    [0.0, 0, 0],
    [-0.0, 0, 0],
    [1.5, 1, 500000],
    [-1.5, -2, 500000],
    [-1.0, -1, 0],
    [-0.5, -1, 500000],
    [1e-7, 0, 0],
    [-1e-7, 0, 0],
    [5e-7, 0, 0],
    [1.5e-6, 0, 2],
    [2.5e-6, 0, 2],
    [1.0000005, 1, 1],
    [2.0000025, 2, 2],
    [1700000000.123456, 1700000000, 123456],
    [1700000000.1234565, 1700000000, 123456],
    [-1700000000.123456, -1700000001, 876544],
    [9007199254740992.0, 2n ** 53n, 0],
    [2 ** 60, 1152921504606846976n, 0],
    [1e18, 1000000000000000000n, 0],
    [9.2e18, 9200000000000000000n, 0],
    [0.9999999, 1, 0],
    [-0.9999999, -1, 0],
    [-1e-12, 0, 0],
    [1234567.0000005, 1234567, 0],
  ];
  for (const [f, s, us] of cases) {
    const t = timestampFromFloat(f);
    assert.ok(Object.is(t.s, s) || t.s === s, `${f}: s ${t.s} != ${s}`);
    assert.equal(t.us, us, `${f}: us`);
  }
});

Deno.test("timestampFromFloat is exact where the reference is a second off", () => {
  // The reference gives -1000000000000000001 and -1152921504606846977:
  // below -2^53 its `ts - s` rounds to 0 after subtracting one second.
  assert.deepEqual(timestampFromFloat(-1e18), {
    s: -1000000000000000000n,
    us: 0,
  });
  assert.deepEqual(timestampFromFloat(-(2 ** 60)), { s: -(2n ** 60n), us: 0 });
  // The reference returns s = -2^63 - 1 here, outside the 64-bit range.
  assert.deepEqual(timestampFromFloat(-(2 ** 63)), MIN_TIMESTAMP);
  assert.throws(() => timestampFromFloat(2 ** 63), RangeError);
  assert.throws(() => timestampFromFloat(NaN), RangeError);
  assert.throws(() => timestampFromFloat(Infinity), RangeError);
});

Deno.test("timestampToFloat matches the reference", () => {
  // From hat-event 0.9.44 `timestamp_to_float`.
  const cases: [Timestamp, number][] = [
    [{ s: 0, us: 0 }, 0],
    [{ s: 1, us: 500000 }, 1.5],
    [{ s: -1, us: 500000 }, -0.5],
    [{ s: 1700000000, us: 123456 }, 1700000000.123456],
    [MIN_TIMESTAMP, -9.223372036854776e18],
    [MAX_TIMESTAMP, 9.223372036854776e18],
    [{ s: 2n ** 53n + 1n, us: 1 }, 9007199254740992],
    [{ s: -5, us: 999999 }, -4.000001],
  ];
  for (const [t, f] of cases) assert.equal(timestampToFloat(t), f);
});

Deno.test("addSeconds matches the reference's Timestamp.add", () => {
  // [s, us, seconds, s', us'] from hat-event 0.9.44 `Timestamp.add`.
  const cases: [number | bigint, number, number, number | bigint, number][] = [
    [0, 0, 1.5, 1, 500000],
    [0, 999999, 0.000001, 1, 0],
    [0, 0, -5e-7, 0, 0],
    [0, 0, -1.5e-6, -1, 999998],
    [0, 0, 2.5e-6, 0, 2],
    [10, 0, -1.5, 8, 500000],
    [10, 250000, -0.75, 9, 500000],
    [0, 0, 1e-7, 0, 0],
    [5, 5, -2.0, 3, 5],
    [0, 0, 2 ** 60, 1152921504606846976n, 0],
    [4611686018427387904n, 0, -0.3, 4611686018427387903n, 700000],
    [0, 0, 0.1, 0, 100000],
    [0, 0, 0.7, 0, 700000],
    [100, 999999, 0.9999995, 101, 999999],
  ];
  for (const [s, us, seconds, s2, us2] of cases) {
    assert.deepEqual(addSeconds({ s, us }, seconds), { s: s2, us: us2 });
  }
  assert.deepEqual(addSeconds({ s: 2n ** 53n, us: 0 }, -1), {
    s: 2 ** 53 - 1,
    us: 0,
  });
  assert.throws(() => addSeconds(MAX_TIMESTAMP, 1), RangeError);
  assert.throws(() => addSeconds(MIN_TIMESTAMP, -1e-6), RangeError);
  assert.throws(() => addSeconds({ s: 0, us: 0 }, NaN), RangeError);
});

Deno.test("Date conversions", () => {
  // hat-event gives 2023-11-14T22:13:20.123456 for {1700000000, 123456};
  // Date keeps milliseconds only.
  assert.equal(
    timestampToDate({ s: 1700000000, us: 123456 }).toISOString(),
    "2023-11-14T22:13:20.123Z",
  );
  assert.equal(
    timestampToDate({ s: -1, us: 500000 }).toISOString(),
    "1969-12-31T23:59:59.500Z",
  );
  assert.equal(timestampToDate({ s: 0, us: 999 }).getTime(), 0);
  assert.deepEqual(
    timestampFromDate(new Date("2023-11-14T22:13:20.123Z")),
    { s: 1700000000, us: 123000 },
  );
  assert.deepEqual(timestampFromDate(new Date(-500)), { s: -1, us: 500000 });
  // The reference's timestamp_from_datetime gives {s: -2, us: 0} here.
  assert.deepEqual(
    timestampFromDate(new Date("1969-12-31T23:59:59Z")),
    { s: -1, us: 0 },
  );
  assert.deepEqual(timestampFromDate(new Date(0)), { s: 0, us: 0 });
  const extreme = new Date(8.64e15);
  assert.deepEqual(timestampFromDate(extreme), { s: 8.64e12, us: 0 });
  assert.equal(timestampToDate(timestampFromDate(extreme)).getTime(), 8.64e15);
  assert.throws(() => timestampToDate({ s: 8.64e12 + 1, us: 0 }), RangeError);
  assert.throws(() => timestampToDate(MIN_TIMESTAMP), RangeError);
  assert.throws(() => timestampFromDate(new Date(NaN)), RangeError);
});

Deno.test("now is close to Date.now", () => {
  const before = Date.now();
  const t = now();
  const after = Date.now();
  assertTimestamp(t);
  assert.equal(typeof t.s, "number");
  const ms = (t.s as number) * 1000 + t.us / 1000;
  assert.ok(before <= ms && ms <= after);
});
