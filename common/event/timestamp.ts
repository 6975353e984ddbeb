/**
 * Helpers over {@linkcode Timestamp}, the reference's
 * `hat.event.common.Timestamp` (whole seconds `s` and microseconds `us`
 * since the Unix epoch): the clock ({@linkcode now}), the sentinels
 * {@linkcode MIN_TIMESTAMP} and {@linkcode MAX_TIMESTAMP} (open query
 * bounds), ordering, validation and conversions to floats, dates and the
 * 12-byte storage form.
 *
 * Every function returns seconds in canonical form: a `number` when it is a
 * safe integer, a `bigint` otherwise, so the full signed 64-bit range of the
 * wire stays exact. Inputs may use either representation.
 *
 * The `Timestamp` type itself is exported by `@hat/eventer`.
 *
 * @example A timestamp for a register callback, and a time window
 * ```ts
 * import { addSeconds, now, timestampToDate } from "@hat/eventer/timestamp";
 *
 * const to = now();
 * const from = addSeconds(to, -60); // the last minute, for a query
 * console.log(timestampToDate(from).toISOString());
 * ```
 *
 * @module
 */

import type { Seconds, Timestamp } from "./types.ts";

const S_MIN = -(2n ** 63n);
const S_MAX = 2n ** 63n - 1n;
const S_OFFSET = 2n ** 63n;
const US_PER_S = 1_000_000;

/**
 * Smallest timestamp of the reference, sent by clients as an open lower
 * query bound; its 12-byte form is all zeros.
 *
 * @example
 * ```ts
 * import { MIN_TIMESTAMP, timestampToBytes } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.deepEqual(timestampToBytes(MIN_TIMESTAMP), new Uint8Array(12));
 * ```
 */
export const MIN_TIMESTAMP: Timestamp = Object.freeze({ s: S_MIN, us: 0 });

/**
 * Largest timestamp of the reference, sent by clients as an open upper
 * query bound.
 *
 * @example
 * ```ts
 * import { MAX_TIMESTAMP } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_TIMESTAMP.s, 2n ** 63n - 1n);
 * ```
 */
export const MAX_TIMESTAMP: Timestamp = Object.freeze({
  s: S_MAX,
  us: 999_999,
});

/**
 * Returns seconds in canonical form: a `number` when it is a safe integer,
 * otherwise a `bigint`.
 *
 * The range is not checked here; see {@linkcode assertTimestamp}.
 *
 * @param s Whole seconds, as a `number` or a `bigint`.
 * @returns The same value in canonical form (`-0` becomes `0`).
 * @throws {TypeError} If `s` is a `number` that is not an integer.
 * @example
 * ```ts
 * import { normalizeSeconds } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.equal(normalizeSeconds(5n), 5);
 * assert.equal(normalizeSeconds(2 ** 60), 2n ** 60n);
 * ```
 */
export function normalizeSeconds(s: Seconds): Seconds {
  if (typeof s === "bigint") {
    return s >= -Number.MAX_SAFE_INTEGER && s <= Number.MAX_SAFE_INTEGER
      ? Number(s)
      : s;
  }
  if (typeof s !== "number" || !Number.isInteger(s)) {
    throw new TypeError(
      `timestamp seconds must be an integer, got ${describe(s)}`,
    );
  }
  return Number.isSafeInteger(s) ? s + 0 : BigInt(s);
}

/**
 * Checks that a value is a valid {@linkcode Timestamp}: `s` an integer in
 * signed 64-bit range and `us` an integer in [0, 1e6).
 *
 * @param t The value to check.
 * @throws {TypeError} Naming the offending field and value when invalid.
 * @example
 * ```ts
 * import { assertTimestamp } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assertTimestamp({ s: 1, us: 0 });
 * assert.throws(() => assertTimestamp({ s: 1, us: 1_000_000 }), TypeError);
 * ```
 */
export function assertTimestamp(t: unknown): asserts t is Timestamp {
  if (typeof t !== "object" || t === null) {
    throw new TypeError(`timestamp must be an object, got ${describe(t)}`);
  }
  const { s, us } = t as { s?: unknown; us?: unknown };
  const isInt = typeof s === "bigint" ||
    (typeof s === "number" && Number.isInteger(s));
  if (!isInt || (s as Seconds) < S_MIN || (s as Seconds) > S_MAX) {
    throw new TypeError(
      `timestamp seconds must be an integer in [-2^63, 2^63 - 1], got ${
        describe(s)
      }`,
    );
  }
  if (
    typeof us !== "number" || !Number.isInteger(us) || us < 0 ||
    us >= US_PER_S
  ) {
    throw new TypeError(
      `timestamp microseconds must be an integer in [0, 1000000), got ${
        describe(us)
      }`,
    );
  }
}

/**
 * Returns the current time, with the millisecond resolution of `Date.now()`.
 *
 * @returns The current time as a timestamp.
 * @example
 * ```ts
 * import { now } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.ok(typeof now().s === "number");
 * ```
 */
export function now(): Timestamp {
  return fromMilliseconds(Date.now());
}

/**
 * Compares two timestamps by seconds, then microseconds; a `number` and a
 * `bigint` second compare by value.
 *
 * @param a First timestamp.
 * @param b Second timestamp.
 * @returns -1 if `a` is earlier, 1 if later, 0 if equal.
 * @example
 * ```ts
 * import { compareTimestamps } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.equal(compareTimestamps({ s: 1, us: 5 }, { s: 1n, us: 7 }), -1);
 * ```
 */
export function compareTimestamps(a: Timestamp, b: Timestamp): number {
  // Relational operators compare number and bigint by exact value.
  if (a.s < b.s) return -1;
  if (a.s > b.s) return 1;
  return a.us < b.us ? -1 : a.us > b.us ? 1 : 0;
}

/**
 * Tells whether two timestamps denote the same instant, whatever the
 * representation of their seconds.
 *
 * @param a First timestamp.
 * @param b Second timestamp.
 * @returns True when seconds and microseconds are equal.
 * @example
 * ```ts
 * import { timestampEquals } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.ok(timestampEquals({ s: 3, us: 0 }, { s: 3n, us: 0 }));
 * ```
 */
export function timestampEquals(a: Timestamp, b: Timestamp): boolean {
  return compareTimestamps(a, b) === 0;
}

/**
 * Adds a (possibly fractional or negative) number of seconds, rounding the
 * fraction to whole microseconds half to even, as the reference's
 * `Timestamp.add`.
 *
 * @param t The timestamp to add to.
 * @param seconds Seconds to add.
 * @returns The sum, with 0 <= us < 1e6.
 * @throws {RangeError} If `seconds` is not finite or the sum leaves the
 * signed 64-bit range of seconds.
 * @example
 * ```ts
 * import { addSeconds } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.deepEqual(addSeconds({ s: 10, us: 250000 }, -0.75), { s: 9, us: 500000 });
 * ```
 */
export function addSeconds(t: Timestamp, seconds: number): Timestamp {
  if (!Number.isFinite(seconds)) {
    throw new RangeError(`cannot add ${seconds} seconds to a timestamp`);
  }
  const whole = Math.trunc(seconds);
  const us = t.us + roundHalfEven((seconds - whole) * 1e6);
  const carry = Math.floor(us / US_PER_S);
  return checked(
    BigInt(t.s) + BigInt(whole) + BigInt(carry),
    us - carry * US_PER_S,
  );
}

/**
 * Converts a timestamp to float seconds since the epoch (inexact beyond
 * 2^53 seconds or below the microsecond; use the bytes form to be exact).
 *
 * @param t The timestamp.
 * @returns Seconds since 1970-01-01 UTC.
 * @example
 * ```ts
 * import { timestampToFloat } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.equal(timestampToFloat({ s: -1, us: 500000 }), -0.5);
 * ```
 */
export function timestampToFloat(t: Timestamp): number {
  return Number(t.s) + t.us * 1e-6;
}

/**
 * Converts float seconds since the epoch to a timestamp, rounding to whole
 * microseconds half to even, as the reference's `timestamp_from_float`.
 *
 * @param f Seconds since 1970-01-01 UTC.
 * @returns The timestamp.
 * @throws {RangeError} If `f` is not finite or outside the signed 64-bit
 * range of seconds.
 * @example
 * ```ts
 * import { timestampFromFloat } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.deepEqual(timestampFromFloat(-1.5), { s: -2, us: 500000 });
 * ```
 */
export function timestampFromFloat(f: number): Timestamp {
  if (!Number.isFinite(f)) {
    throw new RangeError(`cannot convert ${f} to a timestamp`);
  }
  // Below 2^53 this equals the reference (trunc, minus 1 when negative);
  // beyond, the reference is a second off for negative whole floats.
  const whole = Math.floor(f);
  const us = roundHalfEven((f - whole) * 1e6);
  return us === US_PER_S
    ? checked(BigInt(whole) + 1n, 0)
    : checked(BigInt(whole), us);
}

/**
 * Converts a timestamp to a `Date`, truncating to whole milliseconds.
 *
 * @param t The timestamp.
 * @returns The same instant as a `Date`.
 * @throws {RangeError} If the instant is outside the range of `Date`
 * (±8.64e15 ms around the epoch).
 * @example
 * ```ts
 * import { timestampToDate } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.equal(timestampToDate({ s: 0, us: 1999 }).getTime(), 1);
 * ```
 */
export function timestampToDate(t: Timestamp): Date {
  const ms = BigInt(t.s) * 1000n + BigInt(Math.floor(t.us / 1000));
  if (ms < -8_640_000_000_000_000n || ms > 8_640_000_000_000_000n) {
    throw new RangeError(
      `timestamp ${t.s}.${t.us} s is outside the range of Date`,
    );
  }
  return new Date(Number(ms));
}

/**
 * Converts a `Date` to a timestamp.
 *
 * @param d The date.
 * @returns The same instant as a timestamp.
 * @throws {RangeError} If `d` is an invalid date.
 * @example
 * ```ts
 * import { timestampFromDate } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.deepEqual(timestampFromDate(new Date(-1)), { s: -1, us: 999000 });
 * ```
 */
export function timestampFromDate(d: Date): Timestamp {
  const ms = d.getTime();
  if (Number.isNaN(ms)) {
    throw new RangeError("cannot convert an invalid Date to a timestamp");
  }
  return fromMilliseconds(ms);
}

/**
 * Encodes a timestamp in its 12-byte storage form: big-endian `s + 2^63` as
 * u64, then `us` as u32, so byte order equals time order.
 *
 * @param t The timestamp.
 * @returns 12 bytes.
 * @throws {TypeError} If `t` is not a valid timestamp.
 * @example
 * ```ts
 * import { timestampToBytes } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * assert.equal(timestampToBytes({ s: 0, us: 0 })[0], 0x80);
 * ```
 */
export function timestampToBytes(t: Timestamp): Uint8Array {
  const bytes = new Uint8Array(12);
  const s = t?.s;
  const us = t?.us;
  if (
    typeof s === "number" && Number.isSafeInteger(s) &&
    typeof us === "number" && us >= 0 && us < US_PER_S &&
    Number.isInteger(us)
  ) {
    // The common case, checked and written without BigInt or a DataView
    // (a register of 1,000 events spent 6 % of its time here): the high
    // word of `s` is within ±2^21, its offset adds 2^31.
    const high = Math.floor(s / 2 ** 32);
    putUint32(bytes, 0, (high + 0x80000000) >>> 0);
    putUint32(bytes, 4, s - high * 2 ** 32);
    putUint32(bytes, 8, us);
    return bytes;
  }
  assertTimestamp(t);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(t.s) + S_OFFSET);
  view.setUint32(8, t.us);
  return bytes;
}

function putUint32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/**
 * Decodes the 12-byte storage form written by {@linkcode timestampToBytes}.
 *
 * @param b Exactly 12 bytes.
 * @returns The timestamp.
 * @throws {RangeError} If `b` is not 12 bytes long or its microseconds are
 * not below 1e6.
 * @example
 * ```ts
 * import { timestampFromBytes, timestampToBytes } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * const t = { s: -5, us: 7 };
 * assert.deepEqual(timestampFromBytes(timestampToBytes(t)), t);
 * ```
 */
export function timestampFromBytes(b: Uint8Array): Timestamp {
  if (b.length !== 12) {
    throw new RangeError(`timestamp bytes must be 12 long, got ${b.length}`);
  }
  const view = new DataView(b.buffer, b.byteOffset, 12);
  const us = view.getUint32(8);
  if (us >= US_PER_S) {
    throw new RangeError(`timestamp bytes hold ${us} microseconds`);
  }
  const high = view.getUint32(0) - 0x80000000;
  if (high > -0x200000 && high < 0x200000) {
    // A safe integer: without BigInt.
    return { s: high * 2 ** 32 + view.getUint32(4), us };
  }
  return { s: normalizeSeconds(view.getBigUint64(0) - S_OFFSET), us };
}

function fromMilliseconds(ms: number): Timestamp {
  const s = Math.floor(ms / 1000);
  return { s: s + 0, us: (ms - s * 1000) * 1000 };
}

/** Rounds half to even, like Python's `round` on a float. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

function checked(s: bigint, us: number): Timestamp {
  if (s < S_MIN || s > S_MAX) {
    throw new RangeError(
      `timestamp seconds ${s} are outside [-2^63, 2^63 - 1]`,
    );
  }
  return { s: normalizeSeconds(s), us };
}

function describe(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}
