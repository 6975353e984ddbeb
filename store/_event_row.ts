/**
 * Conversion between events and rows of the `events` table.
 *
 * @module
 */

import {
  type Event,
  type EventPayload,
  type EventType,
  JsonTextPayload,
  jsonTextPayloadUnchecked,
  timestampFromBytes,
} from "../common/event/mod.ts";
import { jsonText } from "../common/json/mod.ts";
import { EventLimitError, InvalidEventTypeError } from "./errors.ts";
import type { EventTypeTable } from "./_event_types.ts";

/** Columns of `events` that make up an event, in {@linkcode EventRow} order. */
export const EVENT_COLUMNS =
  "server, session, instance, type_id, t, source_t, payload_kind, payload_type, payload_data";

/**
 * A row of `events` as read with {@linkcode EVENT_COLUMNS}, as an array:
 * node:sqlite's row objects are slow to read (a property costs some
 * 100 ns, 20 times an array element), which a result of 100,000 events
 * pays for every column.
 */
export type EventRow = readonly [
  /** `id.server`. */
  server: number,
  /** `id.session`. */
  session: number,
  /** `id.instance`. */
  instance: number,
  /** Id in `event_types`. */
  typeId: number,
  /** `timestamp`, 12-byte form. */
  t: Uint8Array,
  /** `sourceTimestamp`, 12-byte form, or null. */
  sourceT: Uint8Array | null,
  /** Null: no payload; otherwise a {@linkcode PayloadKind}. */
  payloadKind: number | null,
  /** Binary payload type. */
  payloadType: string | null,
  /** Binary payload bytes, or JSON payload text. */
  payloadData: Uint8Array | string | null,
];

/** `payload_kind` values (the wire's EventPayload choice indices). */
export const PayloadKind = { binary: 0, json: 1 } as const;

/** Payload as bound to the `payload_*` columns. */
export type PayloadColumns = [
  kind: number | null,
  type: string | null,
  data: Uint8Array | string | null,
];

/** Limits on what one event may make the store keep. */
export interface EventLimits {
  /** Most segments of an event type. */
  maxEventTypeSegments: number;
  /** Most UTF-8 bytes of an event type's segments together. */
  maxEventTypeBytes: number;
  /** Most bytes of a payload: binary type and data, or JSON text. */
  maxPayloadBytes: number;
}

/**
 * Refuse an event type that has a query wildcard segment or exceeds the
 * limits.
 *
 * @throws {InvalidEventTypeError} For a `?` or `*` segment or a non-string.
 * @throws {EventLimitError} For too many segments or bytes.
 */
export function checkRegisterType(
  type: EventType,
  limits: EventLimits,
): void {
  if (!Array.isArray(type)) {
    throw new InvalidEventTypeError(type, "event type is not an array");
  }
  if (type.length > limits.maxEventTypeSegments) {
    throw new EventLimitError(
      "maxEventTypeSegments",
      limits.maxEventTypeSegments,
      `event type of ${type.length} segments`,
    );
  }
  // UTF-8 takes at most 3 bytes a UTF-16 unit: a type of few enough
  // units is within the limit without counting its bytes.
  let units = 0;
  // Indexed, not `for...of`: an iterator per type cost 30 ns of 70.
  for (let i = 0; i < type.length; i++) {
    const segment = type[i];
    if (typeof segment !== "string") {
      throw new InvalidEventTypeError(type, "event type segment not a string");
    }
    if (segment === "?" || segment === "*") {
      throw new InvalidEventTypeError(
        type,
        `event type ${JSON.stringify(type)} has a '${segment}' segment`,
      );
    }
    units += segment.length;
  }
  if (3 * units <= limits.maxEventTypeBytes) return;
  let bytes = 0;
  for (const segment of type as string[]) {
    bytes += utf8Length(segment, limits.maxEventTypeBytes - bytes + 1);
    if (bytes > limits.maxEventTypeBytes) {
      throw new EventLimitError(
        "maxEventTypeBytes",
        limits.maxEventTypeBytes,
        `event type of more than ${limits.maxEventTypeBytes} bytes`,
      );
    }
  }
}

/**
 * Refuse payload columns beyond `maxPayloadBytes`.
 *
 * @throws {EventLimitError} For a payload too large.
 */
export function checkPayloadSize(
  [, type, data]: PayloadColumns,
  maxPayloadBytes: number,
): void {
  // UTF-8 takes at most 3 bytes a UTF-16 unit: few enough units are
  // within the limit without counting their bytes.
  const units = (type?.length ?? 0) +
    (data instanceof Uint8Array ? data.byteLength : data?.length ?? 0);
  if (3 * units <= maxPayloadBytes) return;
  let bytes = type === null ? 0 : utf8Length(type, maxPayloadBytes + 1);
  if (data instanceof Uint8Array) bytes += data.byteLength;
  else if (data !== null) bytes += utf8Length(data, maxPayloadBytes + 1);
  if (bytes > maxPayloadBytes) {
    throw new EventLimitError(
      "maxPayloadBytes",
      maxPayloadBytes,
      `payload of more than ${maxPayloadBytes} bytes`,
    );
  }
}

/**
 * UTF-8 length of `s`, or some number >= `stop` once it is known to be at
 * least that.
 */
export function utf8Length(s: string, stop: number): number {
  if (s.length >= stop) return s.length;
  let n = 0;
  for (let i = 0; i < s.length && n < stop; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && isLowSurrogate(s, i + 1)) {
      // A surrogate pair: 4 bytes for 2 units.
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function isLowSurrogate(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0xdc00 && c < 0xe000;
}

/**
 * Column values of a payload. JSON is stored as its text: the text a
 * {@linkcode JsonTextPayload} arrived in, as it is, or else the value's
 * text in Python's `json.dumps` format (which keeps `bigint` integers
 * exact).
 *
 * @throws {JsonPayloadError} For a JSON value with no JSON text (NaN, ...).
 */
export function payloadColumns(
  payload: EventPayload | null | undefined,
): PayloadColumns {
  if (payload == null) return [null, null, null];
  if (payload.kind === "binary") {
    if (!(payload.data instanceof Uint8Array)) {
      throw new TypeError("binary payload data is not a Uint8Array");
    }
    return [PayloadKind.binary, String(payload.type), payload.data];
  }
  if (payload.kind === "json") {
    return [
      PayloadKind.json,
      null,
      payload instanceof JsonTextPayload
        ? payload.text
        : jsonText(payload.data),
    ];
  }
  throw new TypeError(`unknown payload kind ${(payload as EventPayload).kind}`);
}

/**
 * Event read back from a row; a JSON payload is a
 * {@linkcode JsonTextPayload} of the stored text.
 *
 * @param row The row.
 * @param types Event types of the database.
 * @param typeText The JSON text of the row's type, when read with it.
 */
export function eventFromRow(
  row: EventRow,
  types: EventTypeTable,
  typeText?: string,
): Event {
  return {
    id: { server: row[0], session: row[1], instance: row[2] },
    type: types.typeOf(row[3], typeText),
    timestamp: timestampFromBytes(row[4]),
    sourceTimestamp: row[5] === null ? null : timestampFromBytes(row[5]),
    payload: payloadFromRow(row[6], row[7], row[8]),
  };
}

function payloadFromRow(
  kind: number | null,
  type: string | null,
  data: Uint8Array | string | null,
): EventPayload | null {
  switch (kind) {
    case null:
      return null;
    case PayloadKind.binary:
      return { kind: "binary", type: type ?? "", data: data as Uint8Array };
    case PayloadKind.json:
      // As stored: written back as that text, parsed only when read.
      return jsonTextPayloadUnchecked(data as string);
    default:
      throw new Error(`unknown payload kind ${kind} in store`);
  }
}
