/**
 * Hat Eventer protocol for Deno: a client and a server byte-compatible
 * with the Python reference (`hat.event.eventer`, hat-event 0.9.x).
 *
 * @example
 * ```ts ignore
 * import { connect, listen } from "@hat/eventer";
 *
 * await using server = await listen({ hostname: "127.0.0.1", port: 0 }, {
 *   status: "operational",
 *   registerCb: (_info, events) => events.map((e, i) => ({
 *     id: { server: 1, session: 1, instance: i + 1 },
 *     type: e.type,
 *     timestamp: { s: 1700000000, us: 0 },
 *     sourceTimestamp: e.sourceTimestamp ?? null,
 *     payload: e.payload ?? null,
 *   })),
 * });
 * await using client = await connect(server.addresses[0], "example");
 * const events = await client.register([{ type: ["a", "b"] }], true);
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
