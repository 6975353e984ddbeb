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
import { Writer } from "./sbs.ts";

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
  const mark = w.beginLength(16);
  writeValue(w, value, 0);
  w.endLength(mark);
}

/** JSON text of `value` in the reference's format (`json.dumps` defaults). */
export function jsonText(value: JsonValue): string {
  const w = new Writer(64);
  writeValue(w, value, 0);
  return latin1.decode(w.bytes());
}

const latin1 = new TextDecoder("latin1");

function writeAscii(w: Writer, s: string): void {
  for (let i = 0; i < s.length; i++) w.byte(s.charCodeAt(i));
}

function writeValue(w: Writer, v: unknown, depth: number): void {
  switch (typeof v) {
    case "string":
      writeString(w, v);
      return;
    case "number":
      if (!Number.isFinite(v)) {
        throw new JsonPayloadError(`JSON payload cannot hold ${v}`);
      }
      // String(2 ** 60) is "1152921504606847000": another integer to a
      // Python reader. Unsafe integral numbers are written exactly.
      writeAscii(
        w,
        Object.is(v, -0)
          ? "-0.0"
          : Number.isSafeInteger(v) || !Number.isInteger(v) ||
              Math.abs(v) >= 1e21
          ? String(v)
          : BigInt(v).toString(),
      );
      return;
    case "boolean":
      writeAscii(w, v ? "true" : "false");
      return;
    case "bigint":
      writeAscii(w, v.toString());
      return;
    case "object": {
      if (v === null) {
        writeAscii(w, "null");
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
            writeAscii(w, "null");
          } else {
            writeValue(w, item, depth + 1);
          }
        }
        w.byte(0x5d);
        return;
      }
      w.byte(0x7b);
      let first = true;
      for (const key in v) {
        if (!Object.hasOwn(v, key)) continue;
        const item = (v as Record<string, unknown>)[key];
        if (item === undefined || typeof item === "function") continue;
        if (!first) {
          w.byte(0x2c);
          w.byte(0x20);
        }
        first = false;
        writeString(w, key);
        w.byte(0x3a);
        w.byte(0x20);
        writeValue(w, item, depth + 1);
      }
      w.byte(0x7d);
      return;
    }
    default:
      throw new JsonPayloadError(`JSON payload cannot hold a ${typeof v}`);
  }
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
    if (c < 0x80) {
      const esc = ESCAPES[c];
      if (esc === "") {
        buf[pos++] = c;
      } else {
        for (let j = 0; j < esc.length; j++) buf[pos++] = esc.charCodeAt(j);
      }
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
