/**
 * JSON payload text parsed straight from the receive buffer.
 *
 * Short ASCII texts, all a Python peer writes (`json.dumps` escapes
 * non-ASCII), are parsed from the bytes with no intermediate string; the
 * keys of objects follow a tree of shapes seen before (`_shapes.ts`).
 * Anything else goes through {@linkcode parseJsonText}, with the same
 * result.
 *
 * @module
 */

import type { Reader } from "../sbs/mod.ts";
import { internAscii } from "../sbs/mod.ts";
import {
  generalObject,
  hotShapes,
  type JsonObject,
  lastShapes,
  nextShape,
  ROOT_SHAPE,
  SEP_WORDS,
  served,
  type Shape,
  SHAPE_DEPTHS,
  shapeSeen,
  storeWords,
  VALUE_BYTES,
  VALUE_MISSES,
  VALUE_WORDS,
} from "./_shapes.ts";
import { parseJsonText } from "./parse.ts";
import type { JsonValue } from "./value.ts";

// Cursor of the byte parser below (module state: the parser never yields).
// `var`, not `let`: module-level `let` costs a hole check on each access,
// which this hot loop notices.
// deno-lint-ignore no-var
var jBuf: Uint8Array = new Uint8Array(0);
const NO_BYTES = jBuf;
// deno-lint-ignore no-var
var jPos = 0;
// deno-lint-ignore no-var
var jEnd = 0;
// While a text is parsed, the Reader's DataView for wholeObject's word
// compares: jBuf position p is its byte jBase + p (see Reader.view).
const NO_VIEW = new DataView(new ArrayBuffer(0));
// deno-lint-ignore no-var
var jView: DataView = NO_VIEW;
// deno-lint-ignore no-var
var jBase = 0;

// Thrown (not an Error: no stack to capture) when the fast parser meets
// anything it leaves to JSON.parse: non-ASCII bytes, integers that may
// need a bigint, 3-digit exponents, deep nesting, or invalid JSON.
const BAIL = { bail: true };
// The per-depth shapes (hotShapes) go this deep.
const MAX_FAST_DEPTH = SHAPE_DEPTHS;

// Exact powers of ten: with an integer mantissa below 2^53, one
// multiplication or division by these rounds exactly once, as a correctly
// rounded decimal parser would (Clinger's fast path).
const POW10: number[] = [];
for (let i = 0, p = 1; i <= 22; i++, p *= 10) POW10.push(p);

/**
 * Read an SBS String holding JSON text and parse it.
 *
 * Short ASCII texts, all a Python peer writes (`json.dumps` escapes
 * non-ASCII), are parsed straight from the bytes, with no intermediate
 * string; anything else goes through {@linkcode parseJsonText}. The
 * result is the same either way.
 *
 * @throws {SyntaxError} When the text is not JSON (see `parseJsonText`).
 */
export function readJsonText(r: Reader): JsonValue {
  const at = r.pos;
  const n = r.length();
  const start = r.pos;
  if (n <= 4096) {
    jBuf = r.buf;
    jView = r.view();
    jBase = r.buf.byteOffset;
    jPos = start;
    jEnd = start + n;
    try {
      const v = fastValue(0);
      skipSpace();
      if (jPos === jEnd) {
        r.pos = jEnd;
        return v;
      }
    } catch (e) {
      if (e !== BAIL) throw e;
    } finally {
      // Not kept: it may be a large receive buffer.
      jBuf = NO_BYTES;
      jView = NO_VIEW;
      // After a bail: let go of the values of unfinished objects.
      popValues(0);
    }
  }
  r.pos = at;
  return parseJsonText(r.string());
}

function skipSpace(): void {
  // Most calls find no space at all (and json.dumps writes one at most).
  if (jPos < jEnd && jBuf[jPos] > 0x20) return;
  const buf = jBuf;
  let p = jPos;
  while (p < jEnd) {
    const c = buf[p];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    p++;
  }
  jPos = p;
}

function fastValue(depth: number): JsonValue {
  if (jPos >= jEnd) throw BAIL;
  const c = jBuf[jPos];
  switch (c) {
    case 0x7b: // {
      return fastObject(depth);
    case 0x5b: // [
      return fastArray(depth);
    case 0x22: // "
      return fastString();
    case 0x74: // t
      fastLiteral(0x72, 0x75, 0x65, -1);
      return true;
    case 0x66: // f
      fastLiteral(0x61, 0x6c, 0x73, 0x65);
      return false;
    case 0x6e: // n
      fastLiteral(0x75, 0x6c, 0x6c, -1);
      return null;
    default:
      if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return fastNumber();
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        // Leading space (json.dumps writes none before a value).
        skipSpace();
        return fastValue(depth);
      }
      throw BAIL;
  }
}

function fastLiteral(a: number, b: number, c: number, d: number): void {
  const buf = jBuf;
  const p = jPos;
  const len = d < 0 ? 4 : 5;
  if (
    p + len > jEnd || buf[p + 1] !== a || buf[p + 2] !== b ||
    buf[p + 3] !== c || (d >= 0 && buf[p + 4] !== d)
  ) throw BAIL;
  jPos = p + len;
}

// Object shapes: the key sequences of objects parsed before, as a tree.
// Payloads of one kind repeat their keys in the same order, so an object
// whose keys follow a known path is matched byte by byte (no hashing or
// interning) and built by the shape's builder, several times cheaper than
// the general path's store per property. Where one shape repeats at a
// nesting depth (a batch of payloads of one kind), the next object there
// is matched against it whole first: its separators and keys compared as
// one run of bytes per value, with no lookup per key.
// Keys and values of the objects being parsed (nested ones stacked above
// their parents'); cleared as each object is built.
const keyStack: string[] = [];
const valueStack: JsonValue[] = [];
// deno-lint-ignore no-var
var stackTop = 0;

// Whether the key at jPos (its opening quote) is the key whose bytes and
// closing quote are `quoted`; if so, skips it.
function matchKey(quoted: Uint8Array): boolean {
  const buf = jBuf;
  const start = jPos + 1;
  const n = quoted.length;
  // The closing quote first: keys of other lengths fail at once.
  if (start + n > jEnd || buf[start + n - 1] !== 0x22) return false;
  for (let i = 0; i < n - 1; i++) {
    if (buf[start + i] !== quoted[i]) return false;
  }
  jPos = start + n;
  return true;
}

// An object of `shape`'s keys written as json.dumps writes them, matched
// separator by separator with no per-key lookup; null (and nothing
// consumed) when the input differs from it anywhere.
function wholeObject(shape: Shape, depth: number): JsonObject | null {
  const sepLengths = shape.sepLengths!;
  const sepWords = shape.sepWords!;
  const start = jPos;
  const base = stackTop;
  for (let i = 0; i < sepLengths.length; i++) {
    const n = sepLengths[i];
    const p = jPos;
    // The last word first: it holds the key's end and `": `.
    if (p + n > jEnd || !wordsMatch(p, n, sepWords, i * SEP_WORDS)) {
      return wholeMiss(start, base);
    }
    const q = p + n;
    jPos = q;
    const len = shape.valueLengths![i];
    if (
      len !== 0 && q + len <= jEnd && jBuf[q] === 0x22 &&
      wordsMatch(q, len, shape.valueWords!, i * VALUE_WORDS)
    ) {
      valueStack[stackTop++] = shape.valueStrings![i];
      shape.valueMisses![i] = 0;
      jPos = q + len;
      continue;
    }
    const v = fastValue(depth + 1);
    valueStack[stackTop++] = v;
    if (typeof v === "string") {
      // Remembered for the next payload (equal bytes are the same string,
      // escapes and all), unless this key's strings missed VALUE_MISSES
      // times in a row: then neither compared nor remembered until the
      // count wraps at 256.
      const misses = shape.valueMisses!;
      const m = (misses[i] + 1) & 255;
      misses[i] = m;
      const vn = jPos - q;
      if (m > VALUE_MISSES) {
        shape.valueLengths![i] = 0;
      } else if (vn >= 4 && vn <= VALUE_BYTES) {
        rememberValue(shape, i, v, q, vn);
      }
    }
  }
  if (jPos >= jEnd || jBuf[jPos] !== 0x7d) return wholeMiss(start, base);
  jPos++;
  const obj = shape.make!(null, valueStack, base);
  served[0]++;
  popValues(base);
  return obj;
}

// Whether jBuf's `n` >= 4 bytes at `p` (in bounds) are those stored at
// `words[o]` by storeWords; the last word first.
function wordsMatch(
  p: number,
  n: number,
  words: Uint32Array,
  o: number,
): boolean {
  const view = jView;
  const at = jBase + p;
  const last = o + ((n - 1) >> 2);
  if (view.getUint32(at + n - 4, true) !== words[last]) return false;
  for (let k = o; k < last; k++) {
    if (view.getUint32(at + 4 * (k - o), true) !== words[k]) return false;
  }
  return true;
}

function rememberValue(
  shape: Shape,
  i: number,
  v: string,
  q: number,
  n: number,
): void {
  storeWords(jView, jBase + q, n, shape.valueWords!, i * VALUE_WORDS);
  shape.valueLengths![i] = n;
  shape.valueStrings![i] = v;
}

function wholeMiss(start: number, base: number): null {
  popValues(base);
  jPos = start;
  return null;
}

// Drops the values stacked from `base` on (the stack keeps no references).
function popValues(base: number): void {
  for (let i = base; i < stackTop; i++) valueStack[i] = null;
  stackTop = base;
}

function fastObject(depth: number): JsonObject {
  if (depth >= MAX_FAST_DEPTH) throw BAIL;
  const hot = hotShapes[depth];
  if (hot != null) {
    const obj = wholeObject(hot, depth);
    if (obj !== null) return obj;
    // Objects here differ now: back to the per-key path until one shape
    // repeats again.
    hotShapes[depth] = null;
    lastShapes[depth] = null;
  }
  jPos++;
  skipSpace();
  if (jPos < jEnd && jBuf[jPos] === 0x7d) {
    jPos++;
    return {};
  }
  const base = stackTop;
  let shape: Shape | null = ROOT_SHAPE;
  for (;;) {
    skipSpace();
    if (jPos >= jEnd || jBuf[jPos] !== 0x22) throw BAIL;
    let key: string | null = null;
    if (shape !== null) {
      const next: Shape[] = shape.next;
      for (let i = 0; i < next.length; i++) {
        if (matchKey(next[i].quoted)) {
          shape = next[i];
          key = shape.key;
          break;
        }
      }
    }
    if (key === null) {
      const at = jPos;
      key = fastString();
      // Only interned keys (short, plain ASCII) extend shapes.
      shape = shape !== null && jPos - at <= 34 && !hasEscape(at, jPos)
        ? nextShape(shape, key)
        : null;
    }
    // `": "` and `", "` as json.dumps writes them, else any spacing.
    if (jPos + 1 < jEnd && jBuf[jPos] === 0x3a && jBuf[jPos + 1] === 0x20) {
      jPos += 2;
    } else {
      skipSpace();
      if (jPos >= jEnd || jBuf[jPos] !== 0x3a) throw BAIL;
      jPos++;
    }
    keyStack[stackTop] = key;
    stackTop++;
    valueStack[stackTop - 1] = fastValue(depth + 1);
    skipSpace();
    if (jPos >= jEnd) throw BAIL;
    const c = jBuf[jPos++];
    if (c === 0x7d) break;
    if (c !== 0x2c) throw BAIL;
    if (jPos < jEnd && jBuf[jPos] === 0x20) jPos++;
  }
  let obj: JsonObject;
  if (shape !== null && shape.make) {
    obj = shape.make(null, valueStack, base);
    served[0]++;
    if (lastShapes[depth] === shape) hotShapes[depth] = shape;
    else lastShapes[depth] = shape;
  } else {
    if (shape !== null) shapeSeen(shape);
    obj = generalObject(shape);
    for (let i = base; i < stackTop; i++) {
      const key = keyStack[i];
      if (key === "__proto__") {
        // JSON.parse makes an own property; where Object.prototype.__proto__
        // exists (Node, browsers; Deno removes it) assignment would set the
        // prototype instead.
        Object.defineProperty(obj, key, {
          value: valueStack[i],
          writable: true,
          enumerable: true,
          configurable: true,
        });
      } else {
        obj[key] = valueStack[i];
      }
    }
  }
  popValues(base);
  return obj;
}

function hasEscape(from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (jBuf[i] === 0x5c) return true;
  return false;
}

function fastArray(depth: number): JsonValue[] {
  if (depth >= MAX_FAST_DEPTH) throw BAIL;
  jPos++;
  const arr: JsonValue[] = [];
  skipSpace();
  if (jPos < jEnd && jBuf[jPos] === 0x5d) {
    jPos++;
    return arr;
  }
  for (;;) {
    arr.push(fastValue(depth + 1));
    skipSpace();
    if (jPos >= jEnd) throw BAIL;
    const c = jBuf[jPos++];
    if (c === 0x5d) return arr;
    if (c !== 0x2c) throw BAIL;
  }
}

function fastString(): string {
  const buf = jBuf;
  const end = jEnd;
  const start = ++jPos;
  let p = start;
  let h = 0;
  for (;;) {
    if (p >= end) throw BAIL;
    const c = buf[p];
    if (c === 0x22) break;
    if (c === 0x5c) return escapedString(start);
    // Control characters are invalid; non-ASCII needs UTF-8 decoding.
    if (c < 0x20 || c >= 0x80) throw BAIL;
    h = (Math.imul(h, 31) + c) | 0;
    p++;
  }
  jPos = p + 1;
  // Keys and short values repeat from event to event.
  return internAscii(buf, start, p, h ^ (p - start));
}

const ESCAPED: Record<number, string> = {
  0x22: '"',
  0x5c: "\\",
  0x2f: "/",
  0x62: "\b",
  0x66: "\f",
  0x6e: "\n",
  0x72: "\r",
  0x74: "\t",
};

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  throw BAIL;
}

// A string with backslash escapes (Python's `\uXXXX` for non-ASCII).
function escapedString(start: number): string {
  const buf = jBuf;
  const end = jEnd;
  const units: number[] = [];
  let p = start;
  for (;;) {
    if (p >= end) throw BAIL;
    const c = buf[p++];
    if (c === 0x22) break;
    if (c < 0x20 || c >= 0x80) throw BAIL;
    if (c !== 0x5c) {
      units.push(c);
      continue;
    }
    if (p >= end) throw BAIL;
    const e = buf[p++];
    if (e === 0x75) {
      if (p + 4 > end) throw BAIL;
      units.push(
        (hexDigit(buf[p]) << 12) | (hexDigit(buf[p + 1]) << 8) |
          (hexDigit(buf[p + 2]) << 4) | hexDigit(buf[p + 3]),
      );
      p += 4;
    } else {
      const s = ESCAPED[e];
      if (s === undefined) throw BAIL;
      units.push(s.charCodeAt(0));
    }
  }
  jPos = p;
  let s = "";
  for (let i = 0; i < units.length; i += 4096) {
    s += String.fromCharCode.apply(null, units.slice(i, i + 4096));
  }
  return s;
}

function fastNumber(): number {
  const buf = jBuf;
  const end = jEnd;
  const start = jPos;
  let p = start;
  const negative = buf[p] === 0x2d;
  if (negative) p++;
  if (p >= end) throw BAIL;
  let mantissa = 0;
  let digits = 0;
  let c = buf[p];
  if (c === 0x30) {
    p++;
  } else if (c >= 0x31 && c <= 0x39) {
    while (p < end && (c = buf[p]) >= 0x30 && c <= 0x39) {
      mantissa = mantissa * 10 + (c - 0x30);
      digits++;
      p++;
    }
    // 16+ integer digits may need a bigint or overflow: JSON.parse's path.
    if (digits > 15) throw BAIL;
  } else {
    throw BAIL;
  }
  let scale = 0;
  let exact = true;
  if (p < end && buf[p] === 0x2e) {
    p++;
    const fracStart = p;
    while (p < end && (c = buf[p]) >= 0x30 && c <= 0x39) {
      if (digits < 15) {
        mantissa = mantissa * 10 + (c - 0x30);
        if (mantissa !== 0) digits++;
        scale--;
      } else {
        exact = false;
      }
      p++;
    }
    if (p === fracStart) throw BAIL;
  }
  if (p < end && (buf[p] | 0x20) === 0x65) {
    p++;
    let expNegative = false;
    if (p < end && (buf[p] === 0x2b || buf[p] === 0x2d)) {
      expNegative = buf[p] === 0x2d;
      p++;
    }
    const expStart = p;
    let exp = 0;
    while (p < end && (c = buf[p]) >= 0x30 && c <= 0x39) {
      exp = exp * 10 + (c - 0x30);
      p++;
    }
    // No digits is invalid; 3+ digits may overflow: JSON.parse's path.
    if (p === expStart || p - expStart > 2) throw BAIL;
    scale += expNegative ? -exp : exp;
  }
  jPos = p;
  let v: number;
  if (exact && scale === 0) {
    v = mantissa;
  } else if (exact && scale > 0 && scale <= 22) {
    v = mantissa * POW10[scale];
  } else if (exact && scale < 0 && scale >= -22) {
    v = mantissa / POW10[-scale];
  } else {
    return Number(
      String.fromCharCode.apply(
        null,
        buf.subarray(start, p) as unknown as number[],
      ),
    );
  }
  return negative ? -v : v;
}
