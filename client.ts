/**
 * Eventer client: connects to an Event Server, receives status and event
 * notifications, registers events and queries (SPEC §4, client).
 *
 * @module
 */

import {
  abortable,
  checkDuration,
  type Group,
  QueuedIterator,
  Resource,
  runTask,
  SlotMap,
  timerDelay,
  turnSpent,
  yieldToEventLoop,
} from "./common/async/mod.ts";
import { EventerError } from "./common/errors.ts";
import { log } from "./common/log.ts";
import { type Reader, SbsError, type Writer } from "./common/sbs/mod.ts";
import * as chatter from "./common/chatter/mod.ts";
import {
  type Address,
  BackpressureError,
  ConnectionError,
  type ConnectOptions as ChatterConnectOptions,
  type Conversation,
  convKey,
  type Msg,
  ProtocolError,
} from "./common/chatter/mod.ts";
import {
  checkId,
  checkQueryParams,
  checkQueryTypes,
  checkRegisterEvents,
  type Event,
  type EventType,
  type QueryParams,
  type QueryResult,
  type RegisterEvent,
  type Status,
  Subscription,
} from "./common/event/mod.ts";
import {
  MsgType,
  readEvents,
  readInitRes,
  readQueryResult,
  readRegisterRes,
  readStatus,
  writeInitReq,
  writeQueryParams,
  writeRegisterReq,
} from "./common/eventer/mod.ts";
import { queryAll } from "./_query_all.ts";

/**
 * Called when the server's status changes. What it returns is ignored,
 * except that a promise is awaited before the next notification.
 */
export type StatusCb = (client: Client, status: Status) => unknown;

/**
 * Called with each batch of notified events. What it returns is ignored,
 * except that a promise is awaited before the next notification (and
 * before the batch is acked).
 */
export type EventsCb = (client: Client, events: Event[]) => unknown;

/**
 * The server refused the client's init: code `INIT_REFUSED`, and
 * `message` is the server's text (e.g. `invalid client token`).
 */
export class EventerInitError extends EventerError {
  /**
   * Create the error from the server's text.
   *
   * @param message The server's error text.
   */
  constructor(message: string) {
    super(message, { code: "INIT_REFUSED" });
    this.name = "EventerInitError";
  }
}

/**
 * Milliseconds {@linkcode connect} waits, by default, for the TCP
 * connection, the TLS handshake and the init reply together (20 s, as
 * nats.js).
 */
export const DEFAULT_CONNECT_TIMEOUT = 20_000;

/**
 * Options of {@linkcode connect}. Every duration is in milliseconds.
 *
 * Besides the fields below, it takes those of the connection: `tls`
 * (`{ caCerts }`: connect over TLS) and `signal` (abort connecting), from
 * {@linkcode ChatterConnectOptions}, and `pingDelay`, `pingTimeout`,
 * `receiveQueueSize`, `sendQueueSize`, `sendQueueBytes` and
 * `maxFrameSize`, from {@linkcode ChatterOptions}.
 */
export interface ConnectOptions extends ChatterConnectOptions {
  /**
   * Milliseconds to wait for the TCP connection, the TLS handshake and the
   * init reply together, then fail with a `ConnectionError` (default
   * 20000; 0 or null: no timeout). Applies with a `signal` too, whichever
   * comes first: a signal that ends a lifetime (a group's) is no deadline
   * for one attempt against a server that accepts and never answers.
   */
  connectTimeout?: number | null;
  /** Token the server may require. */
  clientToken?: string | null;
  /** Query types to receive notifications for (default: none). */
  subscriptions?: Iterable<EventType>;
  /** Only notify events of this server id (default: any). */
  serverId?: number | null;
  /** Notify events only once persisted (default false). */
  persisted?: boolean;
  /** Status change callback. */
  statusCb?: StatusCb;
  /** Events notification callback. */
  eventsCb?: EventsCb;
  /**
   * Decode the JSON payloads of notified events and query results as
   * `JsonTextPayload`s of the text that arrived, checked but parsed only
   * when their `data` is read, and written back as that very text
   * (default false: parsed at once). For a client that stores and
   * forwards events, as an Event Server syncing from another does, so
   * that the bytes stay the ones the first server got (key order, `2.0`).
   */
  keepJsonText?: boolean;
}

/** Options of {@linkcode Client.events}. */
export interface EventsOptions {
  /** Ends the iterator, as `break` does (buffered batches are dropped). */
  signal?: AbortSignal;
  /**
   * Batches buffered for a consumer that has not taken them yet; past it
   * the client stops reading its connection until the consumer takes one
   * (default: the client's `receiveQueueSize`, 1024, the bound of the
   * `eventsCb` path). Per iterator: each consumer knows how far behind it
   * may fall, as a nats.js subscription does.
   */
  maxBatches?: number;
}

/** Options of a single request. */
export interface RequestOptions {
  /**
   * Stop waiting for the reply; the connection stays usable. A signal
   * already aborted sends nothing, and so does one that aborts while the
   * request waits for room in the send queue.
   */
  signal?: AbortSignal;
}

type Notification =
  | { status: Status; events: null; ack: null }
  | { status: null; events: Event[]; ack: Conversation | null };

/**
 * Connect to an Eventer Server and initialize the session.
 *
 * @param addr Server address (Hat's default port is 23012).
 * @param clientName Name identifying this client to the server.
 * @param options Token, subscriptions, callbacks and Chatter options.
 * @returns The connected client.
 * @throws {EventerInitError} When the server refuses the client (code
 * `INIT_REFUSED`).
 * @throws {ConnectionError} When the connection fails or closes: code
 * `CONNECTION_REFUSED`, `TLS` (a certificate, or TLS on one side only),
 * `CONNECT_TIMEOUT` (`connectTimeout`, default 20 s, passed first),
 * `NOT_EVENTER` (the peer is no Hat Event Server: an HTTP server, say),
 * `CLOSED`, or the code the connection closed for (`PROTOCOL`, ...), with
 * that reason as `cause`.
 * @throws {ProtocolError} When the server answers the init with another
 * message, or a malformed one (code `PROTOCOL`).
 * @throws {TypeError} For a duration that is not a finite number of
 * milliseconds >= 0, or a subscription or server id of the wrong type.
 * @throws {RangeError} For a server id that is not a safe integer.
 * @throws {InvalidQueryTypeError} For a subscribed query type with a `*`
 * before its last segment.
 *
 * @example Connect, register, query
 * ```ts
 * import { connect } from "@hat/eventer";
 * import { startEventServer } from "@hat/eventer/event-server";
 *
 * // An Event Server of the example's own, on a free port; yours is likely
 * // at { hostname: "127.0.0.1", port: 23012 }.
 * await using server = await startEventServer({ db: ":memory:", port: 0 });
 *
 * await using client = await connect(server.addresses[0], "example", {
 *   subscriptions: [["gateway", "*"]],
 *   eventsCb: (_client, events) => {
 *     for (const e of events) console.log("notified", e.type, e.payload);
 *   },
 * });
 * const registered = await client.register(
 *   [{ type: ["gateway", "temperature"], payload: { kind: "json", data: 21.5 } }],
 *   true,
 * );
 * if (registered === null) throw new Error("the server refused the event");
 * const result = await client.query({
 *   kind: "latest",
 *   eventTypes: [["gateway", "*"]],
 * });
 * console.log(result.events.map((e) => e.id)); // [{ server: 1, session: 3, instance: 1 }]
 * ```
 */
export async function connect(
  addr: Address,
  clientName: string,
  options?: ConnectOptions,
): Promise<Client> {
  options ??= {};
  checkDuration("connectTimeout", options.connectTimeout, true);
  if (options.serverId != null) checkId(options.serverId, "serverId");
  const given = [...(options.subscriptions ?? [])];
  checkQueryTypes(given, "subscriptions");
  const subscriptions = [...new Subscription(given).getQueryTypes()];
  // Absent means the default; null or 0 means none.
  const timeout = options.connectTimeout === undefined
    ? DEFAULT_CONNECT_TIMEOUT
    : options.connectTimeout ?? 0;
  let signal = options.signal;
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (timeout > 0) {
    const expired = new AbortController();
    timer = setTimeout(() =>
      expired.abort(
        new ConnectionError(
          `connecting to ${addr.hostname}:${addr.port} timed out after ${timeout} ms ` +
            "(connectTimeout): is the host reachable, and the Event Server " +
            "answering?",
          { code: "CONNECT_TIMEOUT" },
        ),
      ), timerDelay(timeout));
    signal = signal
      ? AbortSignal.any([signal, expired.signal])
      : expired.signal;
  }
  try {
    return await connectAndInit(
      addr,
      clientName,
      subscriptions,
      options,
      signal,
    );
  } finally {
    clearTimeout(timer);
  }
}

async function connectAndInit(
  addr: Address,
  clientName: string,
  subscriptions: EventType[],
  options: ConnectOptions,
  signal: AbortSignal | undefined,
): Promise<Client> {
  const conn = await chatter.connect(addr, { ...options, signal });
  try {
    const conv = conn.sendNow(MsgType.InitReq, (w) =>
      writeInitReq(w, {
        clientName,
        clientToken: options.clientToken ?? null,
        subscriptions,
        serverId: options.serverId ?? null,
        persisted: options.persisted ?? false,
      }), { last: false });
    const res = await abortable(conn.receive(), signal);
    if (res.type !== MsgType.InitRes || convKey(res.conv) !== convKey(conv)) {
      throw new ProtocolError(
        `invalid init response ${res.type}: is this a Hat Event Server?`,
      );
    }
    const r = res.reader();
    const init = readInitRes(r);
    r.done();
    if (init.type === "error") throw new EventerInitError(init.error);
    return newClient(conn, init.status, options);
  } catch (e) {
    // A peer that sent a few bytes of something else (a banner) and waits.
    const other = e instanceof EventerError && e.code === "CONNECT_TIMEOUT"
      ? conn.firstBytesError()
      : null;
    await conn.asyncClose();
    throw other ? failedFor(other) : initFailed(e, addr);
  }
}

// What a failed init throws: for a connection that closed, a
// ConnectionError saying why (the reason's own text, not "connection
// closed: ..."); a ProtocolError for a malformed answer; else `e` itself.
function initFailed(e: unknown, addr: Address): unknown {
  if (e instanceof SbsError) {
    return new ProtocolError(`malformed init response: ${e.message}`, {
      cause: e,
    });
  }
  if (!(e instanceof ConnectionError)) return e;
  const reason = e.cause;
  if (reason instanceof EventerError) return failedFor(reason);
  if (reason !== undefined || e.code !== "CLOSED") return e;
  return new ConnectionError(
    `${addr.hostname}:${addr.port} closed the connection without ` +
      "answering the init (a server stopping, or no Hat Event Server)",
    { cause: e },
  );
}

// The ConnectionError of connecting that failed for `reason`.
function failedFor(reason: EventerError): ConnectionError {
  return reason instanceof ConnectionError
    ? reason
    : new ConnectionError(reason.message, { code: reason.code, cause: reason });
}

// Client's constructor, private to this module: clients come from connect.
let newClient: (
  conn: chatter.Connection,
  status: Status,
  options: ConnectOptions,
) => Client;
let closedError: (client: Client) => ConnectionError;

/**
 * The error of what fails once `client` closed, with the code of why its
 * connection closed (the reconnecting client reports it). Not exported by
 * the package.
 *
 * @param client A client.
 * @returns The error; its `cause` is the reason, if there is one.
 */
export function clientClosedError(client: Client): ConnectionError {
  return closedError(client);
}

/** Eventer client. Create with {@linkcode connect}. */
export class Client extends Resource {
  readonly #conn: chatter.Connection;
  #status: Status;
  readonly #statusCb?: StatusCb;
  readonly #eventsCb?: EventsCb;
  readonly #keepJsonText: boolean;
  // Not a Map: see common/async/slot_map.ts (responses outliving their use).
  // Made by the first request: a client that only listens holds none.
  #pending: SlotMap<PromiseWithResolvers<unknown>> | null = null;
  #notifications: Notification[] = [];
  // The task running callbacks exists only while notifications are
  // waiting for them: an idle client holds none.
  #notifying = false;
  #room: PromiseWithResolvers<void> | null = null;
  readonly #maxNotifications: number;
  /** Made by the first `events()` call. */
  #iterators: Set<QueuedIterator<Event[]>> | null = null;
  // The consumer's wait while an iterator is full (see #iteratorsRoom),
  // and what ends it: room in an iterator, an iterator gone, closing.
  #iteratorRoom: PromiseWithResolvers<void> | null = null;
  #wakeIterators: (() => void) | null = null;

  /** @ignore Made by {@linkcode connect}. */
  private constructor(
    conn: chatter.Connection,
    status: Status,
    options: ConnectOptions,
  ) {
    super();
    this.#conn = conn;
    this.#status = status;
    this.#statusCb = options.statusCb;
    this.#eventsCb = options.eventsCb;
    this.#keepJsonText = options.keepJsonText ?? false;
    this.#maxNotifications = options.receiveQueueSize ?? 1024;
    // Messages are taken and decoded as they arrive, with no receive loop
    // of our own waiting (a suspended frame and its promises cost every
    // idle client ~0.5 KB), and nothing of them kept once handled.
    conn.consume(() => this.#processBuffered(), () => this.#ended());
  }

  /** The client's group (its connection's). */
  get group(): Group {
    return this.#conn.group;
  }

  static {
    newClient = (conn, status, options) => new Client(conn, status, options);
    closedError = (client) => client.#conn.closedError();
  }

  /** The server's status, as last notified. */
  get status(): Status {
    return this.#status;
  }

  /**
   * Notified event batches as an async iterator, from now until the
   * client closes. Each call gives an independent iterator; batches also
   * still reach `eventsCb`. Stop with `break` or `options.signal`.
   *
   * The iterator buffers at most `maxBatches` batches the consumer has not
   * taken yet. When one iterator holds that many, the client stops taking
   * messages from its connection, as it does when `eventsCb` falls behind:
   * nothing more is acked, the connection stops reading its socket once
   * `receiveQueueSize` messages wait, and TCP pushes back on the server.
   * Replies are not read either, so a `for await` body must not
   * await a request of this same client while more batches than its
   * iterator has room for may arrive ahead of the reply: that waits
   * forever. Keep such a body short, or take the batches into a buffer of
   * your own first. An iterator that is never consumed stalls the client
   * once it is full: `break` or abort it.
   *
   * @param options Abort signal and bound of this iterator.
   * @returns The iterator (its `pending` counts the batches buffered); it
   * ends when the client closes, after every batch read before that (the
   * ones read but not yet taken then come in past `maxBatches`).
   * @throws {RangeError} When `maxBatches` is below 1.
   *
   * @example
   * ```ts
   * import { connect } from "@hat/eventer";
   * import { startEventServer } from "@hat/eventer/event-server";
   *
   * await using server = await startEventServer({ db: ":memory:", port: 0 });
   * await using client = await connect(server.addresses[0], "example", {
   *   subscriptions: [["gateway", "*"]],
   * });
   * const batches = client.events();
   * await client.register([
   *   { type: ["gateway", "status"], payload: { kind: "json", data: "ON" } },
   * ]);
   * for await (const events of batches) {
   *   for (const e of events) console.log(e.type, e.payload?.data); // ["gateway", "status"] ON
   *   break; // the loop would go on until the client closes
   * }
   * ```
   */
  events(options?: EventsOptions): QueuedIterator<Event[]> {
    const maxBatches = options?.maxBatches ?? this.#maxNotifications;
    if (!(maxBatches >= 1)) {
      throw new RangeError(`maxBatches must be at least 1, got ${maxBatches}`);
    }
    let wake = this.#wakeIterators;
    if (!wake) {
      // Made by the first `events()` call: a client without iterators
      // holds none of this.
      wake = this.#wakeIterators = () => {
        const room = this.#iteratorRoom;
        this.#iteratorRoom = null;
        room?.resolve();
      };
      this.group.waitClosing().then(wake);
    }
    const it: QueuedIterator<Event[]> = new QueuedIterator<Event[]>(() => {
      this.#iterators?.delete(it);
      wake();
    }, { maxPending: maxBatches, onRoom: wake, signal: options?.signal });
    if (!this.isOpen) it.end();
    else if (!it.ended) (this.#iterators ??= new Set()).add(it);
    return it;
  }

  /**
   * Register events and wait for the server's answer: the registered
   * events, or `null` when the server answers failure (it refused them,
   * or could not store them).
   */
  register(
    events: readonly RegisterEvent[],
    withResponse: true,
    options?: RequestOptions,
  ): Promise<Event[] | null>;
  /**
   * Register events without a response (also what `register(events)`
   * does); resolves to `null` once the request is queued for sending.
   */
  register(
    events: readonly RegisterEvent[],
    withResponse?: false,
    options?: RequestOptions,
  ): Promise<null>;
  /** Register events, with a response when `withResponse` is true. */
  register(
    events: readonly RegisterEvent[],
    withResponse: boolean,
    options?: RequestOptions,
  ): Promise<Event[] | null>;
  /**
   * Register events, optionally waiting for the server's response.
   *
   * Every event is checked first: a request with an invalid one is
   * refused whole, nothing of it is sent, and the connection stays usable.
   *
   * @param events Events to register.
   * @param withResponse Wait for the registered events (default false, as
   * the reference: the request goes without a response).
   * @param options Abort signal.
   * @returns The registered events; `null` when the server answered
   * failure, and always without response.
   * @throws {ConnectionError} When the connection closes first.
   * @throws {TypeError} For an event or a part of one of the wrong type,
   * naming it (`events[2].type`).
   * @throws {RangeError} For a source timestamp out of range, naming it
   * (`events[3].sourceTimestamp.us`).
   * @throws The signal's reason, when it aborted before the request was
   * queued (nothing is sent) or before the response.
   */
  register(
    events: readonly RegisterEvent[],
    withResponse = false,
    options?: RequestOptions,
  ): Promise<Event[] | null> {
    const signal = options?.signal;
    try {
      signal?.throwIfAborted();
      checkRegisterEvents(events);
    } catch (e) {
      return Promise.reject(e);
    }
    // Not async: a round trip costs a few microseconds, and every extra
    // await on this path is a measurable share of it.
    const sent = this.#send(
      MsgType.RegisterReq,
      (w) => writeRegisterReq(w, events),
      !withResponse,
      signal,
    );
    if (sent instanceof Promise) {
      return sent.then((conv) =>
        withResponse
          ? this.#wait(conv, signal) as Promise<Event[] | null>
          : null
      );
    }
    if (!withResponse) return Promise.resolve(null);
    return this.#wait(sent, signal) as Promise<Event[] | null>;
  }

  /**
   * Query events from the server.
   *
   * The parameters are checked first: invalid ones are refused, nothing
   * is sent, and the connection stays usable.
   *
   * @param params Query parameters.
   * @param options Abort signal.
   * @returns The server's result.
   * @throws {ConnectionError} When the connection closes first.
   * @throws {TypeError} For a parameter of the wrong type, naming it
   * (`params.order`).
   * @throws {RangeError} For a timestamp, `maxResults` (an integer >= 1)
   * or id out of range, naming it (`params.maxResults`).
   * @throws {InvalidQueryTypeError} For a query type with a `*` before its
   * last segment (`params.eventTypes[1]`).
   * @throws The signal's reason, when it aborted before the request was
   * queued (nothing is sent) or before the result.
   */
  query(
    params: QueryParams,
    options?: RequestOptions,
  ): Promise<QueryResult> {
    const signal = options?.signal;
    try {
      signal?.throwIfAborted();
      checkQueryParams(params);
    } catch (e) {
      return Promise.reject(e);
    }
    const sent = this.#send(
      MsgType.QueryReq,
      (w) => writeQueryParams(w, params),
      false,
      signal,
    );
    return (sent instanceof Promise
      ? sent.then((conv) => this.#wait(conv, signal))
      : this.#wait(sent, signal)) as Promise<QueryResult>;
  }

  /**
   * Query every matching event, page after page: an async iterator over
   * the events of each result in turn, sending the next request (the same
   * parameters with `lastEventId` set to the page's last event) only when
   * the consumer has taken the page and the server said `moreFollows`.
   * The page size is the query's `maxResults`, or the server's own cap.
   * A `latest` query has no cursor: its one result is the only page (ours
   * says `moreFollows` when it left types out past its byte cap; query
   * narrower types then).
   *
   * Nothing is sent before the first `next()`. Leaving the loop early
   * (`break`) sends no further request.
   *
   * @param params Query parameters.
   * @param options Abort signal, for the whole iteration: once it aborts,
   *   no further request is sent and the iterator rejects with its reason
   *   (like {@linkcode Client.query}), rather than ending as if complete.
   * @returns The events, in the order the server answers them.
   * @throws {RangeError} At once, when `maxResults` is below 1.
   * @throws {ConnectionError} From the iterator, when the connection
   *   closes first.
   * @throws {ProtocolError} From the iterator, when a result says more
   *   events follow but holds none to continue after.
   *
   * @example
   * ```ts
   * import { connect } from "@hat/eventer";
   * import { startEventServer } from "@hat/eventer/event-server";
   *
   * await using server = await startEventServer({ db: ":memory:", port: 0 });
   * await using client = await connect(server.addresses[0], "example");
   * for (let i = 0; i < 5; i++) {
   *   await client.register(
   *     [{ type: ["gateway", "counter"], payload: { kind: "json", data: i } }],
   *     true,
   *   );
   * }
   * const values = [];
   * for await (
   *   const event of client.queryAll({
   *     kind: "timeseries",
   *     eventTypes: [["gateway", "*"]],
   *     order: "ascending",
   *     maxResults: 2, // pages of 2 events: three requests
   *   })
   * ) values.push(event.payload?.data);
   * console.log(values); // [0, 1, 2, 3, 4]
   * ```
   */
  queryAll(
    params: QueryParams,
    options?: RequestOptions,
  ): AsyncGenerator<Event, void, undefined> {
    return queryAll((p, o) => this.query(p, o), params, options?.signal);
  }

  // The conversation at once when the send queue has room (the usual
  // case), else a promise of it; failures as a rejected promise.
  #send(
    type: string,
    payload: (w: Writer) => void,
    last: boolean,
    signal: AbortSignal | undefined,
  ): Conversation | Promise<Conversation> {
    const conn = this.#conn;
    try {
      return conn.sendNow(type, payload, { last });
    } catch (e) {
      if (e instanceof BackpressureError) {
        return this.#sendWhenRoom(type, payload, last, signal);
      }
      return Promise.reject(e);
    }
  }

  // A full send queue: wait for room, unless the signal aborts first (then
  // nothing is sent).
  async #sendWhenRoom(
    type: string,
    payload: (w: Writer) => void,
    last: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Conversation> {
    const conn = this.#conn;
    for (let room = conn.sendRoom(); room; room = conn.sendRoom()) {
      await abortable(room, signal);
    }
    signal?.throwIfAborted();
    return conn.sendNow(type, payload, { last });
  }

  #wait(conv: Conversation, signal?: AbortSignal): Promise<unknown> {
    if (!this.isOpen) return Promise.reject(this.#conn.closedError());
    const key = convKey(conv);
    const pending = Promise.withResolvers<unknown>();
    (this.#pending ??= new SlotMap()).set(key, pending);
    // Answered or closed, #resolve and #ended remove the entry;
    // an aborted wait removes it here.
    if (!signal) return pending.promise;
    const promise = abortable(pending.promise, signal);
    promise.catch(() => this.#pending?.take(key));
    return promise;
  }

  #resolve(msg: Msg, result: unknown): void {
    this.#pending?.take(convKey(msg.conv))?.resolve(result);
  }

  // The connection closed and every message it received was handled.
  #ended(): void {
    const error = this.#conn.closedError();
    const pending = this.#pending?.takeAll() ?? [];
    for (const p of pending) p.reject(error);
    if (this.#iterators) { for (const it of [...this.#iterators]) it.end(); }
  }

  // Processes the buffered messages; returns a promise only when the
  // notification queue is full.
  #processBuffered(): Promise<void> | undefined {
    const conn = this.#conn;
    for (let msg = conn.tryReceive(); msg; msg = conn.tryReceive()) {
      const full = this.#process(msg);
      if (full) return full;
    }
  }

  // The one dispatch on the type of a server's message. Returns a promise
  // only when the notification queue is full.
  #process(msg: Msg): Promise<void> | undefined {
    const r = msg.reader();
    let full: Promise<void> | undefined;
    switch (msg.type) {
      case MsgType.StatusNotify:
        full = this.#processStatusNotify(r);
        break;
      case MsgType.EventsNotify:
        full = this.#processEventsNotify(msg, r);
        break;
      case MsgType.RegisterRes:
        this.#processRegisterRes(msg, r);
        break;
      case MsgType.QueryRes:
        this.#processQueryRes(msg, r);
        break;
      default:
        throw new ProtocolError(`unexpected message type ${msg.type}`);
    }
    // Only binary payloads view the receive buffer: without one, the
    // connection may fill that buffer again (see Connection.release).
    if (!r.viewed) this.#conn.release(msg);
    return full;
  }

  // MsgStatusNotify: the status callback, in notification order.
  #processStatusNotify(r: Reader): Promise<void> | undefined {
    const status = readStatus(r);
    r.done();
    return this.#enqueue({ status, events: null, ack: null });
  }

  // MsgEventsNotify: the iterators at once, the events callback in
  // notification order, then the ack if the server asked for one.
  #processEventsNotify(msg: Msg, r: Reader): Promise<void> | undefined {
    const events = readEvents(r, this.#keepJsonText);
    r.done();
    let iteratorFull = false;
    const iterators = this.#iterators;
    if (iterators) {
      for (const it of iterators) {
        it.push(events);
        if (it.full) iteratorFull = true;
      }
    }
    const ack = msg.last ? null : msg.conv;
    const full = this.#enqueue({ status: null, events, ack });
    // Once closing, what was received is handed over without waiting:
    // nothing is read any more, and the client must be able to end.
    return iteratorFull && this.isOpen ? this.#iteratorsRoom(full) : full;
  }

  // Resolves once the notification queue has room (`full`) and no
  // iterator is full, or the client is closing: until then the connection
  // is not read, as for a full notification queue.
  async #iteratorsRoom(full: Promise<void> | undefined): Promise<void> {
    if (full) await full;
    while (this.isOpen && this.#iteratorFull()) {
      this.#iteratorRoom = Promise.withResolvers<void>();
      await this.#iteratorRoom.promise;
    }
  }

  #iteratorFull(): boolean {
    if (this.#iterators) {
      for (const it of this.#iterators) if (it.full) return true;
    }
    return false;
  }

  // MsgRegisterRes: the pending register resolves, even while a callback
  // runs.
  #processRegisterRes(msg: Msg, r: Reader): void {
    const events = readRegisterRes(r);
    r.done();
    this.#resolve(msg, events);
  }

  // MsgQueryRes: the pending query resolves, even while a callback runs.
  #processQueryRes(msg: Msg, r: Reader): void {
    const result = readQueryResult(r, this.#keepJsonText);
    r.done();
    this.#resolve(msg, result);
  }

  // Notifications run in their own task so that replies keep resolving
  // while a callback awaits a request of its own.
  #enqueue(n: Notification): Promise<void> | undefined {
    // Once closing, callbacks are not called any more.
    if (!this.isOpen) return;
    this.#notifications.push(n);
    if (!this.#notifying) {
      this.#notifying = true;
      runTask(this.#conn.group, () => this.#notifyLoop());
    }
    if (this.#notifications.length >= this.#maxNotifications) {
      this.#room = Promise.withResolvers<void>();
      return this.#room.promise;
    }
  }

  // Runs while notifications are queued. The flag is cleared in the same
  // turn as the queue is found empty, so none is ever left behind.
  async #notifyLoop(): Promise<void> {
    try {
      while (this.isOpen) {
        const batch = this.#notifications;
        if (batch.length === 0) return;
        this.#notifications = [];
        this.#room?.resolve();
        this.#room = null;
        for (const n of batch) {
          if (!this.isOpen) return;
          try {
            if (n.events === null) {
              // Updated in notification order, as the reference does, so a
              // callback sees the status it is being told about.
              this.#status = n.status;
              await this.#statusCb?.(this, n.status);
            } else {
              await this.#eventsCb?.(this, n.events);
            }
          } catch (e) {
            log.error("client callback failed:", e);
          }
          if (n.ack) {
            try {
              // A reply: queued even past the send queue's bounds (a burst
              // of registers must not hold back the server's notify).
              this.#conn.sendNow(MsgType.EventsAck, null, {
                conv: n.ack,
                reserved: true,
              });
            } catch (e) {
              if (e instanceof ConnectionError) return;
              throw e;
            }
          }
          // Callbacks that return at once would keep this loop from the
          // event loop for a whole batch.
          if (turnSpent()) await yieldToEventLoop();
        }
      }
    } finally {
      this.#notifying = false;
      // Closed with the queue full: let the connection's consumer end.
      this.#room?.resolve();
      this.#room = null;
    }
  }
}
