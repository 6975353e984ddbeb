/**
 * The seam between an Event Server and where its events live: what the
 * server asks of a store, whatever keeps the events.
 *
 * Modelled on the reference's (hat-event 0.9) `Backend`, with two
 * deliberate differences. The store assigns ids and the registration
 * timestamp itself (in the reference the engine does, from the backend's
 * last event id), and registration and persistence are two synchronous
 * steps: {@linkcode EventStore.register} makes events visible at once and
 * returns them, so a server notifies non-persisted subscribers in the same
 * turn; {@linkcode EventStore.flush} persists every request registered
 * since the previous flush in one go (group commit) and returns them, so
 * the server notifies persisted subscribers, where the reference's backend
 * calls `registered_events_cb` and `flushed_events_cb`. Unlike the
 * reference, whose flush loop stops the backend on a write error, a
 * failed commit is reported per request and the store goes on.
 *
 * The reference's members map one to one: `get_last_event_id` is
 * {@linkcode EventStore.getLastEventId}, `register`, `query` and `flush`
 * keep their names, and the `aio.Resource` side (`async_close`,
 * `is_closed`) is {@linkcode EventStore.close} and
 * {@linkcode EventStore.closed}.
 *
 * @example
 * ```ts
 * import { type EventStore, SqliteStore } from "./mod.ts";
 *
 * // Code written against the seam works with any store.
 * function registerAndPersist(store: EventStore): void {
 *   const events = store.register([{ type: ["a", "b"] }]);
 *   // ...notify non-persisted subscribers of `events`...
 *   const { committed, failed } = store.flush();
 *   // ...notify persisted subscribers of `committed.flat()`, answer the
 *   // requests in `failed` failure...
 * }
 *
 * using store = SqliteStore.open({ path: ":memory:", serverId: 1 });
 * registerAndPersist(store);
 * ```
 *
 * @module
 */

import type {
  Event,
  EventId,
  QueryParams,
  QueryResult,
  RegisterEvent,
} from "../common/event/mod.ts";

/** What became of the requests registered since the previous flush. */
export interface FlushResult {
  /**
   * Requests now persisted: the events of each
   * {@linkcode EventStore.register} call, in registration order (and so
   * in id order). Persisted subscribers are notified of these.
   */
  committed: Event[][];
  /**
   * Requests whose commit failed, in registration order: not stored, and
   * never will be. Requests that wanted a response are answered failure.
   */
  failed: Event[][];
  /** Why `failed` is not empty (the first error); otherwise null. */
  error: Error | null;
}

/**
 * Event store of one Event Server: registers events with ids and a
 * timestamp, persists them in groups, answers the three Eventer queries.
 *
 * Every member is synchronous: a server relies on a registration being
 * visible to queries, and notified, in the turn it was made. Closing
 * (with {@linkcode EventStore.close} or `using`) commits what is pending.
 */
export interface EventStore extends Disposable {
  /** Id of this server: the `id.server` of every event it registers. */
  readonly serverId: number;

  /** Number of events registered but not yet persisted by `flush`. */
  readonly pendingCount: number;

  /**
   * True once {@linkcode EventStore.close} was called (the reference's
   * `is_closed`).
   */
  readonly closed: boolean;

  /**
   * Last event id assigned for `serverId`, as the reference's
   * `get_last_event_id`: session and instance 0 when there is none. Ids
   * stay increasing across restarts of a store that keeps its events.
   *
   * @param serverId Server (default: this one).
   * @returns The last id, with `server` set to `serverId`.
   * @throws {StoreError} When the store is closed.
   */
  getLastEventId(serverId?: number): EventId;

  /**
   * Register events as one session: a session number above every one
   * given before (lost ones included), instances 1, 2, ... in order, and
   * one `timestamp` for all of them (the clock, but never earlier than the
   * previous registration's, so time order and id order agree). The
   * events are visible to queries at once and persisted by the next
   * {@linkcode EventStore.flush}. An empty request assigns nothing.
   *
   * The request is all or nothing: on any error nothing is registered and
   * no id is used. A write error (disk full, I/O error) may also lose the
   * requests pending since the previous flush; that flush then reports
   * them failed.
   *
   * @param events Events to register.
   * @returns The registered events, in request order.
   * @throws {InvalidEventTypeError} When a type has a `?` or `*` segment.
   * @throws {EventLimitError} When a type or payload exceeds one of the
   *   store's limits (every distinct type is kept for good: clients must
   *   not be able to make them huge).
   * @throws {TypeError} When a source timestamp is invalid (seconds
   *   outside signed 64-bit, microseconds outside [0, 1e6)).
   * @throws {JsonPayloadError} When a JSON payload has no JSON text.
   * @throws {StoreError} When the store is closed.
   * @throws {Error} When writing fails.
   */
  register(events: readonly RegisterEvent[]): Event[];

  /**
   * Persist every request registered since the previous flush, together
   * (group commit), as the reference's `flush`, and report what became of
   * each request registered since the previous flush.
   *
   * A commit that fails is undone as a whole, and leaves the store as its
   * storage: its requests are reported `failed`, their events are not
   * stored (queries no longer return them) and their ids are never given
   * again; types, ids and latest events are those of the storage, and the
   * store goes on registering (and succeeds again once, say, space
   * returns).
   *
   * @returns The requests committed and the requests failed since the
   *   previous flush; both empty when nothing was pending.
   * @throws {StoreError} When the store is closed.
   */
  flush(): FlushResult;

  /**
   * Run a query, with the reference's semantics. Pending (registered, not
   * yet flushed) events are included, as in the reference, except by a
   * server query with `persisted`.
   *
   * `maxResults` of timeseries and server queries is capped by the
   * store's own maximum; a negative one counts as 0.
   *
   * @param params Query.
   * @returns Result.
   * @throws {RangeError} For a server query whose `lastEventId.server` is
   *   not its `serverId`.
   * @throws {TypeError} For an invalid timestamp bound.
   * @throws {InvalidQueryTypeError} For an invalid query type.
   * @throws {StoreError} When the store is closed.
   */
  query(params: QueryParams): QueryResult;

  /**
   * Persist what is pending (without reporting it: call
   * {@linkcode EventStore.flush} first to learn what became persisted)
   * and release the store, as the reference's `async_close`. Closing
   * twice is a no-op.
   *
   * @throws {Error} When the final commit fails (the store is closed
   *   anyway).
   */
  close(): void;
}
