/**
 * The Hat Eventer protocol for Deno: a client ({@linkcode connect}, and
 * {@linkcode connectReconnecting} for components that must outlive Event
 * Server restarts) and a server ({@linkcode listen}), byte-compatible with
 * the Python reference (`hat.event.eventer`, hat-event 0.9.x). A runnable
 * Event Server with its own database is `@hat/eventer/event-server`, a
 * command line `@hat/eventer/cli`, and helpers for timestamps
 * `@hat/eventer/timestamp`. No dependencies; needs `--allow-net`.
 *
 * ## Concepts
 *
 * - **Event**: what a Hat system records. A client registers a
 *   {@linkcode RegisterEvent} (a type, an optional source timestamp and an
 *   optional payload); the Event Server gives it an `id` and a `timestamp`,
 *   stores it, and answers and notifies it as an {@linkcode Event}.
 * - **Event type**: a path of string segments, such as
 *   `["gateway", "device1", "temperature"]` ({@linkcode EventType}; the CLI
 *   writes it `gateway/device1/temperature`: {@linkcode parseEventType}).
 * - **Query type**: an event type pattern, for subscriptions and queries:
 *   `?` matches any one segment, and `*`, allowed only as the last
 *   segment, any number of segments, none included. `["gateway", "?",
 *   "temperature"]` matches every device's temperature, `["gateway", "*"]`
 *   everything under `gateway` (and `["gateway"]` itself), `["*"]`
 *   everything ({@linkcode Subscription}).
 * - **Payload**: JSON (`{ kind: "json", data }`, any JSON value) or binary
 *   (`{ kind: "binary", type, data }`, a `Uint8Array` and a type name). A
 *   {@linkcode JsonTextPayload} is a JSON payload that keeps its text, sent
 *   and served byte for byte (the Event Server's store answers with these).
 * - **Timestamp**: `{ s, us }`, seconds and microseconds since the Unix
 *   epoch ({@linkcode Timestamp}); helpers such as `now()` are in
 *   `@hat/eventer/timestamp`.
 * - **Server id**: each Event Server of a system has a number, the
 *   `id.server` of every event it registers. A client may ask to be
 *   notified only of one server's events (`serverId`).
 * - **Session**: the Event Server starts a new session for every register
 *   request; the events of one request share it and are numbered by
 *   `instance` from 1. `{ server, session, instance }` is unique, and
 *   increases in registration order.
 * - **Persisted**: a client connecting with `persisted: true` is notified
 *   of events only once they are stored, in id order; others as soon as
 *   they are registered.
 * - **Status**: the server's `standby`, `starting`, `operational` or
 *   `stopping` ({@linkcode Status}), sent to clients on every change
 *   (`client.status`, `statusCb`). The Event Server registers events only
 *   while `operational`.
 *
 * ## A five-minute tour
 *
 * The examples below are the tour: connect, register and query (latest,
 * a time series, every page with `queryAll`); subscribe with a callback or
 * `for await`; a client that survives Event Server restarts; errors and
 * their codes. Each runs as it is (`deno test --doc` runs them), starting
 * an Event Server of its own, in memory and on a free port; against a real
 * one, connect to its address instead (`deno task start` listens on
 * `{ hostname: "127.0.0.1", port: 23012 }`).
 *
 * Then:
 *
 * - Errors: every error of the library is an {@linkcode EventerError} with
 *   a stable `code`, listed with what to do about it under
 *   {@linkcode ErrorCode}. Checks of arguments are `TypeError` and
 *   `RangeError` naming the field, thrown before anything is sent; the
 *   connection stays usable.
 * - Your own Eventer server, answering through callbacks:
 *   {@linkcode listen} (its example registers and notifies).
 * - The Event Server: `startEventServer` of `@hat/eventer/event-server`,
 *   or from a terminal `deno task start` in a checkout.
 * - The command line: `@hat/eventer/cli` (`register`, `query`,
 *   `subscribe`, `serve`), `deno task cli` in a checkout.
 * - Every duration in options is in milliseconds; cancellation is an
 *   `AbortSignal` (`signal`) in the options; clients and servers close
 *   with `await using` or `asyncClose()` ({@linkcode Resource}).
 * - Library warnings (connections closed for a reason, exceptions in
 *   callbacks) go to the console: {@linkcode setLogger} routes them.
 *
 * @example Connect, register, query
 * ```ts
 * import { connect } from "@hat/eventer";
 * import { startEventServer } from "@hat/eventer/event-server";
 *
 * await using server = await startEventServer({ db: ":memory:", port: 0 });
 *
 * await using client = await connect(server.addresses[0], "tour");
 * console.log(client.status); // operational
 *
 * // With `true`, register waits for the registered events (ids and
 * // timestamps given by the server, answered once they are stored), or
 * // null when the server refuses them. Without, it only sends them.
 * const registered = await client.register([
 *   {
 *     type: ["gateway", "device1", "temperature"],
 *     sourceTimestamp: { s: 1748779200, us: 250_000 },
 *     payload: { kind: "json", data: { value: 21.5, unit: "C" } },
 *   },
 *   { type: ["gateway", "device2", "status"], payload: { kind: "json", data: "ON" } },
 * ], true);
 * if (registered === null) throw new Error("the server refused the events");
 * console.log(registered.map((e) => e.id));
 * // [{ server: 1, session: 3, instance: 1 }, { server: 1, session: 3, instance: 2 }]
 *
 * // The latest event of each matching type.
 * const latest = await client.query({
 *   kind: "latest",
 *   eventTypes: [["gateway", "?", "temperature"]],
 * });
 * console.log(latest.events[0].payload); // { kind: "json", data: { value: 21.5, unit: "C" } }
 *
 * // A time series, a page at a time: `moreFollows` says that another page
 * // follows (ask again with `lastEventId`), which `queryAll` does for you.
 * const page = await client.query({
 *   kind: "timeseries",
 *   eventTypes: [["gateway", "*"]],
 *   order: "ascending",
 *   maxResults: 1,
 * });
 * console.log(page.events.length, page.moreFollows); // 1 true
 * for await (const e of client.queryAll({ kind: "server", serverId: 1 })) {
 *   console.log(e.id.session, e.type.join("/")); // the server's own events too
 * }
 * ```
 *
 * @example Subscribe: a callback, or `for await`
 * ```ts
 * import { connect } from "@hat/eventer";
 * import { startEventServer } from "@hat/eventer/event-server";
 *
 * await using server = await startEventServer({ db: ":memory:", port: 0 });
 *
 * // Subscriptions are query types, given when connecting.
 * await using subscriber = await connect(server.addresses[0], "subscriber", {
 *   subscriptions: [["gateway", "*"]],
 *   eventsCb: (_client, events) => console.log("callback:", events.length),
 * });
 * const batches = subscriber.events(); // an iterator, alongside the callback
 *
 * await using producer = await connect(server.addresses[0], "producer");
 * await producer.register([{ type: ["gateway", "device1", "alarm"] }]);
 *
 * for await (const events of batches) {
 *   console.log("iterator:", events.map((e) => e.type.join("/")));
 *   break; // it would go on until the client closes
 * }
 * ```
 *
 * @example A client that survives Event Server restarts
 * ```ts
 * import { connectReconnecting } from "@hat/eventer";
 * import { startEventServer } from "@hat/eventer/event-server";
 *
 * await using server = await startEventServer({ db: ":memory:", port: 0 });
 *
 * // Dials in the background, and again after every loss, with backoff;
 * // requests wait for a connection, and `onConnected` resyncs first.
 * await using rc = connectReconnecting(server.addresses, "component", {
 *   subscriptions: [["gateway", "*"]],
 *   onConnected: async (client) => {
 *     const { events } = await client.query({ kind: "latest" });
 *     console.log(`resync: ${events.length} latest events`);
 *   },
 * });
 * for await (const s of rc.status()) {
 *   console.log(s.type); // connecting, then connected
 *   if (s.type === "connected") break;
 * }
 * await rc.register([{ type: ["gateway", "device1", "alarm"] }], true);
 * ```
 *
 * @example Errors and their codes
 * ```ts
 * import { connect, ErrorCode, EventerError } from "@hat/eventer";
 * import { startEventServer } from "@hat/eventer/event-server";
 *
 * const server = await startEventServer({ db: ":memory:", port: 0 });
 * const address = server.addresses[0];
 * await server.asyncClose(); // nothing listens there any more
 *
 * try {
 *   await connect(address, "tour", { connectTimeout: 5000 });
 * } catch (e) {
 *   // Every error of the library is an EventerError with a stable code;
 *   // the class says what failed (here a ConnectionError), the code why.
 *   if (!(e instanceof EventerError)) throw e;
 *   console.log(e.name, e.code === ErrorCode.CONNECTION_REFUSED); // ConnectionError true
 * }
 * ```
 *
 * @module
 */

// Errors: the base class and its codes.
export {
  ErrorCode,
  EventerError,
  type EventerErrorOptions,
} from "./common/errors.ts";

// The Eventer client and server.
export {
  Client,
  connect,
  type ConnectOptions,
  DEFAULT_CONNECT_TIMEOUT,
  EventerInitError,
  type EventsCb,
  type EventsOptions,
  type RequestOptions,
  type StatusCb,
} from "./client.ts";
export {
  connectReconnecting,
  DEFAULT_RECONNECT_MAX_PENDING,
  ReconnectingClient,
  ReconnectingQueueFullError,
  type ReconnectOptions,
  type ReconnectStatus,
  type ReconnectStatusOptions,
} from "./reconnecting_client.ts";
export {
  type ConnectionCb,
  type ConnectionId,
  type ConnectionInfo,
  type DisconnectedCb,
  listen,
  type ListenOptions,
  type QueryCb,
  type RegisterCb,
  Server,
} from "./server.ts";

// The event domain.
export {
  type BinaryEncoding,
  type BinaryPayload,
  compareEvents,
  type Event,
  eventFromJson,
  type EventId,
  type EventPayload,
  eventToJson,
  type EventToJsonOptions,
  type EventType,
  formatEventType,
  InvalidQueryTypeError,
  type JsonPayload,
  JsonTextPayload,
  type Order,
  type OrderBy,
  parseEventType,
  type QueryLatestParams,
  type QueryParams,
  type QueryResult,
  type QueryServerParams,
  type QueryTimeseriesParams,
  type RegisterEvent,
  type Seconds,
  type ServerId,
  type Status,
  STATUSES,
  Subscription,
  type Timestamp,
} from "./common/event/mod.ts";
export { JsonPayloadError, type JsonValue } from "./common/json/mod.ts";

// Connections: Chatter options and errors, SBS errors.
export {
  type Address,
  BackpressureError,
  type ChatterOptions,
  ConnectionError,
  type ConnectOptions as ChatterConnectOptions,
  type ConnectTlsOptions,
  type ListenOptions as ChatterListenOptions,
  type ListenTlsOptions,
  ProtocolError,
} from "./common/chatter/mod.ts";
export { SbsError } from "./common/sbs/mod.ts";

// Lifetimes and logging.
export {
  type ExceptionCb,
  Group,
  type GroupOptions,
  QueuedIterator,
  type QueuedIteratorOptions,
  Resource,
} from "./common/async/mod.ts";
export { type Logger, setLogger } from "./common/log.ts";
