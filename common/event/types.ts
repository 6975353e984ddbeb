/**
 * The event domain (hat.event.common): events, their ids, types, payloads
 * and timestamps, statuses and queries, shared by client, server, codec
 * and store.
 *
 * Values that come off the wire use `null` for an absent optional; inputs
 * accept `undefined` as well.
 *
 * @module
 */

import type { JsonValue } from "../json/mod.ts";

/**
 * Event type: a sequence of segments, e.g. `["gateway", "device", "value"]`.
 * Types decoded from the wire are frozen and shared between events.
 */
export type EventType = readonly string[];

/** Server status, as notified to clients. */
export type Status = "standby" | "starting" | "operational" | "stopping";

/** All statuses in wire (choice index) order. */
export const STATUSES: readonly Status[] = [
  "standby",
  "starting",
  "operational",
  "stopping",
];

/** Query result order. */
export type Order = "descending" | "ascending";

/** Timestamp a timeseries query orders and filters by. */
export type OrderBy = "timestamp" | "sourceTimestamp";

/** Server identifier. */
export type ServerId = number;

/** Unique event identifier. */
export interface EventId {
  /** Id of the server that registered the event. */
  server: number;
  /** Session (one per register request) within that server. */
  session: number;
  /** Instance within the session. */
  instance: number;
}

/**
 * Whole seconds of a {@linkcode Timestamp}.
 *
 * Values decoded from the wire are a `number` whenever they are safe
 * integers and a `bigint` otherwise (e.g. the ±2^63 sentinels), so the
 * full signed 64-bit range is exact. Inputs accept either.
 */
export type Seconds = number | bigint;

/** Point in time: seconds since 1970-01-01 UTC plus microseconds. */
export interface Timestamp {
  /**
   * Whole seconds since the epoch (may be negative), in [-2^63, 2^63 - 1]:
   * as input, any `number` whose value is an integer in that range (e.g.
   * `-(2 ** 63)`, exact as a power of two; `2 ** 63 - 1` is no such number,
   * write `2n ** 63n - 1n`), or any `bigint`.
   */
  s: Seconds;
  /** Microseconds in [0, 1e6). */
  us: number;
}

/** Binary event payload: an application-defined type name and raw bytes. */
export interface BinaryPayload {
  /** Discriminator. */
  kind: "binary";
  /** Application-defined type of `data`. */
  type: string;
  /**
   * Raw bytes. Received payloads are views into the receive buffer (never
   * reused while referenced): `data.slice()` keeps one without keeping the
   * rest of that buffer alive.
   */
  data: Uint8Array;
}

/**
 * JSON event payload. `JsonTextPayload` is one that keeps the text it
 * arrived in (written back as that text).
 */
export interface JsonPayload {
  /** Discriminator. */
  kind: "json";
  /** The JSON value. */
  data: JsonValue;
}

/** Event payload: binary or JSON. */
export type EventPayload = BinaryPayload | JsonPayload;

/** Registered event, as stored and notified by the server. */
export interface Event {
  /** Unique id. */
  id: EventId;
  /** Event type. */
  type: EventType;
  /** Time of registration, assigned by the server. */
  timestamp: Timestamp;
  /** Time given by the source, if any. */
  sourceTimestamp: Timestamp | null;
  /** Payload, if any. */
  payload: EventPayload | null;
}

/** Event as sent by a client for registration. */
export interface RegisterEvent {
  /** Event type (no `?` or `*` segments). */
  type: EventType;
  /** Time given by the source, if any. */
  sourceTimestamp?: Timestamp | null;
  /** Payload, if any. */
  payload?: EventPayload | null;
}

/** Query for the latest event of each matching type. */
export interface QueryLatestParams {
  /** Discriminator. */
  kind: "latest";
  /** Query types to match (absent: all). */
  eventTypes?: readonly EventType[] | null;
}

/** Query over a time range. */
export interface QueryTimeseriesParams {
  /** Discriminator. */
  kind: "timeseries";
  /** Query types to match (absent: all). */
  eventTypes?: readonly EventType[] | null;
  /** Lower bound of `timestamp`, inclusive. */
  tFrom?: Timestamp | null;
  /** Upper bound of `timestamp`, inclusive. */
  tTo?: Timestamp | null;
  /** Lower bound of `sourceTimestamp`, inclusive. */
  sourceTFrom?: Timestamp | null;
  /** Upper bound of `sourceTimestamp`, inclusive. */
  sourceTTo?: Timestamp | null;
  /** Result order (default `"descending"`). */
  order?: Order;
  /** Timestamp to order by (default `"timestamp"`). */
  orderBy?: OrderBy;
  /** Maximum number of events in one result. */
  maxResults?: number | null;
  /** Continue after this event (pagination). */
  lastEventId?: EventId | null;
}

/** Query of the events registered by one server, in natural order. */
export interface QueryServerParams {
  /** Discriminator. */
  kind: "server";
  /** Server whose events are returned. */
  serverId: number;
  /** Only persisted events (default `false`). */
  persisted?: boolean;
  /** Maximum number of events in one result. */
  maxResults?: number | null;
  /** Continue after this event (pagination). */
  lastEventId?: EventId | null;
}

/** Query parameters. */
export type QueryParams =
  | QueryLatestParams
  | QueryTimeseriesParams
  | QueryServerParams;

/** Query result. */
export interface QueryResult {
  /** Matching events. */
  events: Event[];
  /** True when more events match than were returned. */
  moreFollows: boolean;
}
