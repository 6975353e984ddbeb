/**
 * Events as JSON text, exactly: the format of the CLI's output lines, for
 * logs, files and HTTP bodies, read back to the same event.
 *
 * `JSON.stringify` cannot write an event (timestamp seconds beyond 2^53
 * are `bigint`, so are JSON payload integers beyond 2^53, and binary
 * payloads are bytes), and `JSON.parse` would round what it reads back.
 *
 * The format, one object per event, keys in this order:
 *
 * ```json
 * {"id":{"server":1,"session":2,"instance":1},"type":["a","b"],
 *  "timestamp":{"iso":"2023-11-14T22:13:20.000000Z","s":1700000000,"us":0},
 *  "sourceTimestamp":null,
 *  "payload":{"kind":"json","data":{"value":21.5}}}
 * ```
 *
 * - `timestamp` and `sourceTimestamp` (or `null`): `s` is a JSON integer
 *   when it is a safe integer and a decimal string beyond (the reference's
 *   ±2^63 sentinels: `"9223372036854775807"`), so that `JSON.parse` users
 *   keep it exact; `us` the microseconds; `iso` the same instant as
 *   ISO-8601 UTC text with microseconds, for people (`null` outside the
 *   range of `Date`). Reading, `iso` may be left out and is ignored: `s`
 *   and `us` are the value.
 * - `payload`: `null`; `{"kind":"json","data":VALUE}` with integers beyond
 *   2^53 written exactly, digit for digit; or
 *   `{"kind":"binary","type":T,"base64":B64}` (or `"hex":HEX` instead of
 *   `"base64"`, as the writer is told; the reader takes either).
 *
 * @module
 */

import {
  JsonPayloadError,
  type JsonValue,
  parseJsonText,
} from "../json/mod.ts";
import { assertTimestamp, normalizeSeconds } from "./timestamp.ts";
import type { Event, EventPayload, Timestamp } from "./types.ts";

/** How the bytes of a binary payload are written in JSON. */
export type BinaryEncoding = "base64" | "hex";

/** Options of {@linkcode eventToJson}. */
export interface EventToJsonOptions {
  /**
   * Encoding of binary payload bytes, which also names their field
   * (default `"base64"`).
   */
  binaryEncoding?: BinaryEncoding;
}

const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown })
  .rawJSON;

/**
 * Writes an event as one line of JSON text (no newline), exactly:
 * {@linkcode eventFromJson} reads it back to an equal event. Timestamp
 * seconds beyond 2^53 are written as decimal strings and JSON payload
 * integers beyond 2^53 as exact JSON integers; see the module
 * documentation for the format. To put events inside a larger JSON
 * document, wrap each in `JSON.rawJSON`.
 *
 * @param event The event.
 * @param options How binary payloads are encoded.
 * @returns The JSON text.
 * @throws {JsonPayloadError} When the JSON payload holds a value JSON
 *   cannot carry (NaN, an infinity, `undefined`, a function, a cycle).
 * @example
 * ```ts
 * import { eventFromJson, eventToJson } from "@hat/eventer";
 * import { MAX_TIMESTAMP } from "@hat/eventer/timestamp";
 * import assert from "node:assert/strict";
 * const event = {
 *   id: { server: 1, session: 2, instance: 1 },
 *   type: ["a", "b"],
 *   timestamp: MAX_TIMESTAMP,
 *   sourceTimestamp: null,
 *   payload: { kind: "json" as const, data: { big: 2n ** 64n } },
 * };
 * const text = eventToJson(event);
 * assert.match(text, /"s":"9223372036854775807"/);
 * assert.match(text, /"data":\{"big":18446744073709551616\}/);
 * assert.deepEqual(eventFromJson(text), event);
 * ```
 */
export function eventToJson(
  event: Event,
  options?: EventToJsonOptions,
): string {
  const { id, payload } = event;
  return JSON.stringify({
    id: { server: id.server, session: id.session, instance: id.instance },
    type: event.type,
    timestamp: timestampJson(event.timestamp),
    sourceTimestamp: event.sourceTimestamp &&
      timestampJson(event.sourceTimestamp),
    payload: payloadJson(payload, options?.binaryEncoding ?? "base64"),
  });
}

function timestampJson(t: Timestamp): Record<string, unknown> {
  return {
    iso: isoText(t),
    s: typeof t.s === "bigint" ? t.s.toString() : t.s,
    us: t.us,
  };
}

/** ISO-8601 UTC text with microseconds; null outside the range of `Date`. */
function isoText(t: Timestamp): string | null {
  const ms = Number(t.s) * 1000;
  if (!(Math.abs(ms) <= 8.64e15)) return null;
  const text = new Date(ms).toISOString();
  return `${text.slice(0, -5)}.${String(t.us).padStart(6, "0")}Z`;
}

function payloadJson(
  payload: EventPayload | null,
  binary: BinaryEncoding,
): unknown {
  if (payload === null) return null;
  if (payload.kind === "json") {
    return { kind: "json", data: exact(payload.data, new Set()) };
  }
  return {
    kind: "binary",
    type: payload.type,
    [binary]: binary === "hex" ? payload.data.toHex() : payload.data.toBase64(),
  };
}

/**
 * `value` ready for `JSON.stringify`: bigints (and -0) as raw JSON
 * numbers, objects without a prototype so a `__proto__` key stays a key,
 * and everything JSON would silently drop or turn into `null` refused.
 */
function exact(value: JsonValue, path: Set<object>): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "bigint":
      return rawJSON(value.toString());
    case "number":
      if (!Number.isFinite(value)) {
        throw new JsonPayloadError(`JSON payload holds ${value}`);
      }
      return Object.is(value, -0) ? rawJSON("-0") : value;
    case "object": {
      if (value === null) return null;
      if (path.has(value)) {
        throw new JsonPayloadError("JSON payload holds a cycle");
      }
      path.add(value);
      let copy: unknown;
      if (Array.isArray(value)) {
        copy = value.map((v) => exact(v, path));
      } else {
        const o: Record<string, unknown> = Object.create(null);
        for (const [k, v] of Object.entries(value)) o[k] = exact(v, path);
        copy = o;
      }
      path.delete(value);
      return copy;
    }
  }
  throw new JsonPayloadError(`JSON payload holds a ${typeof value}`);
}

/**
 * Reads an event written by {@linkcode eventToJson} (the CLI's lines).
 * Give it the text: integers beyond 2^53 then stay exact (JSON payload
 * integers as `bigint`, timestamp seconds as `bigint` whether written as
 * strings or as integers). A value already parsed with `JSON.parse` is
 * accepted too, with whatever that parse rounded.
 *
 * `iso` fields may be left out and are ignored; `sourceTimestamp` and
 * `payload` may be left out for `null`; any other field missing, of the
 * wrong kind or unknown is an error naming it.
 *
 * @param json The JSON text of one event, or its parsed value.
 * @returns The event, with a fresh `type` array and fresh payload bytes.
 * @throws {SyntaxError} When the text is not JSON.
 * @throws {TypeError} When the value is not an event in this format,
 *   naming the field (e.g. `timestamp.us`).
 * @example
 * ```ts
 * import { eventFromJson } from "@hat/eventer";
 * import assert from "node:assert/strict";
 * const event = eventFromJson(
 *   '{"id":{"server":1,"session":2,"instance":1},"type":["a"],' +
 *     '"timestamp":{"s":1700000000,"us":0},' +
 *     '"payload":{"kind":"json","data":12345678901234567890}}',
 * );
 * assert.equal(event.payload?.data, 12345678901234567890n);
 * assert.equal(event.sourceTimestamp, null);
 * assert.throws(
 *   () => eventFromJson('{"id":{"server":1,"session":2,"instance":1},"type":["a"],"timestamp":{"s":1,"us":-1}}'),
 *   /timestamp\.us/,
 * );
 * ```
 */
export function eventFromJson(json: string | object): Event {
  const value = typeof json === "string" ? parseJsonText(json) : json;
  const o = record(value, "event", [
    "id",
    "type",
    "timestamp",
    "sourceTimestamp",
    "payload",
  ]);
  const id = record(o.id, "id", ["server", "session", "instance"]);
  return {
    id: {
      server: safeInteger(id.server, "id.server"),
      session: safeInteger(id.session, "id.session"),
      instance: safeInteger(id.instance, "id.instance"),
    },
    type: eventType(o.type),
    timestamp: timestamp(o.timestamp, "timestamp"),
    sourceTimestamp: o.sourceTimestamp == null
      ? null
      : timestamp(o.sourceTimestamp, "sourceTimestamp"),
    payload: o.payload == null ? null : payload(o.payload),
  };
}

type Fields = Record<string, unknown>;

/** `value` as an object with no keys but `keys`. */
function record(value: unknown, field: string, keys: string[]): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${field} must be an object, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new TypeError(
        `unknown field ${field === "event" ? "" : `${field}.`}${key}`,
      );
    }
  }
  return value as Fields;
}

function safeInteger(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new TypeError(
      `${field} must be an integer in [-(2^53 - 1), 2^53 - 1], got ${
        describe(value)
      }`,
    );
  }
  return value;
}

function eventType(value: unknown): string[] {
  if (!Array.isArray(value)) {
    throw new TypeError(`type must be an array, got ${describe(value)}`);
  }
  const i = value.findIndex((s) => typeof s !== "string");
  if (i >= 0) {
    throw new TypeError(
      `type[${i}] must be a string, got ${describe(value[i])}`,
    );
  }
  return [...value];
}

const DECIMAL = /^-?\d+$/;

function timestamp(value: unknown, field: string): Timestamp {
  const o = record(value, field, ["iso", "s", "us"]);
  if (o.iso !== undefined && o.iso !== null && typeof o.iso !== "string") {
    throw new TypeError(
      `${field}.iso must be a string or null, got ${describe(o.iso)}`,
    );
  }
  let s = o.s;
  if (typeof s === "string" && DECIMAL.test(s)) s = BigInt(s);
  if (typeof s !== "bigint" && !Number.isInteger(s)) {
    throw new TypeError(
      `${field}.s must be an integer or a decimal string, got ${describe(s)}`,
    );
  }
  const t = { s: normalizeSeconds(s as number | bigint), us: o.us };
  try {
    assertTimestamp(t);
  } catch (e) {
    const us = /microseconds/.test((e as Error).message);
    throw new TypeError(
      us
        ? `${field}.us must be an integer in [0, 1000000), got ${
          describe(o.us)
        }`
        : `${field}.s must be in [-2^63, 2^63 - 1], got ${describe(o.s)}`,
    );
  }
  return t;
}

function payload(value: unknown): EventPayload {
  const kind = (value as Fields | null)?.kind;
  if (kind === "json") {
    const o = record(value, "payload", ["kind", "data"]);
    if (!Object.hasOwn(o, "data")) {
      throw new TypeError("payload.data is missing");
    }
    return { kind: "json", data: o.data as JsonValue };
  }
  if (kind !== "binary") {
    record(value, "payload", ["kind"]);
    throw new TypeError(
      `payload.kind must be "json" or "binary", got ${describe(kind)}`,
    );
  }
  const o = record(value, "payload", ["kind", "type", "base64", "hex"]);
  if (typeof o.type !== "string") {
    throw new TypeError(
      `payload.type must be a string, got ${describe(o.type)}`,
    );
  }
  const encodings = (["base64", "hex"] as const).filter((k) =>
    Object.hasOwn(o, k)
  );
  if (encodings.length !== 1) {
    throw new TypeError(
      "a binary payload needs exactly one of payload.base64 and payload.hex",
    );
  }
  const encoding = encodings[0];
  const text = o[encoding];
  let data: Uint8Array | null = null;
  if (typeof text === "string") {
    try {
      data = encoding === "hex"
        ? Uint8Array.fromHex(text)
        : Uint8Array.fromBase64(text);
    } catch {
      data = null;
    }
  }
  if (data === null) {
    throw new TypeError(
      `payload.${encoding} must be a ${encoding} string, got ${describe(text)}`,
    );
  }
  return { kind: "binary", type: o.type, data };
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object" && value !== null) return "an object";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
