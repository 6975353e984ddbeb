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

export {
  Client,
  connect,
  type ConnectOptions,
  EventerInitError,
  type EventsCb,
  type RequestOptions,
  type StatusCb,
} from "./client.ts";
export {
  connectReconnecting,
  ReconnectingClient,
  type ReconnectOptions,
} from "./reconnecting_client.ts";
export {
  type ExceptionCb,
  Group,
  type GroupOptions,
  QueuedIterator,
  Resource,
} from "./common/async/mod.ts";
export {
  type ConnectionCb,
  type ConnectionId,
  type ConnectionInfo,
  listen,
  type ListenOptions,
  type QueryCb,
  type RegisterCb,
  Server,
} from "./server.ts";
export type { Address } from "./common/chatter/address.ts";
export type {
  BinaryPayload,
  Event,
  EventId,
  EventPayload,
  EventType,
  JsonPayload,
  Order,
  OrderBy,
  QueryLatestParams,
  QueryParams,
  QueryResult,
  QueryServerParams,
  QueryTimeseriesParams,
  RegisterEvent,
  Seconds,
  ServerId,
  Status,
} from "./common/event/mod.ts";
export type { Timestamp } from "./common/event/types.ts";
export type { JsonValue } from "./common/json/mod.ts";
export {
  compareEvents,
  InvalidQueryTypeError,
  STATUSES,
  Subscription,
} from "./common/event/mod.ts";
export {
  BackpressureError,
  ConnectionError,
  ProtocolError,
} from "./common/errors.ts";
export { SbsError } from "./common/sbs/mod.ts";
export { JsonPayloadError } from "./common/json/mod.ts";
export { type Logger, setLogger } from "./common/log.ts";
export type {
  ChatterOptions,
  ConnectOptions as ChatterConnectOptions,
  ConnectTlsOptions,
  ListenOptions as ChatterListenOptions,
  ListenTlsOptions,
} from "./common/chatter.ts";
export * from "./common/event/timestamp.ts";
