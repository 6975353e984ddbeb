/**
 * JSON payload text, written as Python peers write it.
 *
 * The reference writes payloads with `json.dumps` defaults: `", "` and
 * `": "` separators and non-ASCII escaped as `\uXXXX`. Writing the same
 * text keeps our bytes identical to the reference's for the same value.
 *
 * @module
 */

import { Writer, WriteSlots } from "../sbs/mod.ts";
import { writeAscii, writeNumber } from "./_number.ts";
import { JsonPayloadError, type JsonValue } from "./value.ts";

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
  // One writer for every call, given up when a large value grew it; a
  // call from inside another (a toJSON method's) takes its own.
  if (scratchBusy) return textOf(new Writer(64), value);
  scratchBusy = true;
  try {
    scratch.reset();
    return textOf(scratch, value);
  } finally {
    scratchBusy = false;
    if (scratch.buf.length > SCRATCH_MAX_BYTES) scratch = new Writer(256);
  }
}

function textOf(w: Writer, value: JsonValue): string {
  writeValue(w, value, 0);
  return latin1.decode(w.bytes());
}

// Bytes the writer of jsonText keeps between calls, at most.
const SCRATCH_MAX_BYTES = 64 * 1024;
let scratch = new Writer(256);
let scratchBusy = false;

const latin1 = new TextDecoder("latin1");
const hasOwnProperty = Object.prototype.hasOwnProperty;

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
