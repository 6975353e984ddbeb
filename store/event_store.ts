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
 * {@linkcode EventStore.closed}. One member is added:
 * {@linkcode EventStore.startQuery} runs a query a bounded step at a time,
 * so that a server can serve other clients between the steps of a long
 * one (the reference runs its timeseries and server queries in a thread).
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
  Timestamp,
} from "../common/event/mod.ts";

/**
 * A query run a bounded step at a time: see
 * {@linkcode EventStore.startQuery}.
 */
export interface SteppedQuery {
  /**
   * Do the next step.
   *
   * @returns The result once done, else undefined (call again).
   * @throws What {@linkcode EventStore.query} throws, and
   *   {@linkcode StoreError} once the store is closed.
   */
  step(): QueryResult | undefined;
}

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
 * visible to queries, and notified, in the turn it was made. A long query
 * can be run in steps ({@linkcode EventStore.startQuery}) with other work
 * in between. Closing (with {@linkcode EventStore.close} or `using`)
 * commits what is pending.
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
   * @param timestamp Their timestamp (default: the store's clock); one
   *   earlier than the last given is raised to it. An engine with modules
   *   passes the one {@linkcode EventStore.nextSession} gave, so that the
   *   events its modules saw are the events stored.
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
  register(events: readonly RegisterEvent[], timestamp?: Timestamp): Event[];

  /**
   * Store a peer Event Server's events (sync between the Event Servers
   * of a monitor group) with their own ids and timestamps, without
   * renumbering, as the reference's backend `register` does with events
   * that already have ids: an event whose id is not after the last stored
   * id of its server, or whose timestamp is before that server's last, is
   * skipped, as is one the storage conditions refuse (neither advances
   * its server's last id, {@linkcode EventStore.getLastEventId}). Like
   * `register`'s, the events are visible to queries at once and persisted
   * by the next {@linkcode EventStore.flush}, which reports them as one
   * request (a server notifies them like any other events).
   *
   * @param events A peer's events, in id order.
   * @returns The events written, in order.
   * @throws {StoreError} When the store is closed.
   * @throws {Error} When writing fails.
   */
  writeSynced(events: readonly Event[]): Event[];

  /**
   * Check events as {@linkcode EventStore.register} would, writing
   * nothing: an engine checks what its modules return before adding it to
   * a session.
   *
   * @param events Events to check.
   * @throws What `register` throws for a bad event.
   * @throws {StoreError} When the store is closed.
   */
  check(events: readonly RegisterEvent[]): void;

  /**
   * The session number and timestamp the next
   * {@linkcode EventStore.register} would give if called now: an engine
   * with modules builds a session's events from them, then registers them
   * with that timestamp. The session is the one `register` gives as long
   * as nothing else registers in between.
   *
   * @returns The next session and timestamp.
   * @throws {StoreError} When the store is closed.
   */
  nextSession(): { session: number; timestamp: Timestamp };

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
   * {@linkcode EventStore.flush} without blocking the thread, for a
   * store that commits elsewhere (`SqliteStore` with its writer thread):
   * settles once the requests registered so far are committed or failed,
   * with what settled since the previous report. A server uses it when
   * the store has it.
   */
  flushAsync?(): Promise<FlushResult>;

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
   * Start running a query a step at a time: each call of
   * {@linkcode SteppedQuery.step} does a bounded amount of work (a few
   * hundred rows read, well under a millisecond), so that the caller can
   * let other work run between steps; the last one returns the result.
   * {@linkcode EventStore.query} is the same run to its end at once.
   *
   * Registrations, commits and other queries may run between the steps.
   * The rule: **the result is exactly what `query` would return at the
   * query's last step**, so it holds every event registered (pending or
   * committed) before the step that returns it, and agrees with every
   * notification sent before it. A latest query answers the newest event
   * of each type as of that step, a timeseries or server query its page
   * as of that step (a persisted server query: of the sessions committed
   * by then). A step that finds events it read gone (a failed commit
   * rolled them back) starts the query again and finishes it at once.
   *
   * For comparison, the reference's LMDB backend answers a latest query
   * from memory at once, and a timeseries or server query from a read
   * transaction on a thread (the events committed when it began) plus the
   * pending events it holds in memory, so a result may hold events
   * registered while it ran; nothing else is promised.
   *
   * @param params Query.
   * @returns The query, to be stepped until it returns its result.
   * @throws {RangeError} For a server query whose `lastEventId.server` is
   *   not its `serverId`.
   * @throws {TypeError} For an invalid timestamp bound.
   * @throws {InvalidQueryTypeError} For an invalid query type.
   * @throws {StoreError} When the store is closed.
   */
  startQuery(params: QueryParams): SteppedQuery;

  /**
   * Milliseconds between two {@linkcode EventStore.cleanup} calls, or
   * null (or absent) when the store has nothing to clean up.
   */
  readonly cleanupPeriod?: number | null;

  /**
   * One bounded step of retention (see `SqliteStore.cleanup`), when the
   * store has a `cleanupPeriod`.
   *
   * @returns Whether more is to do (call again soon).
   */
  cleanup?(): { more: boolean };

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
