/**
 * JSON payload text, as Python peers write and read it.
 *
 * The reference writes payloads with `json.dumps` defaults: `", "` and
 * `": "` separators and non-ASCII escaped as `\uXXXX`. Writing the same
 * text keeps our bytes identical to the reference's for the same value.
 *
 * @module
 */

import type { JsonValue } from "./types.ts";
import { internAscii, type Reader, Writer } from "./sbs.ts";
import { WriteSlots } from "./write_slots.ts";

/** Error for a value that has no JSON text (NaN, Infinity, a cycle, a function). */
export class JsonPayloadError extends TypeError {
  /**
   * Create the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "JsonPayloadError";
  }
}

const MAX_DEPTH = 1000;
// The first keys of objects at the first depths, kept as bytes (see
// WriteSlots).
const KEY_DEPTHS = 8;
const KEY_INDEXES = 16;
const keySlots = new WriteSlots(KEY_DEPTHS * KEY_INDEXES);
// Their string values, by the same slots.
const valueSlots = new WriteSlots(KEY_DEPTHS * KEY_INDEXES);
const HEX = "0123456789abcdef";
// Escape for each ASCII code: "" means the byte is written as is.
const ESCAPES: string[] = [];
for (let c = 0; c < 0x80; c++) {
  ESCAPES.push(
    c < 0x20 || c === 0x7f
      ? "\\u00" + HEX[c >> 4] + HEX[c & 15]
      : c === 0x22
      ? '\\"'
      : c === 0x5c
      ? "\\\\"
      : "",
  );
}
// 1 for the ASCII codes written as they are.
const PLAIN = new Uint8Array(0x10000);
for (let c = 0; c < 0x80; c++) if (ESCAPES[c] === "") PLAIN[c] = 1;
ESCAPES[0x08] = "\\b";
ESCAPES[0x09] = "\\t";
ESCAPES[0x0a] = "\\n";
ESCAPES[0x0c] = "\\f";
ESCAPES[0x0d] = "\\r";

/**
 * Write `value` as the SBS String holding its JSON text.
 *
 * @throws {JsonPayloadError} For NaN, infinities, cycles and non-JSON values.
 */
export function writeJsonText(w: Writer, value: JsonValue): void {
  // A one-byte length first (texts under 64 bytes), set directly after;
  // longer texts move up for theirs (endLength).
  if (w.pos >= w.buf.length) w.ensure(1);
  const at = w.pos++;
  writeValue(w, value, 0);
  const len = w.pos - at - 1;
  if (len < 64) w.buf[at] = 0x80 | len;
  else w.endLength(at * 8 + 1);
}

/** JSON text of `value` in the reference's format (`json.dumps` defaults). */
export function jsonText(value: JsonValue): string {
  const w = new Writer(64);
  writeValue(w, value, 0);
  return latin1.decode(w.bytes());
}

const latin1 = new TextDecoder("latin1");
const hasOwnProperty = Object.prototype.hasOwnProperty;

function writeAscii(w: Writer, s: string): void {
  const len = s.length;
  w.ensure(len);
  const buf = w.buf;
  const pos = w.pos;
  for (let i = 0; i < len; i++) buf[pos + i] = s.charCodeAt(i);
  w.pos = pos + len;
}

function writeNumber(w: Writer, v: number): void {
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
    // m gives m / 10^k === a. String(v) costs ~60 ns; this ~2.
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

function writeBoolean(w: Writer, v: boolean): void {
  // "true" / "fals" + "e" as little-endian words.
  if (w.pos + 8 > w.buf.length) w.ensure(8);
  const p = w.pos;
  if (v) {
    w.view.setUint32(p, 0x65757274, true);
    w.pos = p + 4;
  } else {
    w.view.setUint32(p, 0x736c6166, true);
    w.buf[p + 4] = 0x65;
    w.pos = p + 5;
  }
}

function writeNull(w: Writer): void {
  if (w.pos + 4 > w.buf.length) w.ensure(4);
  w.view.setUint32(w.pos, 0x6c6c756e, true); // "null"
  w.pos += 4;
}

function writeValue(w: Writer, v: unknown, depth: number): void {
  switch (typeof v) {
    case "string":
      writeString(w, v);
      return;
    case "number":
      writeNumber(w, v);
      return;
    case "boolean":
      writeBoolean(w, v);
      return;
    case "bigint":
      writeAscii(w, v.toString());
      return;
    case "object": {
      if (v === null) {
        writeNull(w);
        return;
      }
      if (depth >= MAX_DEPTH) {
        throw new JsonPayloadError("JSON payload nested too deep (or cyclic)");
      }
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") {
        writeValue(w, toJSON.call(v), depth + 1);
        return;
      }
      if (Array.isArray(v)) {
        w.byte(0x5b);
        for (let i = 0; i < v.length; i++) {
          if (i) {
            w.byte(0x2c);
            w.byte(0x20);
          }
          const item = v[i];
          if (item === undefined || typeof item === "function") {
            writeNull(w);
          } else {
            writeValue(w, item, depth + 1);
          }
        }
        w.byte(0x5d);
        return;
      }
      w.byte(0x7b);
      let index = 0;
      // for-in with hasOwnProperty.call: V8 checks own keys against the
      // enum cache, several times cheaper than Object.keys or Object.hasOwn.
      for (const key in v) {
        if (!hasOwnProperty.call(v, key)) continue;
        const item = (v as Record<string, unknown>)[key];
        if (item === undefined || typeof item === "function") continue;
        // The separator and the key (`, "key": `) from its slot: the key
        // written at this depth and index last time, most often this one.
        const slot = depth < KEY_DEPTHS && index < KEY_INDEXES
          ? depth * KEY_INDEXES + index
          : -1;
        if (slot < 0 || !keySlots.write(w, slot, key)) {
          const start = w.pos;
          if (index !== 0) {
            w.byte(0x2c);
            w.byte(0x20);
          }
          writeKey(w, key);
          if (slot >= 0) keySlots.remember(w, slot, key, start);
        }
        index++;
        if (typeof item === "string" && slot >= 0) {
          // String values repeat at their place too (`"good"`).
          if (!valueSlots.write(w, slot, item)) {
            const start = w.pos;
            writeString(w, item);
            valueSlots.remember(w, slot, item, start);
          }
        } else if (typeof item === "number") {
          writeNumber(w, item);
        } else if (typeof item === "boolean") {
          writeBoolean(w, item);
        } else {
          writeValue(w, item, depth + 1);
        }
      }
      w.byte(0x7d);
      return;
    }
    default:
      throw new JsonPayloadError(`JSON payload cannot hold a ${typeof v}`);
  }
}

// `"key": `, for keys that need no escaping (nearly all).
function writeKey(w: Writer, key: string): void {
  const len = key.length;
  w.ensure(len + 4);
  const buf = w.buf;
  const pos = w.pos;
  for (let i = 0; i < len; i++) {
    const c = key.charCodeAt(i);
    if (PLAIN[c] !== 1) {
      writeString(w, key);
      w.byte(0x3a);
      w.byte(0x20);
      return;
    }
    buf[pos + 1 + i] = c;
  }
  buf[pos] = 0x22;
  buf[pos + len + 1] = 0x22;
  buf[pos + len + 2] = 0x3a;
  buf[pos + len + 3] = 0x20;
  w.pos = pos + len + 4;
}

function writeString(w: Writer, s: string): void {
  const len = s.length;
  // Worst case 6 bytes per UTF-16 unit (\uXXXX), plus quotes.
  w.ensure(len * 6 + 2);
  const buf = w.buf;
  let pos = w.pos;
  buf[pos++] = 0x22;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (PLAIN[c] === 1) {
      buf[pos++] = c;
    } else if (c < 0x80) {
      const esc = ESCAPES[c];
      for (let j = 0; j < esc.length; j++) buf[pos++] = esc.charCodeAt(j);
    } else {
      buf[pos++] = 0x5c;
      buf[pos++] = 0x75;
      buf[pos++] = HEX.charCodeAt(c >> 12);
      buf[pos++] = HEX.charCodeAt((c >> 8) & 15);
      buf[pos++] = HEX.charCodeAt((c >> 4) & 15);
      buf[pos++] = HEX.charCodeAt(c & 15);
    }
  }
  buf[pos++] = 0x22;
  w.pos = pos;
}

function bigintReviver(
  _key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  if (
    typeof value === "number" && !Number.isSafeInteger(value) &&
    context?.source !== undefined && /^-?\d+$/.test(context.source)
  ) {
    return BigInt(context.source);
  }
  return value;
}

// A number can overflow to ±Infinity only with a 3-digit exponent or a
// 309+ digit run (which has a 16+ digit run). JSON cannot carry Infinity back out, so such a payload
// would be accepted here and then refused by every encoder (found by
// fuzzing: `-32E5011537189626`).
const NEEDS_REVIVER = /\d{16}|[eE][+-]?\d{3}/;

function finiteReviver(
  key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  const v = bigintReviver(key, value, context);
  if (typeof v === "number" && !Number.isFinite(v)) {
    const source = String(context?.source ?? v);
    throw new SyntaxError(`JSON number ${source.slice(0, 32)} overflows`);
  }
  return v;
}

/**
 * Parse JSON payload text. Integers beyond 2^53 - 1 become `bigint`
 * instead of silently rounded numbers.
 *
 * @throws {SyntaxError} When the text is not JSON, or holds a number
 * beyond the float range (which no JSON encoder could write back).
 */
export function parseJsonText(text: string): JsonValue {
  // Only texts with a 16+ digit run or a 3-digit exponent can hold an
  // unsafe integer or an overflowing number; the checking reviver costs
  // several times a plain parse, so one scan decides whether to pay it.
  return NEEDS_REVIVER.test(text)
    ? JSON.parse(text, finiteReviver as (k: string, v: unknown) => unknown)
    : JSON.parse(text);
}

// ------------------------------------------------------- parsing from bytes

// Cursor of the byte parser below (module state: the parser never yields).
// `var`, not `let`: module-level `let` costs a hole check on each access,
// which this hot loop notices (~7% of a JSON payload's decoding).
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
const MAX_FAST_DEPTH = 64;

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
// interning) and built by one object literal, several times cheaper than
// a keyed store per property. Where one shape repeats at a nesting depth
// (a batch of payloads of one kind), the next object there is matched
// against it whole first: its separators and keys compared as one run of
// bytes per value, with no lookup per key.
interface Shape {
  /** The last key of this path ("" at the root). */
  readonly key: string;
  /** Its (ASCII) bytes and closing quote, for matching input. */
  readonly quoted: Uint8Array;
  /** Keys of the path, in order. */
  readonly keys: readonly string[];
  /** Paths one key longer (a few: the rest take the general path). */
  readonly next: Shape[];
  /** Objects of exactly these keys parsed before `make` was decided. */
  seen: number;
  /** The literal building such objects: undefined until built, null if it cannot be. */
  make: ((values: JsonValue[], base: number) => JsonObject) | null | undefined;
  /**
   * With `make`: the bytes before each value as json.dumps writes them,
   * `{"k0": ` and then `, "k1": ` and so on, for matching a whole object.
   */
  seps: Uint8Array[] | null;
  /**
   * With `seps`: each one as words, as storeWords lays them out. Every
   * separator is at least 5 bytes (`{"": `).
   */
  sepWords: Uint32Array[] | null;
  /**
   * With `seps`: per key, the string its value was the last time it was
   * a string of 4 to {@linkcode VALUE_BYTES} bytes with its quotes
   * (else null), those bytes as words (`VALUE_WORDS` per key, as
   * `sepWords` lays them out) and their count. The same value comes back
   * payload after payload (`"good"`): compared as words, it needs neither
   * hashing nor a lookup.
   */
  valueStrings: (string | null)[] | null;
  valueWords: Uint32Array | null;
  valueLengths: Uint8Array | null;
  /** Per key, its string values that were not the remembered one in a row. */
  valueMisses: Uint8Array | null;
}

type JsonObject = { [key: string]: JsonValue };

const MAX_SHAPES = 1024;
const MAX_SHAPE_KEYS = 32;
const MAX_SHAPE_NEXT = 8;
// A shape's remembered string values (see Shape.valueStrings).
const VALUE_BYTES = 32;
const VALUE_WORDS = VALUE_BYTES / 4;
const VALUE_MISSES = 4;
// Built after this many objects of the shape: one-off shapes never compile.
const SHAPE_BUILD_AFTER = 4;
const ROOT_SHAPE: Shape = {
  key: "",
  quoted: new Uint8Array([0x22]),
  keys: [],
  next: [],
  seen: 0,
  make: null,
  seps: null,
  sepWords: null,
  valueStrings: null,
  valueWords: null,
  valueLengths: null,
  valueMisses: null,
};
let shapeCount = 0;

// Per nesting depth, the shape that objects there had the last times, when
// it was the same twice in a row: the next object at that depth is first
// matched against it whole (see wholeObject).
const hotShapes: (Shape | null)[] = [];
const lastShapes: (Shape | null)[] = [];

// Keys and values of the objects being parsed (nested ones stacked above
// their parents'); cleared as each object is built.
const keyStack: string[] = [];
const valueStack: JsonValue[] = [];
// deno-lint-ignore no-var
var stackTop = 0;

function nextShape(shape: Shape, key: string): Shape | null {
  if (
    shape.next.length >= MAX_SHAPE_NEXT || shapeCount >= MAX_SHAPES ||
    shape.keys.length >= MAX_SHAPE_KEYS
  ) return null;
  shapeCount++;
  const quoted = new Uint8Array(key.length + 1);
  for (let i = 0; i < key.length; i++) quoted[i] = key.charCodeAt(i);
  quoted[key.length] = 0x22;
  const next: Shape = {
    key,
    quoted,
    keys: [...shape.keys, key],
    next: [],
    seen: 0,
    make: undefined,
    seps: null,
    sepWords: null,
    valueStrings: null,
    valueWords: null,
    valueLengths: null,
    valueMisses: null,
  };
  shape.next.push(next);
  return next;
}

// `{"k0": v[b], "k1": v[b + 1], ...}`. Keys here are printable ASCII
// without quotes or backslashes (interned by fastString), so
// JSON.stringify quotes them as JS string literals. "__proto__" in a
// literal would set the prototype, and a repeated key is left to the
// general path for clarity: neither gets a literal.
function buildShape(keys: readonly string[]): Shape["make"] {
  if (new Set(keys).size !== keys.length || keys.includes("__proto__")) {
    return null;
  }
  const fields = keys.map((k, i) => `${JSON.stringify(k)}: v[b + ${i}]`);
  try {
    return new Function("v", "b", `return {${fields.join(", ")}};`) as Shape[
      "make"
    ];
  } catch {
    return null; // code generation disallowed: the general path serves
  }
}

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
  const seps = shape.seps!;
  const sepWords = shape.sepWords!;
  const start = jPos;
  const base = stackTop;
  for (let i = 0; i < seps.length; i++) {
    const n = seps[i].length;
    const words = sepWords[i];
    const p = jPos;
    // The last word first: it holds the key's end and `": `.
    if (p + n > jEnd || !wordsMatch(p, n, words, 0)) {
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
  const obj = shape.make!(valueStack, base);
  popValues(base);
  return obj;
}

// Bytes of `n` >= 4 as little-endian 32-bit words: those at offsets 0, 4,
// ... before the last 4 bytes, then the word of the last 4 bytes
// (overlapping the one before it when `n` is not a multiple of 4).
function storeWords(
  view: DataView,
  at: number,
  n: number,
  words: Uint32Array,
  o: number,
): void {
  for (let x = 0; x + 4 < n; x += 4) words[o++] = view.getUint32(at + x, true);
  words[o] = view.getUint32(at + n - 4, true);
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

function buildSeps(keys: readonly string[]): Uint8Array[] {
  return keys.map((key, i) => {
    const text = (i === 0 ? "{" : ", ") + JSON.stringify(key) + ": ";
    return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
  });
}

function buildSepWords(seps: readonly Uint8Array[]): Uint32Array[] {
  return seps.map((sep) => {
    const words = new Uint32Array(((sep.length - 1) >> 2) + 1);
    storeWords(new DataView(sep.buffer), sep.byteOffset, sep.length, words, 0);
    return words;
  });
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
    obj = shape.make(valueStack, base);
    if (lastShapes[depth] === shape) hotShapes[depth] = shape;
    else lastShapes[depth] = shape;
  } else {
    if (shape !== null && shape.make === undefined) {
      if (++shape.seen >= SHAPE_BUILD_AFTER) {
        shape.make = buildShape(shape.keys);
        if (shape.make) {
          shape.seps = buildSeps(shape.keys);
          shape.sepWords = buildSepWords(shape.seps);
          shape.valueStrings = shape.keys.map(() => null);
          shape.valueWords = new Uint32Array(shape.keys.length * VALUE_WORDS);
          shape.valueLengths = new Uint8Array(shape.keys.length);
          shape.valueMisses = new Uint8Array(shape.keys.length);
        }
      }
    }
    obj = {};
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
