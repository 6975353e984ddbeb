/**
 * Checks of what a client is about to send: register events, query
 * parameters, query types and ids. Each check throws a `TypeError` (wrong
 * kind of value), a `RangeError` (a value out of range) or an
 * {@linkcode InvalidQueryTypeError}, naming the field and the value, e.g.
 * `events[3].sourceTimestamp.us must be an integer in [0, 1e6), got
 * 2000000`: a request is refused whole before anything of it is queued,
 * instead of reaching the wire and making the server drop the connection,
 * answer nothing, or answer nonsense.
 *
 * The register path checks every event of every request, so each check is
 * a predicate that allocates nothing for a valid value; the message is
 * only composed for an invalid one.
 *
 * @module
 */

import { InvalidQueryTypeError } from "./subscription.ts";
import type {
  EventId,
  EventType,
  QueryParams,
  RegisterEvent,
  Timestamp,
} from "./types.ts";

// The signed 64-bit range of seconds. As numbers, both bounds are exact
// (powers of two): -2^63 is the smallest valid number, 2^63 the smallest
// number above the range (2^63 - 1 has no number of its own).
const S_MIN = -(2n ** 63n);
const S_MAX = 2n ** 63n - 1n;
const S_MIN_NUMBER = -(2 ** 63);
const S_LIMIT_NUMBER = 2 ** 63;

const ORDERS = ["descending", "ascending"];
const ORDER_BYS = ["timestamp", "sourceTimestamp"];

/**
 * Checks a timestamp: `s` an integer in [-2^63, 2^63 - 1] (a `number`
 * whose value is an integer, e.g. `-(2 ** 63)`, or a `bigint`), `us` an
 * integer in [0, 1e6).
 *
 * @param t The value to check.
 * @param field Its name, for the message.
 * @throws {TypeError} When `t` is not an object or `s`/`us` are of the
 * wrong type.
 * @throws {RangeError} When `s` or `us` is not an integer in its range.
 * @example
 * ```ts
 * import { checkTimestamp } from "./check.ts";
 * import assert from "node:assert/strict";
 * checkTimestamp({ s: -(2 ** 63), us: 0 }, "tFrom");
 * assert.throws(() => checkTimestamp({ s: 1, us: 2e6 }, "tFrom"), RangeError);
 * ```
 */
export function checkTimestamp(
  t: unknown,
  field: string,
): asserts t is Timestamp {
  if (isTimestamp(t)) return;
  if (typeof t !== "object" || t === null) {
    throw new TypeError(
      `${field} must be a timestamp {s, us}, got ${describe(t)}`,
    );
  }
  const { s, us } = t as { s?: unknown; us?: unknown };
  if (typeof s !== "number" && typeof s !== "bigint") {
    throw new TypeError(
      `${field}.s must be a number or a bigint, got ${describe(s)}`,
    );
  }
  if (!isSeconds(s)) {
    throw new RangeError(
      `${field}.s must be an integer in [-2^63, 2^63 - 1], got ${describe(s)}`,
    );
  }
  if (typeof us !== "number") {
    throw new TypeError(`${field}.us must be a number, got ${describe(us)}`);
  }
  throw new RangeError(
    `${field}.us must be an integer in [0, 1e6), got ${describe(us)}`,
  );
}

/**
 * Checks the events of a register request: an array of objects, each with
 * an event type (an array of strings), an optional timestamp and an
 * optional payload of a known kind. JSON payload data is checked as it is
 * written (`JsonPayloadError`), before anything is queued too.
 *
 * @param events The value to check.
 * @throws {TypeError} For a value of the wrong type, naming it
 * (`events[2].type[0]`).
 * @throws {RangeError} For a source timestamp out of range.
 * @example
 * ```ts
 * import { checkRegisterEvents } from "./check.ts";
 * import assert from "node:assert/strict";
 * checkRegisterEvents([{ type: ["a", "b"] }]);
 * assert.throws(
 *   () => checkRegisterEvents([{ type: ["a"], sourceTimestamp: { s: 1, us: 2e6 } }]),
 *   /events\[0\]\.sourceTimestamp\.us/,
 * );
 * ```
 */
export function checkRegisterEvents(
  events: unknown,
): asserts events is readonly RegisterEvent[] {
  if (!Array.isArray(events)) {
    throw new TypeError(`events must be an array, got ${describe(events)}`);
  }
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (
      typeof e !== "object" || e === null || !isEventType(e.type) ||
      !(e.sourceTimestamp == null || isTimestamp(e.sourceTimestamp)) ||
      !(e.payload == null || isPayload(e.payload))
    ) {
      explainRegisterEvent(e, `events[${i}]`);
    }
  }
}

/**
 * Checks query parameters: their kind, query types, timestamp bounds,
 * order, `maxResults` (an integer >= 1) and ids.
 *
 * @param params The value to check.
 * @throws {TypeError} For a value of the wrong type, naming it
 * (`params.order`).
 * @throws {RangeError} For a timestamp, `maxResults` or id out of range.
 * @throws {InvalidQueryTypeError} For a query type with a `*` before its
 * last segment.
 * @example
 * ```ts
 * import { checkQueryParams } from "./check.ts";
 * import assert from "node:assert/strict";
 * checkQueryParams({ kind: "timeseries", eventTypes: [["a", "*"]] });
 * assert.throws(
 *   () => checkQueryParams({ kind: "server", serverId: 1, maxResults: -1 }),
 *   /params\.maxResults must be an integer >= 1, got -1/,
 * );
 * ```
 */
export function checkQueryParams(
  params: unknown,
): asserts params is QueryParams {
  if (typeof params !== "object" || params === null) {
    throw new TypeError(
      `params must be query parameters, got ${describe(params)}`,
    );
  }
  const p = params as Record<string, unknown>;
  switch (p.kind) {
    case "latest":
      checkOptionalQueryTypes(p.eventTypes, "params.eventTypes");
      return;
    case "timeseries":
      checkOptionalQueryTypes(p.eventTypes, "params.eventTypes");
      for (const name of ["tFrom", "tTo", "sourceTFrom", "sourceTTo"]) {
        if (p[name] != null) checkTimestamp(p[name], `params.${name}`);
      }
      checkChoice(p.order, ORDERS, "params.order");
      checkChoice(p.orderBy, ORDER_BYS, "params.orderBy");
      checkPage(p);
      return;
    case "server":
      checkId(p.serverId, "params.serverId");
      if (p.persisted !== undefined && typeof p.persisted !== "boolean") {
        throw new TypeError(
          `params.persisted must be a boolean, got ${describe(p.persisted)}`,
        );
      }
      checkPage(p);
      return;
    default:
      throw new TypeError(
        `params.kind must be "latest", "timeseries" or "server", got ${
          describe(p.kind)
        }`,
      );
  }
}

/**
 * Checks query types (a subscription's): each an array of strings whose
 * `*`, if any, is its last segment.
 *
 * @param types The query types.
 * @param field Their name, for the message.
 * @throws {TypeError} For a value of the wrong type, naming it.
 * @throws {InvalidQueryTypeError} For a `*` before a query type's end.
 */
export function checkQueryTypes(
  types: readonly unknown[],
  field: string,
): asserts types is readonly EventType[] {
  for (let i = 0; i < types.length; i++) {
    checkQueryType(types[i], `${field}[${i}]`);
  }
}

/**
 * Checks an id (a server id, or a part of an event id): a safe integer.
 *
 * @param value The value to check.
 * @param field Its name, for the message.
 * @throws {TypeError} When `value` is not a number.
 * @throws {RangeError} When it is not a safe integer.
 */
export function checkId(
  value: unknown,
  field: string,
): asserts value is number {
  if (Number.isSafeInteger(value)) return;
  if (typeof value !== "number") {
    throw new TypeError(`${field} must be a number, got ${describe(value)}`);
  }
  throw new RangeError(
    `${field} must be a safe integer, got ${describe(value)}`,
  );
}

function isTimestamp(t: unknown): boolean {
  if (typeof t !== "object" || t === null) return false;
  const us = (t as Timestamp).us;
  return typeof us === "number" && us >= 0 && us < 1e6 && (us | 0) === us &&
    isSeconds((t as Timestamp).s);
}

function isSeconds(s: unknown): boolean {
  if (typeof s === "number") {
    return (s | 0) === s ||
      (Number.isInteger(s) && s >= S_MIN_NUMBER && s < S_LIMIT_NUMBER);
  }
  return typeof s === "bigint" && s >= S_MIN && s <= S_MAX;
}

function isEventType(type: unknown): boolean {
  if (!Array.isArray(type)) return false;
  for (let i = 0; i < type.length; i++) {
    if (typeof type[i] !== "string") return false;
  }
  return true;
}

function isPayload(p: unknown): boolean {
  if (typeof p !== "object" || p === null) return false;
  const kind = (p as { kind?: unknown }).kind;
  if (kind === "json") return true;
  return kind === "binary" &&
    typeof (p as { type?: unknown }).type === "string" &&
    (p as { data?: unknown }).data instanceof Uint8Array;
}

// Throws what is wrong with a register event found invalid.
function explainRegisterEvent(e: unknown, field: string): never {
  if (typeof e !== "object" || e === null) {
    throw new TypeError(`${field} must be an object, got ${describe(e)}`);
  }
  const { type, sourceTimestamp, payload } = e as Record<string, unknown>;
  checkEventType(type, `${field}.type`);
  if (sourceTimestamp != null) {
    checkTimestamp(sourceTimestamp, `${field}.sourceTimestamp`);
  }
  if (payload != null) checkPayload(payload, `${field}.payload`);
  throw new Error(`${field} is valid after all`);
}

function checkPayload(payload: unknown, field: string): void {
  if (isPayload(payload)) return;
  if (typeof payload !== "object" || payload === null) {
    throw new TypeError(
      `${field} must be an object or null, got ${describe(payload)}`,
    );
  }
  const p = payload as Record<string, unknown>;
  if (p.kind !== "binary") {
    throw new TypeError(
      `${field}.kind must be "json" or "binary", got ${describe(p.kind)}`,
    );
  }
  if (typeof p.type !== "string") {
    throw new TypeError(
      `${field}.type must be a string, got ${describe(p.type)}`,
    );
  }
  throw new TypeError(
    `${field}.data must be a Uint8Array, got ${describe(p.data)}`,
  );
}

function checkEventType(type: unknown, field: string): void {
  if (!Array.isArray(type)) {
    throw new TypeError(
      `${field} must be an array of strings, got ${describe(type)}`,
    );
  }
  for (let i = 0; i < type.length; i++) {
    if (typeof type[i] !== "string") {
      throw new TypeError(
        `${field}[${i}] must be a string, got ${describe(type[i])}`,
      );
    }
  }
}

function checkQueryType(type: unknown, field: string): void {
  checkEventType(type, field);
  const t = type as EventType;
  for (let i = 0; i < t.length - 1; i++) {
    if (t[i] === "*") throw new InvalidQueryTypeError(t, field);
  }
}

function checkOptionalQueryTypes(types: unknown, field: string): void {
  if (types == null) return;
  if (!Array.isArray(types)) {
    throw new TypeError(
      `${field} must be an array of query types, got ${describe(types)}`,
    );
  }
  checkQueryTypes(types, field);
}

function checkChoice(
  value: unknown,
  choices: readonly string[],
  field: string,
): void {
  if (value === undefined || choices.includes(value as string)) return;
  throw new TypeError(
    `${field} must be ${choices.map((c) => `"${c}"`).join(" or ")}, got ${
      describe(value)
    }`,
  );
}

// maxResults and lastEventId, of timeseries and server queries.
function checkPage(p: Record<string, unknown>): void {
  const max = p.maxResults;
  if (max != null && !(Number.isSafeInteger(max) && (max as number) >= 1)) {
    if (typeof max !== "number") {
      throw new TypeError(
        `params.maxResults must be a number, got ${describe(max)}`,
      );
    }
    throw new RangeError(
      `params.maxResults must be an integer >= 1, got ${describe(max)}`,
    );
  }
  const id = p.lastEventId;
  if (id != null) checkEventId(id, "params.lastEventId");
}

function checkEventId(id: unknown, field: string): asserts id is EventId {
  if (typeof id !== "object" || id === null) {
    throw new TypeError(
      `${field} must be an event id {server, session, instance}, got ${
        describe(id)
      }`,
    );
  }
  const { server, session, instance } = id as Record<string, unknown>;
  checkId(server, `${field}.server`);
  checkId(session, `${field}.session`);
  checkId(instance, `${field}.instance`);
}

function describe(value: unknown): string {
  switch (typeof value) {
    case "bigint":
      return `${value}n`;
    case "string":
      return JSON.stringify(value);
    case "object":
      if (value === null) return "null";
      if (Array.isArray(value)) return "an array";
      if (value instanceof Uint8Array) return "a Uint8Array";
      return "an object";
    case "function":
      return "a function";
    case "number":
      // Exactly, beyond 2^53 too (2 ** 63 is not "9223372036854776000").
      return Number.isInteger(value) ? BigInt(value).toString() : String(value);
    default:
      return String(value);
  }
}
