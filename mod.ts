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
export { QueuedIterator } from "./common/queued_iterator.ts";
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
export type {
  Address,
  BinaryPayload,
  Event,
  EventId,
  EventPayload,
  EventType,
  JsonPayload,
  JsonValue,
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
  Timestamp,
} from "./common/types.ts";
export { STATUSES } from "./common/types.ts";
export {
  BackpressureError,
  ConnectionError,
  ProtocolError,
} from "./common/errors.ts";
export { SbsError } from "./common/sbs.ts";
export { JsonPayloadError } from "./common/json.ts";
export {
  type ExceptionCb,
  Group,
  type GroupOptions,
  Resource,
} from "./common/group.ts";
export { type Logger, setLogger } from "./common/log.ts";
export type {
  ChatterOptions,
  ConnectOptions as ChatterConnectOptions,
  ConnectTlsOptions,
  ListenOptions as ChatterListenOptions,
  ListenTlsOptions,
} from "./common/chatter.ts";
export { InvalidQueryTypeError, Subscription } from "./common/subscription.ts";
export * from "./common/timestamp.ts";
export { compareEvents } from "./common/event_order.ts";
