/**
 * Eventer server: accepts clients, answers their requests through
 * callbacks, and notifies status and events (SPEC §4, server).
 *
 * @module
 */

import * as chatter from "./common/chatter.ts";
import { type Conversation, convKey, type Msg } from "./common/chatter.ts";
import { ConnectionError, ProtocolError } from "./common/errors.ts";
import type { Group } from "./common/group.ts";
import { Resource } from "./common/group.ts";
import { log } from "./common/log.ts";
import {
  type MsgInitRes,
  MsgType,
  readInitReq,
  readQueryParams,
  readRegisterReq,
  writeEvents,
  writeInitRes,
  writeQueryResult,
  writeRegisterRes,
  writeStatus,
} from "./common/messages.ts";
import { Reader, Writer } from "./common/sbs.ts";
import { Subscription } from "./common/subscription.ts";
import type {
  Address,
  Event,
  QueryParams,
  QueryResult,
  RegisterEvent,
  Status,
} from "./common/types.ts";

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

/** Called when a client connects (throw to refuse it) or disconnects. */
export type ConnectionCb = (info: ConnectionInfo) => void | Promise<void>;

/**
 * Registers events; returns the registered events or `null` for failure.
 * `withResponse` tells whether the client waits for the answer (the
 * reference's callback has no such argument; ignoring it is fine).
 */
export type RegisterCb = (
  info: ConnectionInfo,
  events: RegisterEvent[],
  withResponse: boolean,
) => Event[] | null | undefined | Promise<Event[] | null | undefined>;

/** Answers a query. */
export type QueryCb = (
  info: ConnectionInfo,
  params: QueryParams,
) => QueryResult | Promise<QueryResult>;

/** Options of {@linkcode listen}. */
export interface ListenOptions extends chatter.ListenOptions {
  /** Initial status (default `"standby"`). */
  status?: Status;
  /** Called before a client is accepted; throwing refuses it with the message. */
  connectedCb?: ConnectionCb;
  /** Called after an accepted client disconnected (exceptions are logged). */
  disconnectedCb?: ConnectionCb;
  /** Handles register requests (default: failure). */
  registerCb?: RegisterCb;
  /** Handles queries (default: empty result). */
  queryCb?: QueryCb;
  /** Seconds to wait for a refused client to close (default 0.5). */
  closeTimeout?: number;
}

/** Largest frame accepted before a client's init succeeded (1 MiB). */
export const INIT_MAX_FRAME_SIZE = 1024 * 1024;

interface Established {
  conn: chatter.Connection;
  info: ConnectionInfo;
  /** Connections with equal keys receive equal filtered event sets. */
  filterKey: string;
  acks: Map<number, () => void>;
}

/**
 * Listen for Eventer clients.
 *
 * @param addr Address to bind (port 0 picks a free port; Hat's default is 23012).
 * @param options Callbacks, initial status and Chatter options.
 * @returns The listening server.
 *
 * @example
 * ```ts ignore
 * import { listen } from "@hat/eventer";
 * await using server = await listen({ hostname: "127.0.0.1", port: 0 }, {
 *   status: "operational",
 *   queryCb: () => ({ events: [], moreFollows: false }),
 * });
 * console.log(server.addresses[0].port);
 * ```
 */
export async function listen(
  addr: Address,
  options: ListenOptions = {},
): Promise<Server> {
  const server = new Server(options);
  await server._listen(addr, options);
  return server;
}

/** Eventer server. Create with {@linkcode listen}. */
export class Server extends Resource {
  #srv!: chatter.ChatterServer;
  #status: Status;
  #nextId = 1;
  readonly #established = new Map<chatter.Connection, Established>();
  readonly #options: ListenOptions;
  readonly #scratch = new Writer(1024);

  /** @internal Use {@linkcode listen}. */
  constructor(options: ListenOptions) {
    super();
    this.#options = options;
    this.#status = options.status ?? "standby";
  }

  /** @internal */
  async _listen(addr: Address, options: ListenOptions): Promise<void> {
    this.#srv = await chatter.listen((c) => this.#connection(c), addr, options);
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
   * @param withAck Wait until each notified connection acked or closed.
   */
  async notifyEvents(
    events: readonly Event[],
    persisted: boolean,
    withAck = false,
  ): Promise<void> {
    // One filtering and one encoding per distinct (subscription, server
    // id), however many connections share it.
    const groups = new Map<string, Established[]>();
    for (const e of this.#established.values()) {
      if (e.info.persisted !== persisted) continue;
      const group = groups.get(e.filterKey);
      if (group) group.push(e);
      else groups.set(e.filterKey, [e]);
    }
    const acks: Promise<void>[] = [];
    for (const group of groups.values()) {
      const { subscription, serverId } = group[0].info;
      const filtered = events.filter((ev) =>
        (serverId === null || ev.id.server === serverId) &&
        subscription.matches(ev.type)
      );
      if (filtered.length === 0) continue;
      let payload: Uint8Array | ((w: Writer) => void) = (w) =>
        writeEvents(w, filtered);
      if (group.length > 1) {
        // sendNow copies the bytes before returning, so one scratch
        // writer serves every group and every call.
        this.#scratch.reset();
        writeEvents(this.#scratch, filtered);
        payload = this.#scratch.bytes();
      }
      for (const e of group) {
        const conv = trySend(e, MsgType.EventsNotify, payload, !withAck);
        if (withAck && conv) {
          const key = convKey(conv);
          acks.push(new Promise((resolve) => e.acks.set(key, resolve)));
        }
      }
    }
    await Promise.all(acks);
  }

  async #connection(conn: chatter.Connection): Promise<void> {
    const id = this.#nextId++;
    let established: Established | null = null;
    try {
      // Decoded messages take 25-40x their wire size (an empty
      // subscription is one byte but a whole array), so a peer that has
      // not passed init gets small frames only: one big unauthenticated
      // frame must not be able to exhaust the heap.
      const maxFrameSize = conn.maxFrameSize;
      conn.maxFrameSize = Math.min(maxFrameSize, INIT_MAX_FRAME_SIZE);
      const req = await conn.receive();
      if (req.type !== MsgType.InitReq) {
        throw new ProtocolError(`first message is ${req.type}, not MsgInitReq`);
      }
      const r = new Reader(req.data);
      const init = readInitReq(r);
      r.done();
      let res: MsgInitRes;
      try {
        const info: ConnectionInfo = {
          id,
          clientName: init.clientName,
          clientToken: init.clientToken,
          subscription: new Subscription(init.subscriptions),
          serverId: init.serverId,
          persisted: init.persisted,
        };
        await this.#options.connectedCb?.(info);
        if (!conn.isOpen) return;
        res = { type: "success", status: this.#status };
        established = {
          conn,
          info,
          filterKey: JSON.stringify([
            info.serverId,
            info.subscription.getQueryTypes(),
          ]),
          acks: new Map(),
        };
        this.#established.set(conn, established);
      } catch (e) {
        res = {
          type: "error",
          error: e instanceof Error ? e.message : String(e),
        };
      }
      conn.sendNow(MsgType.InitRes, (w) => writeInitRes(w, res), {
        conv: req.conv,
      });
      conn.maxFrameSize = maxFrameSize;
      if (!established) {
        await conn.drain();
        await closedOrTimeout(conn, this.#options.closeTimeout ?? 0.5);
        return;
      }
      await this.#serve(established);
    } catch (e) {
      conn.fail(e);
    } finally {
      conn.close();
      if (established) {
        this.#established.delete(conn);
        for (const resolve of established.acks.values()) resolve();
        established.acks.clear();
        try {
          await this.#options.disconnectedCb?.(established.info);
        } catch (e) {
          log.warn("disconnected callback failed:", e);
        }
      }
    }
  }

  // Reads every message at once (acks resolve immediately) and hands
  // requests to one worker, which handles them in arrival order.
  async #serve(e: Established): Promise<void> {
    const conn = e.conn;
    const requests: Msg[] = [];
    let wake = null as PromiseWithResolvers<void> | null;
    let room = null as PromiseWithResolvers<void> | null;
    const limit = this.#options.receiveQueueSize ?? 1024;
    const worker = conn.group.spawn(async (signal) => {
      while (!signal.aborted) {
        const msg = requests.shift();
        if (!msg) {
          wake = Promise.withResolvers<void>();
          await wake.promise;
          continue;
        }
        room?.resolve();
        room = null;
        const handling = this.#request(e, msg);
        if (handling) await handling;
      }
    });
    worker.catch(() => {});
    conn.group.signal.addEventListener("abort", () => wake?.resolve(), {
      once: true,
    });
    for (;;) {
      const msg = conn.tryReceive() ?? await conn.receive();
      if (msg.type === MsgType.EventsAck) {
        new Reader(msg.data).done();
        const key = convKey(msg.conv);
        const resolve = e.acks.get(key);
        if (resolve) {
          e.acks.delete(key);
          resolve();
        }
      } else if (
        msg.type === MsgType.RegisterReq || msg.type === MsgType.QueryReq
      ) {
        requests.push(msg);
        wake?.resolve();
        wake = null;
        if (requests.length >= limit) {
          room = Promise.withResolvers<void>();
          await room.promise;
        }
      } else {
        throw new ProtocolError(`unexpected message type ${msg.type}`);
      }
    }
  }

  // Synchronous when the callback is: a register round trip is a few
  // microseconds, and each await on its path is a measurable share.
  #request(e: Established, msg: Msg): Promise<void> | undefined {
    const fail = (err: unknown) => e.conn.fail(err, msg.type);
    try {
      const r = new Reader(msg.data);
      if (msg.type === MsgType.RegisterReq) {
        const events = readRegisterReq(r);
        r.done();
        const cb = this.#options.registerCb;
        const result = cb ? cb(e.info, events, !msg.last) : null;
        const reply = (res: Event[] | null | undefined) => {
          if (msg.last) return;
          e.conn.sendNow(
            MsgType.RegisterRes,
            (w) => writeRegisterRes(w, res ?? null),
            { conv: msg.conv },
          );
        };
        if (!isThenable(result)) return void reply(result);
        return Promise.resolve(result).then(reply).catch(fail);
      }
      const params = readQueryParams(r);
      r.done();
      const cb = this.#options.queryCb;
      const result = cb
        ? cb(e.info, params)
        : { events: [], moreFollows: false };
      const reply = (res: QueryResult) => {
        e.conn.sendNow(
          MsgType.QueryRes,
          (w) => writeQueryResult(w, res),
          { conv: msg.conv },
        );
      };
      if (!isThenable(result)) return void reply(result);
      return Promise.resolve(result).then(reply).catch(fail);
    } catch (err) {
      fail(err);
    }
  }
}

function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}

// A peer whose send queue is full is not reading: it is disconnected
// rather than allowed to stall notification of every other client.
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
    if (e.conn.isOpen) e.conn.closeWithReason(err);
    return null;
  }
}

async function closedOrTimeout(
  conn: chatter.Connection,
  seconds: number,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    conn.waitClosing(),
    new Promise<void>((resolve) => timer = setTimeout(resolve, seconds * 1000)),
  ]);
  clearTimeout(timer);
}
