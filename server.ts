/**
 * Eventer server: accepts clients, answers their requests through
 * callbacks, and notifies status and events (SPEC §4, server).
 *
 * @module
 */

import type { Group } from "./common/async/mod.ts";
import {
  checkDuration,
  Resource,
  SerialQueue,
  SlotMap,
  timerDelay,
} from "./common/async/mod.ts";
import { log } from "./common/log.ts";
import { SbsError, Writer } from "./common/sbs/mod.ts";
import * as chatter from "./common/chatter/mod.ts";
import {
  type Address,
  BackpressureError,
  ConnectionError,
  type Conversation,
  convKey,
  type ListenOptions as ChatterListenOptions,
  type Msg,
  ProtocolError,
} from "./common/chatter/mod.ts";
import {
  type Event,
  type EventType,
  type QueryParams,
  type RegisterEvent,
  type Status,
  Subscription,
} from "./common/event/mod.ts";
import {
  type MsgInitReqHead,
  type MsgInitRes,
  MsgType,
  readInitReqHead,
  readQueryParams,
  readRegisterReq,
  TooManySubscriptionsError,
  writeEventsUpTo,
  writeInitRes,
  writeQueryResult,
  writeRegisterRes,
  writeStatus,
} from "./common/eventer/mod.ts";
import {
  encodeQueryResultInTurns,
  IN_TURNS_EVENTS,
} from "./common/eventer/_query_result_in_turns.ts";

/** Connection identifier, counted from 1 per server. */
export type ConnectionId = number;

/** What a client declared when it connected. */
export interface ConnectionInfo {
  /** Connection id. */
  id: ConnectionId;
  /** Client name. */
  clientName: string;
  /** Client token, if any. */
  clientToken: string | null;
  /** The client's subscription. */
  subscription: Subscription;
  /** Only events of this server id are notified, if set. */
  serverId: number | null;
  /** The client wants persisted events. */
  persisted: boolean;
}

/**
 * Called when a client connects (throw, or reject, to refuse it) or
 * disconnects. What it returns is ignored, except that a promise is
 * awaited.
 */
export type ConnectionCb = (info: ConnectionInfo) => unknown;

/**
 * Called after an accepted client disconnected, with why: a
 * {@linkcode ConnectionError} whose `code` is `CLOSED` when the client
 * closed (or the server did), else the code of the reason the connection
 * was closed for (`SLOW_CONSUMER`, `PING_TIMEOUT`, `PROTOCOL`,
 * `CALLBACK_FAILED`, ...), which is its `cause`. What it returns is
 * ignored, except that a promise is awaited.
 *
 * @example
 * ```ts
 * import { listen } from "@hat/eventer";
 *
 * await using server = await listen({ hostname: "127.0.0.1", port: 0 }, {
 *   disconnectedCb: (info, reason) => {
 *     if (reason.code === "SLOW_CONSUMER") {
 *       console.warn(`${info.clientName} was too slow: ${reason.message}`);
 *     }
 *   },
 * });
 * ```
 */
export type DisconnectedCb = (
  info: ConnectionInfo,
  reason: ConnectionError,
) => unknown;

/**
 * Registers events; returns the registered events or `null` for failure.
 * `withResponse` tells whether the client waits for the answer (the
 * reference's callback has no such argument; ignoring it is fine).
 */
export type RegisterCb = (
  info: ConnectionInfo,
  events: RegisterEvent[],
  withResponse: boolean,
) =>
  | readonly Event[]
  | null
  | undefined
  | PromiseLike<readonly Event[] | null | undefined>;

/**
 * Answers a query: a `QueryResult`, whose events may be a readonly array.
 */
export type QueryCb = (
  info: ConnectionInfo,
  params: QueryParams,
) =>
  | { events: readonly Event[]; moreFollows: boolean }
  | PromiseLike<{ events: readonly Event[]; moreFollows: boolean }>;

/**
 * Options of {@linkcode listen}. Every duration is in milliseconds.
 *
 * Besides the fields below, it takes those of the connections: `tls`
 * (`{ cert, key }`: listen with TLS) and `signal` (closes the server), from
 * {@linkcode ChatterListenOptions}, and `pingDelay`, `pingTimeout`,
 * `receiveQueueSize`, `sendQueueSize`, `sendQueueBytes` and
 * `maxFrameSize`, for every connection, from {@linkcode ChatterOptions}.
 */
export interface ListenOptions extends ChatterListenOptions {
  /** Initial status (default `"standby"`). */
  status?: Status;
  /** Called before a client is accepted; throwing refuses it with the message. */
  connectedCb?: ConnectionCb;
  /**
   * Called after an accepted client disconnected, with why (exceptions are
   * logged).
   */
  disconnectedCb?: DisconnectedCb;
  /** Handles register requests (default: failure). */
  registerCb?: RegisterCb;
  /**
   * Register requests of one connection that may wait for their answers
   * at once (default 1: a request is handled once the previous one is
   * answered). Above 1, the next register request goes to `registerCb`
   * as soon as the previous call returned, its answer (a promise) still
   * pending: for a `registerCb` that registers in call order and answers
   * later, as an Event Server answering after its commit, which then
   * commits several requests of one client together. Answers go out as
   * their promises settle; a query waits for every answer before it.
   */
  registerWindow?: number;
  /** Handles queries (default: empty result). */
  queryCb?: QueryCb;
  /**
   * Decode the JSON payloads of register requests as
   * `JsonTextPayload`s of the text that arrived, checked but
   * parsed only when their `data` is read, and written back as that very
   * text (default false: parsed at once). For a server that stores and
   * forwards payloads, so that every client gets back the bytes it sent
   * (key order, `2.0`) and no payload is parsed for nothing.
   */
  keepJsonText?: boolean;
  /** Milliseconds to wait for a refused client to close (default 500). */
  closeTimeout?: number;
  /**
   * Milliseconds a new connection has to send its MsgInitReq (default
   * 2000, as nats-server's `auth_timeout`); a connection without one by
   * then is closed.
   */
  initTimeout?: number;
  /**
   * Largest frame in bytes accepted before a client's init succeeded
   * (default 256 KiB, room for thousands of query types): a peer that has
   * not passed init must not be able to exhaust the heap (decoded messages
   * take up to ~20 times their size) nor make the server read much.
   */
  initMaxFrameSize?: number;
  /**
   * Most query types in one client's subscription (default 10,000); a
   * client asking for more is refused with that reason.
   */
  maxSubscriptions?: number;
  /**
   * Notifications to one client larger than this many bytes go as several
   * messages (default 16 MiB, half the Chatter frame limit every client
   * accepts by default).
   */
  maxNotifyBytes?: number;
}

/** Largest frame accepted before a client's init succeeded, by default (256 KiB). */
export const INIT_MAX_FRAME_SIZE = 256 * 1024;
/** Milliseconds a new connection has to send its MsgInitReq, by default. */
export const DEFAULT_INIT_TIMEOUT = 2000;
/** Milliseconds to wait for a refused client to close, by default. */
export const DEFAULT_CLOSE_TIMEOUT = 500;
/** Most query types in one client's subscription, by default. */
export const DEFAULT_MAX_SUBSCRIPTIONS = 10_000;
/** Bytes of events in one notification message, by default (16 MiB). */
export const DEFAULT_MAX_NOTIFY_BYTES = 16 * 1024 * 1024;

/** A subscription shared by the connections that asked for the same one. */
interface SharedSubscription {
  key: string;
  subscription: Subscription;
  /** Connections with equal keys receive equal filtered event sets. */
  filterKey: string;
  /** Whether no event type matches (a client that only registers). */
  empty: boolean;
  refs: number;
}

// Per-connection state is kept small: an idle server holds thousands.
interface Established {
  conn: chatter.Connection;
  info: ConnectionInfo;
  shared: SharedSubscription;
  /** Acks awaited by notifyEvents, made on first use (see SlotMap). */
  acks: SlotMap<() => void> | null;
  /** Its requests, in arrival order; made by the first one. */
  requests: SerialQueue<Established, Msg> | null;
  /** Register answers pending (see ListenOptions.registerWindow). */
  answers: Set<Promise<void>> | null;
}

/**
 * Listen for Eventer clients.
 *
 * @param addr Address to bind (port 0 picks a free port; Hat's default is 23012).
 * @param options Callbacks, initial status and Chatter options.
 * @returns The listening server.
 * @throws {TypeError} For a duration that is not a finite number of
 * milliseconds >= 0, naming it.
 *
 * @example An Eventer server of your own: ids and timestamps are yours to give
 * ```ts
 * import { connect, type Event, listen } from "@hat/eventer";
 * import { now } from "@hat/eventer/timestamp";
 *
 * const stored: Event[] = [];
 * let session = 0;
 * await using server = await listen({ hostname: "127.0.0.1", port: 0 }, {
 *   status: "operational",
 *   registerCb: (_info, events) => {
 *     session++;
 *     const timestamp = now();
 *     const registered = events.map((e, i) => ({
 *       id: { server: 1, session, instance: i + 1 },
 *       type: e.type,
 *       timestamp,
 *       sourceTimestamp: e.sourceTimestamp ?? null,
 *       payload: e.payload ?? null,
 *     }));
 *     stored.push(...registered);
 *     // Subscribers hear of them too (the persisted ones: after storing).
 *     server.notifyEvents(registered, false);
 *     server.notifyEvents(registered, true);
 *     return registered;
 *   },
 *   queryCb: () => ({ events: stored.slice(-10), moreFollows: false }),
 * });
 * console.log(`listening on port ${server.addresses[0].port}`);
 *
 * await using client = await connect(server.addresses[0], "example");
 * await client.register([{ type: ["a", "b"] }], true);
 * console.log((await client.query({ kind: "latest" })).events.length); // 1
 * ```
 */
export async function listen(
  addr: Address,
  options?: ListenOptions,
): Promise<Server> {
  options ??= {};
  checkDuration("closeTimeout", options.closeTimeout);
  checkDuration("initTimeout", options.initTimeout);
  return await listenServer(addr, options);
}

// Server's constructor and start, private to this module: servers come
// from listen.
let listenServer: (addr: Address, options: ListenOptions) => Promise<Server>;

/** Eventer server. Create with {@linkcode listen}. */
export class Server extends Resource {
  #srv!: chatter.ChatterServer;
  #status: Status;
  #nextId = 1;
  readonly #established = new Map<chatter.Connection, Established>();
  readonly #subscriptions = new Map<string, SharedSubscription>();
  readonly #options: ListenOptions;
  readonly #scratch = new Writer(1024);

  /** @ignore Made by {@linkcode listen}. */
  private constructor(options: ListenOptions) {
    super();
    this.#options = options;
    this.#status = options.status ?? "standby";
  }

  static {
    listenServer = async (addr, options) => {
      const server = new Server(options);
      server.#srv = await chatter.listen(
        (c) => server.#connection(c),
        addr,
        options,
      );
      return server;
    };
  }

  /** The server's group; each connection's group is its child. */
  get group(): Group {
    return this.#srv.group;
  }

  /** Bound addresses (with the real port when 0 was asked for). */
  get addresses(): Address[] {
    return this.#srv.addresses;
  }

  /** Current status. */
  get status(): Status {
    return this.#status;
  }

  /** Infos of the established connections. */
  getConnInfos(): ConnectionInfo[] {
    return [...this.#established.values()].map((e) => e.info);
  }

  /** Set the status, notifying every established connection when it changed. */
  setStatus(status: Status): Promise<void> {
    if (status === this.#status) return Promise.resolve();
    this.#status = status;
    for (const e of this.#established.values()) {
      trySend(e, MsgType.StatusNotify, (w) => writeStatus(w, status));
    }
    return Promise.resolve();
  }

  /**
   * Notify events to every established connection whose `persisted` flag
   * equals `persisted`, filtered by its subscription and server id.
   *
   * Every notification is queued synchronously, before this returns its
   * promise: callers may rely on it to order notifications against their
   * own sends. The promise only waits for acks (`withAck`).
   *
   * @param events Events, in notification order.
   * @param persisted Which connections to notify.
   * @param withAck Wait until each notified connection acked or closed
   * (default false).
   */
  async notifyEvents(
    events: readonly Event[],
    persisted: boolean,
    withAck?: boolean,
  ): Promise<void> {
    // One filtering and one encoding per distinct (subscription, server
    // id), however many connections share it.
    const groups = new Map<string, Established[]>();
    for (const e of this.#established.values()) {
      // No events for it: not even a look at each event's type.
      if (e.info.persisted !== persisted || e.shared.empty) continue;
      const group = groups.get(e.shared.filterKey);
      if (group) group.push(e);
      else groups.set(e.shared.filterKey, [e]);
    }
    const acks: Promise<void>[] = [];
    const maxBytes = this.#options.maxNotifyBytes ?? DEFAULT_MAX_NOTIFY_BYTES;
    for (const group of groups.values()) {
      const { subscription, serverId } = group[0].info;
      const filtered = events.filter((ev) =>
        (serverId === null || ev.id.server === serverId) &&
        subscription.matches(ev.type)
      );
      // One message each, unless the events take more than maxBytes.
      for (let from = 0; from < filtered.length;) {
        const start = from;
        let payload: Uint8Array | ((w: Writer) => void) = (w) => {
          from = writeEventsUpTo(w, filtered, start, maxBytes);
        };
        if (group.length > 1) {
          // Encoded once for the group. Connections write a large batch
          // from this buffer (no copy each) until every one has written
          // it, so it is its own copy, not a view of the scratch writer.
          this.#scratch.reset();
          from = writeEventsUpTo(this.#scratch, filtered, start, maxBytes);
          payload = this.#scratch.bytes().slice();
        }
        for (const e of group) {
          const conv = trySend(e, MsgType.EventsNotify, payload, !withAck);
          if (withAck && conv) {
            const key = convKey(conv);
            acks.push(
              new Promise((resolve) =>
                (e.acks ??= new SlotMap()).set(key, resolve)
              ),
            );
          }
        }
        // The one connection closed before its payload was written.
        if (from === start) break;
      }
    }
    await Promise.all(acks);
  }

  // Serves one client: its init, then its messages as they arrive, with
  // nothing of ours waiting while the client is idle.
  async #connection(conn: chatter.Connection): Promise<void> {
    let e: Established | null = null;
    try {
      e = await this.#processInitReq(conn);
    } catch (err) {
      conn.fail(err);
    }
    if (!e) {
      await this.#ended(conn);
      return;
    }
    const established = e;
    const limit = this.#options.receiveQueueSize ?? 1024;
    conn.consume(
      () => this.#messages(established, limit),
      () => this.#ended(conn),
    );
  }

  // The client is gone: its share of the subscriptions, the acks awaited
  // from it, and disconnectedCb.
  async #ended(conn: chatter.Connection): Promise<void> {
    conn.close();
    // From the map: the init may have registered it and then failed.
    const established = this.#established.get(conn);
    if (!established) return;
    this.#established.delete(conn);
    const shared = established.shared;
    if (--shared.refs === 0) this.#subscriptions.delete(shared.key);
    const acks = established.acks;
    established.acks = null;
    if (acks) { for (const resolve of acks.takeAll()) resolve(); }
    try {
      await this.#options.disconnectedCb?.(
        established.info,
        conn.closedError(),
      );
    } catch (err) {
      log.warn("disconnected callback failed:", err);
    }
  }

  // Handles the buffered messages; returns a promise only when the
  // reading must wait for room.
  #messages(e: Established, limit: number): Promise<void> | undefined {
    const conn = e.conn;
    for (let msg = conn.tryReceive(); msg; msg = conn.tryReceive()) {
      const full = this.#message(e, msg, limit);
      if (full) return full;
    }
  }

  // The one dispatch on the type of a client's message. Acks resolve at
  // once, even while a request is pending; requests are handled one at a
  // time, in arrival order. Returns a promise only when the reading must
  // wait for room.
  #message(
    e: Established,
    msg: Msg,
    limit: number,
  ): Promise<void> | undefined {
    switch (msg.type) {
      case MsgType.EventsAck:
        this.#processEventsAck(e, msg);
        return;
      case MsgType.RegisterReq:
        return (e.requests ??= new SerialQueue(e.conn, e, limit))
          .push(msg, this.#registerReq);
      case MsgType.QueryReq:
        return (e.requests ??= new SerialQueue(e.conn, e, limit))
          .push(msg, this.#queryReq);
      default:
        throw new ProtocolError(`unexpected message type ${msg.type}`);
    }
  }

  // Answers the client's MsgInitReq: the connection when accepted, else
  // null once the refused client had time to close. Nothing is built from
  // the request before connectedCb accepted it: the subscription only when
  // a callback asks for it (a token is checked first).
  async #processInitReq(conn: chatter.Connection): Promise<Established | null> {
    const id = this.#nextId++;
    const options = this.#options;
    let established: Established | null = null;
    const maxFrameSize = conn.maxFrameSize;
    conn.maxFrameSize = Math.min(
      maxFrameSize,
      options.initMaxFrameSize ?? INIT_MAX_FRAME_SIZE,
    );
    const req = await initReq(
      conn,
      options.initTimeout ?? DEFAULT_INIT_TIMEOUT,
    );
    if (req.type !== MsgType.InitReq) {
      throw new ProtocolError(
        `first message is ${req.type}, not MsgInitReq: not an Eventer client`,
      );
    }
    let res: MsgInitRes;
    try {
      const r = req.reader();
      const head = readInitReqHead(
        r,
        options.maxSubscriptions ?? DEFAULT_MAX_SUBSCRIPTIONS,
      );
      r.done();
      const info = connectionInfo(id, head, this.#subscriptions);
      await options.connectedCb?.(info);
      if (!conn.isOpen) return null;
      res = { type: "success", status: this.#status };
      established = this.#establish(conn, info, head);
    } catch (e) {
      if (e instanceof SbsError) throw e;
      if (e instanceof TooManySubscriptionsError) {
        log.warn(`client ${e.clientName} refused: ${e.message}`);
      }
      res = {
        type: "error",
        error: e instanceof Error ? e.message : String(e),
      };
    }
    conn.sendNow(MsgType.InitRes, (w) => writeInitRes(w, res), {
      conv: req.conv,
      reserved: true,
    });
    conn.maxFrameSize = maxFrameSize;
    if (!established) {
      await conn.drain();
      await closedOrTimeout(
        conn,
        options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
      );
    }
    return established;
  }

  #establish(
    conn: chatter.Connection,
    info: ConnectionInfo,
    head: MsgInitReqHead,
  ): Established {
    // Subscriptions are immutable: clients asking for the same one share
    // it (and its compiled matcher).
    const key = subscriptionKey(info.serverId, subscriptionTypes(info, head));
    let shared = this.#subscriptions.get(key);
    if (!shared) {
      const queryTypes = info.subscription.getQueryTypes();
      shared = {
        key,
        subscription: info.subscription,
        filterKey: JSON.stringify([info.serverId, queryTypes]),
        empty: queryTypes.length === 0,
        refs: 0,
      };
      this.#subscriptions.set(key, shared);
    }
    shared.refs++;
    const established: Established = {
      conn,
      info,
      shared,
      acks: null,
      requests: null,
      answers: null,
    };
    this.#established.set(conn, established);
    return established;
  }

  // MsgEventsAck: the notification it acknowledges is done.
  #processEventsAck(e: Established, msg: Msg): void {
    msg.reader().done();
    e.conn.release(msg);
    e.acks?.take(convKey(msg.conv))?.();
  }

  // MsgRegisterReq: registerCb's events, answered unless the request was
  // sent as last (without response).
  #processRegisterReq(e: Established, msg: Msg): Promise<void> | undefined {
    try {
      const r = msg.reader();
      const events = readRegisterReq(r, this.#options.keepJsonText);
      r.done();
      // Only binary payloads view the receive buffer: without one, the
      // connection may fill that buffer again (see Connection.release).
      if (!r.viewed) e.conn.release(msg);
      const cb = this.#options.registerCb;
      const result = cb ? cb(e.info, events, !msg.last) : null;
      const done = whenDone(e, msg, result, replyRegisterRes);
      const window = this.#options.registerWindow ?? 1;
      if (done === undefined || window <= 1) return done;
      // The next request may go to registerCb now; the window full, it
      // waits for the oldest answer.
      const answers = e.answers ??= new Set();
      answers.add(done);
      done.finally(() => answers.delete(done));
      return answers.size < window ? undefined : answers.values().next().value;
    } catch (err) {
      e.conn.fail(err, msg.type);
    }
  }
  readonly #registerReq = (e: Established, msg: Msg) =>
    whenRoom(e, msg, this.#registerReqWithRoom);
  readonly #registerReqWithRoom = (e: Established, msg: Msg) =>
    this.#processRegisterReq(e, msg);

  // MsgQueryReq: queryCb's result (none: an empty one).
  #processQueryReq(e: Established, msg: Msg): Promise<void> | undefined {
    try {
      const r = msg.reader();
      const params = readQueryParams(r);
      r.done();
      e.conn.release(msg);
      const cb = this.#options.queryCb;
      const result = cb
        ? cb(e.info, params)
        : { events: [], moreFollows: false };
      return whenDone(e, msg, result, replyQueryRes);
    } catch (err) {
      e.conn.fail(err, msg.type);
    }
  }
  readonly #queryReq = (e: Established, msg: Msg) =>
    e.answers !== null && e.answers.size > 0
      ? Promise.all(e.answers).then(() =>
        e.conn.isOpen ? whenRoom(e, msg, this.#queryReqWithRoom) : undefined
      )
      : whenRoom(e, msg, this.#queryReqWithRoom);
  readonly #queryReqWithRoom = (e: Established, msg: Msg) =>
    this.#processQueryReq(e, msg);
}

function replyRegisterRes(
  e: Established,
  msg: Msg,
  result: readonly Event[] | null | undefined,
): void {
  if (msg.last) return;
  const events = result ?? null;
  e.conn.sendNow(
    MsgType.RegisterRes,
    (w) => writeRegisterRes(w, events),
    { conv: msg.conv, reserved: true },
  );
}

function replyQueryRes(
  e: Established,
  msg: Msg,
  result: { events: readonly Event[]; moreFollows: boolean },
): Promise<void> | void {
  if (result.events.length > IN_TURNS_EVENTS) {
    return encodeQueryResultInTurns(result).then((bytes) => {
      if (!e.conn.isOpen) return;
      e.conn.sendNow(MsgType.QueryRes, bytes, {
        conv: msg.conv,
        reserved: true,
      });
    });
  }
  e.conn.sendNow(
    MsgType.QueryRes,
    (w) => writeQueryResult(w, result),
    { conv: msg.conv, reserved: true },
  );
}

// A request is handled once the connection's send queue has room for its
// reply: a peer that does not read its replies is not read either (its
// requests wait, then TCP pushes back), and no reply is ever refused.
function whenRoom(
  e: Established,
  msg: Msg,
  process: (e: Established, msg: Msg) => Promise<void> | undefined,
): Promise<void> | undefined {
  const room = e.conn.sendRoom();
  if (!room) return process(e, msg);
  return room.then(() => e.conn.isOpen ? process(e, msg) : undefined);
}

// What the client declared. Its subscription is decoded and made only
// when first asked for: a client refused by connectedCb (a wrong token)
// costs neither.
function connectionInfo(
  id: ConnectionId,
  head: MsgInitReqHead,
  shared: Map<string, SharedSubscription>,
): ConnectionInfo {
  let subscription: Subscription | null = null;
  const info: ConnectionInfo = {
    id,
    clientName: head.clientName,
    clientToken: head.clientToken,
    get subscription(): Subscription {
      if (subscription === null) {
        const types = subscriptionTypes(info, head);
        subscription = shared.get(subscriptionKey(head.serverId, types))
          ?.subscription ?? new Subscription(types);
      }
      return subscription;
    },
    serverId: head.serverId,
    persisted: head.persisted,
  };
  return info;
}

// The query types of a client's subscription, decoded once.
const decodedTypes = new WeakMap<ConnectionInfo, EventType[]>();
function subscriptionTypes(
  info: ConnectionInfo,
  head: MsgInitReqHead,
): EventType[] {
  let types = decodedTypes.get(info);
  if (types === undefined) {
    types = head.subscriptions();
    decodedTypes.set(info, types);
  }
  return types;
}

function subscriptionKey(
  serverId: number | null,
  types: readonly EventType[],
): string {
  return JSON.stringify([serverId, types]);
}

// The first message, within `ms`.
async function initReq(
  conn: chatter.Connection,
  ms: number,
): Promise<Msg> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          // What it sent instead may say what it is (an HTTP request).
          conn.firstBytesError() ??
            new ProtocolError(
              `no MsgInitReq within ${ms} ms (initTimeout): not an Eventer ` +
                "client, or one too slow to start",
              { code: "INIT_TIMEOUT" },
            ),
        ),
      timerDelay(ms),
    );
  });
  try {
    return await Promise.race([conn.receive(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Replies with a callback's result, at once when it is not a promise (a
// register round trip is a few microseconds, and each await on its path
// is a measurable share of it); a failure closes the connection.
function whenDone<T>(
  e: Established,
  msg: Msg,
  result: T | PromiseLike<T>,
  reply: (e: Established, msg: Msg, result: T) => Promise<void> | void,
): Promise<void> | undefined {
  if (!isThenable(result)) {
    return reply(e, msg, result)?.catch((err) => e.conn.fail(err, msg.type));
  }
  return Promise.resolve(result).then((res) => reply(e, msg, res)).catch(
    (err) => e.conn.fail(err, msg.type),
  );
}
function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}

// A peer whose send queue is full is not reading: it is disconnected as a
// slow consumer rather than allowed to stall notification of every other
// client or to grow the server's memory.
function trySend(
  e: Established,
  type: string,
  payload: Uint8Array | ((w: Writer) => void),
  last = true,
): Conversation | null {
  try {
    return e.conn.sendNow(type, payload, { last });
  } catch (err) {
    if (!(err instanceof ConnectionError)) throw err;
    if (e.conn.isOpen) {
      e.conn.closeWithReason(
        err instanceof BackpressureError
          ? new BackpressureError(
            `slow consumer: ${err.message}: client ${e.info.clientName} ` +
              "does not read what it is sent (raise sendQueueSize or " +
              "sendQueueBytes if it only falls behind in bursts)",
            { code: "SLOW_CONSUMER", cause: err },
          )
          : err,
      );
    }
    return null;
  }
}

async function closedOrTimeout(
  conn: chatter.Connection,
  ms: number,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    conn.waitClosing(),
    new Promise<void>((resolve) => timer = setTimeout(resolve, timerDelay(ms))),
  ]);
  clearTimeout(timer);
}
