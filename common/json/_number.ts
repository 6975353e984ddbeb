/**
 * JSON numbers written as Python's `json.dumps` writes them (Python's
 * `repr` of a float).
 *
 * @module
 */

import type { Writer } from "../sbs/mod.ts";
import { JsonPayloadError } from "./value.ts";

/** Write the ASCII string `s` as it is. */
export function writeAscii(w: Writer, s: string): void {
  const len = s.length;
  w.ensure(len);
  const buf = w.buf;
  const pos = w.pos;
  for (let i = 0; i < len; i++) buf[pos + i] = s.charCodeAt(i);
  w.pos = pos + len;
}

/** Write the JSON text of the number `v`. */
export function writeNumber(w: Writer, v: number): void {
  if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
    // Int32 (most JSON numbers): digits straight into the buffer.
    w.ensure(11);
    const buf = w.buf;
    let pos = w.pos;
    if (v < 0) {
      buf[pos++] = 0x2d;
      v = -v;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    pos += digits;
    w.pos = pos;
    do {
      const q = Math.floor(v / 10);
      buf[--pos] = 0x30 + v - q * 10;
      v = q;
    } while (v > 0);
    return;
  }
  if (!Number.isFinite(v)) {
    throw new JsonPayloadError(`JSON payload cannot hold ${v}`);
  }
  const a = v < 0 ? -v : v;
  if (a >= 0.001 && a < 1e9 && !Number.isInteger(a)) {
    // Few decimals (measurements, set points): the shortest text that
    // reads back as `v` has the fewest decimals k for which some integer
    // m gives m / 10^k === a. String(v) costs many times this.
    let scale = 10;
    for (let k = 1; k <= 6; k++, scale *= 10) {
      const m = Math.round(a * scale);
      if (m / scale === a) {
        writeDecimal(w, v < 0, Math.trunc(a), m - Math.trunc(a) * scale, k);
        return;
      }
    }
  }
  writeAscii(w, numberText(v));
}

// `-`, the integer digits, `.` and `fraction` zero-padded to `k` digits
// (`whole` < 1e9 and `fraction` < 10^k < 1e7: int32 arithmetic).
function writeDecimal(
  w: Writer,
  negative: boolean,
  whole: number,
  fraction: number,
  k: number,
): void {
  w.ensure(18);
  const buf = w.buf;
  let pos = w.pos;
  if (negative) buf[pos++] = 0x2d;
  let digits = 1;
  for (let t = whole; t >= 10; t = (t / 10) | 0) digits++;
  pos += digits;
  let p = pos;
  do {
    const q = (whole / 10) | 0;
    buf[--p] = 0x30 + whole - q * 10;
    whole = q;
  } while (whole > 0);
  buf[pos++] = 0x2e;
  pos += k;
  w.pos = pos;
  for (let i = 0; i < k; i++) {
    const q = (fraction / 10) | 0;
    buf[--pos] = 0x30 + fraction - q * 10;
    fraction = q;
  }
}

// Python's repr of a float, for the values JSON texts of numbers can
// differ in: exponents have two digits at least (`1e-05`), and numbers
// under 1e-4 are written with one. Integral numbers beyond 2^53 are
// written exactly (String(2 ** 60) is "1152921504606847000": another
// integer to a Python reader).
function numberText(v: number): string {
  if (Object.is(v, -0)) return "-0.0";
  if (Number.isInteger(v)) {
    return Number.isSafeInteger(v) || Math.abs(v) >= 1e21
      ? String(v)
      : BigInt(v).toString();
  }
  const a = v < 0 ? -v : v;
  const text = a < 1e-4 ? v.toExponential() : String(v);
  const e = text.indexOf("e");
  // One exponent digit (only negative ones here): pad it to two.
  return e >= 0 && text.length === e + 3
    ? text.slice(0, e + 2) + "0" + text.slice(e + 2)
    : text;
}
