/**
 * A client that survives Event Server restarts: it dials its addresses in
 * turn, redials with jittered exponential backoff, re-sends its
 * subscriptions on every connection, lets a hook resync before
 * notifications resume, and reports each step as a status event.
 *
 * @module
 */

import {
  type Client,
  clientClosedError,
  connect,
  type ConnectOptions,
  EventerInitError,
  type EventsOptions,
  type RequestOptions,
} from "./client.ts";
import {
  abortable,
  Group,
  QueuedIterator,
  Resource,
  sleep,
} from "./common/async/mod.ts";
import {
  BackpressureError,
  ConnectionError,
  ProtocolError,
} from "./common/chatter/mod.ts";
import { log } from "./common/log.ts";
import { Backoff } from "./_reconnect_backoff.ts";
import { LatestIterator } from "./_latest_iterator.ts";
import type { Address } from "./common/chatter/mod.ts";
import type {
  Event,
  QueryParams,
  QueryResult,
  RegisterEvent,
  Status,
} from "./common/event/mod.ts";

/**
 * Requests a {@linkcode ReconnectingClient} holds while disconnected, by
 * default: as many as a connection's send queue takes at once.
 */
export const DEFAULT_RECONNECT_MAX_PENDING = 1024;

const DEFAULT_STATUS_MAX_PENDING = 64;

/**
 * A request was refused at once: `maxPending` requests already wait for
 * a connection (code `QUEUE_FULL`). A {@linkcode BackpressureError}, so
 * code that backs off on a full send queue backs off here too.
 */
export class ReconnectingQueueFullError extends BackpressureError {
  /** The bound that was reached. */
  readonly maxPending: number;

  /**
   * Create the error.
   *
   * @param maxPending The bound that was reached.
   */
  constructor(maxPending: number) {
    super(
      `${maxPending} requests already wait for a connection (maxPending): ` +
        "back off until the client reconnects",
      { code: "QUEUE_FULL" },
    );
    this.name = "ReconnectingQueueFullError";
    this.maxPending = maxPending;
  }
}

/**
 * What a {@linkcode ReconnectingClient} is doing, as
 * {@linkcode ReconnectingClient.status} reports it. A client goes through
 * `connecting` (once per address tried), then `connected`; a lost
 * connection is `disconnected`, and each wait before the next round of
 * addresses is `reconnecting`. `gaveUp` is the last: the client closed
 * itself.
 */
export type ReconnectStatus =
  | {
    /** Dialing `address`: TCP, TLS, init, then `onConnected`. */
    type: "connecting";
    /** The address dialed. */
    address: Address;
  }
  | {
    /** Connected and `onConnected` done: requests and notifications flow. */
    type: "connected";
    /** The address connected to. */
    address: Address;
  }
  | {
    /** The connection to `address` was lost. */
    type: "disconnected";
    /** The address that was connected. */
    address: Address;
    /**
     * Why it was lost: a `ConnectionError` with the code the connection
     * closed for (`CLOSED` when the server closed it, `PING_TIMEOUT`, ...).
     */
    reason: Error;
  }
  | {
    /** Waiting `delay` ms before round `attempt` through the addresses. */
    type: "reconnecting";
    /** Rounds since the last connection, this one included (from 1). */
    attempt: number;
    /** Milliseconds waited before it, jitter included. */
    delay: number;
    /** Why the previous round failed or the connection was lost. */
    reason: Error;
  }
  | {
    /**
     * The client gave up and closed: `maxReconnectAttempts` rounds failed,
     * a server refused it (`EventerInitError`) or an option was refused.
     */
    type: "gaveUp";
    /**
     * The last failure. Held requests and later ones reject with a
     * `ConnectionError` of code `GAVE_UP` whose `cause` it is.
     */
    reason: Error;
  };

/** Options of {@linkcode ReconnectingClient.status}. */
export interface ReconnectStatusOptions {
  /** Ends the iterator, as `break` does (buffered events are dropped). */
  signal?: AbortSignal;
  /**
   * Status events buffered for a consumer that has not taken them yet
   * (default 64). Past it the oldest is dropped: a slow consumer loses
   * history, never the latest state, and never holds up reconnecting.
   */
  maxPending?: number;
}

/**
 * Options of {@linkcode connectReconnecting}: those of
 * {@linkcode ConnectOptions} (`clientToken`, `subscriptions`, `serverId`,
 * `persisted`, `statusCb`, `eventsCb`, `connectTimeout`, `tls` and the
 * connection's), used for every connection, and the fields below. Every
 * duration is in milliseconds. `signal` is ignored: close the client
 * instead.
 */
export interface ReconnectOptions extends ConnectOptions {
  /**
   * Requests (`register`, `query`) held while disconnected, waiting for a
   * connection (default 1024; 0: refuse every request while
   * disconnected); past it they reject at once with
   * {@linkcode ReconnectingQueueFullError}. Requests made while connected
   * go to the connection and are bounded by its `sendQueueSize`.
   */
  maxPending?: number;
  /**
   * Milliseconds before the first round of redialing (default 100); each
   * failed round doubles it, up to `maxDelay`. Before jitter.
   */
  minDelay?: number;
  /** Longest delay between rounds, in milliseconds (default 10,000). */
  maxDelay?: number;
  /**
   * Fraction of each delay taken off at random, from 0 (none) to 1
   * (default 0.5): the delay before round n is uniform between
   * `(1 - jitter) * d` and `d`, with `d = min(maxDelay, minDelay * 2^(n-1))`,
   * so clients cut off together do not redial together, and no delay
   * exceeds `maxDelay`.
   */
  jitter?: number;
  /**
   * Failed rounds through the addresses, after the first one, before the
   * client gives up and closes (status `gaveUp`); counted from the last
   * connection. Default -1: never give up, as a Hat component waits for
   * its Event Server (nats.js gives up after 10). 0: never redial (one
   * round at the start, and giving up as soon as a connection is lost).
   */
  maxReconnectAttempts?: number;
  /**
   * Redial after a server refused the client (`EventerInitError`: a wrong
   * token, too many subscriptions). Default false: give up at once, since
   * redialing would be refused again.
   */
  retryOnInitError?: boolean;
  /**
   * Awaited on every new connection, before it counts as connected:
   * resync here (query the latest state with `client`). Meanwhile
   * notifications are held, in order, and delivered to `eventsCb`,
   * `statusCb` and `events()` once it returns; requests made through the
   * reconnecting client wait until then too, so make the hook's requests
   * with `client`. A hook that throws drops the connection: the client
   * goes on to the next address, as for a failed dial. Held notifications
   * are bounded as a slow `eventsCb` is: once `receiveQueueSize` of them
   * wait, the connection stops reading, replies included, until the hook
   * returns; a resync expecting that many should page its queries.
   *
   * The events of a notification held meanwhile may also be in the
   * hook's query result: apply each event once by its id (events of one
   * type come in id order).
   */
  onConnected?: (client: Client) => unknown;
  /**
   * Called with `true` on every new connection (after `onConnected`) and
   * `false` when it is lost.
   *
   * @deprecated Use {@linkcode ReconnectingClient.status}: its `connected`
   * and `disconnected` events come at the same moments, with the address
   * and the reason.
   */
  connectionCb?: (connected: boolean) => void;
}

/**
 * Start a {@linkcode ReconnectingClient}; it connects in the background,
 * trying each address in turn.
 *
 * @param addrs Server address, or several, tried in this order on every
 * round (a primary first, then its backups).
 * @param clientName Client name sent on every connection.
 * @param options Connect options plus backoff, a resync hook and limits.
 * @returns The client, connecting.
 * @throws {TypeError} When `addrs` is empty, `minDelay` or `maxDelay` is
 * not a finite non-negative number of milliseconds, `minDelay` exceeds
 * `maxDelay`, `jitter` is not between 0 and 1, or `maxReconnectAttempts`
 * is neither -1 nor a count.
 *
 * @example Resync on every connection, then follow notifications
 * ```ts
 * import { connectReconnecting, type EventPayload } from "@hat/eventer";
 * import { startEventServer } from "@hat/eventer/event-server";
 *
 * await using server = await startEventServer({ db: ":memory:", port: 0 });
 *
 * // With several addresses (a primary, then its backups), each round of
 * // dialing tries them in this order.
 * const latest = new Map<string, EventPayload | null>();
 * await using rc = connectReconnecting(server.addresses, "gateway", {
 *   subscriptions: [["gateway", "*"]],
 *   // Awaited on every connection before notifications are delivered.
 *   onConnected: async (client) => {
 *     const result = await client.query({
 *       kind: "latest",
 *       eventTypes: [["gateway", "*"]],
 *     });
 *     for (const e of result.events) latest.set(e.type.join("/"), e.payload);
 *   },
 * });
 * const batches = rc.events();
 * // Requests wait for a connection (at most `maxPending` of them).
 * await rc.register([
 *   { type: ["gateway", "status"], payload: { kind: "json", data: "ON" } },
 * ]);
 * for await (const events of batches) {
 *   for (const e of events) latest.set(e.type.join("/"), e.payload);
 *   break; // a component would go on until it closes
 * }
 * console.log(latest); // Map(1) { "gateway/status" => { kind: "json", data: "ON" } }
 * ```
 */
export function connectReconnecting(
  addrs: Address | readonly Address[],
  clientName: string,
  options?: ReconnectOptions,
): ReconnectingClient {
  return newReconnectingClient(addrs, clientName, options ?? {});
}

// ReconnectingClient's constructor, private to this module.
let newReconnectingClient: (
  addrs: Address | readonly Address[],
  clientName: string,
  options: ReconnectOptions,
) => ReconnectingClient;

/** Client that redials. Create with {@linkcode connectReconnecting}. */
export class ReconnectingClient extends Resource {
  readonly #group = new Group();
  readonly #addresses: readonly Address[];
  readonly #clientName: string;
  readonly #options: ReconnectOptions;
  readonly #backoff: Backoff;
  #client: Client | null = null;
  #connected: PromiseWithResolvers<Client> = Promise.withResolvers();
  readonly #iterators = new Set<QueuedIterator<Event[]>>();
  readonly #statusIterators = new Set<LatestIterator<ReconnectStatus>>();
  #lastStatus: ReconnectStatus | null = null;
  // Why the client gave up, once it did.
  #reason: ConnectionError | null = null;
  readonly #maxPending: number;
  readonly #maxBatches: number;
  // Requests waiting for a connection.
  #waiting = 0;
  // The events callback's wait while an iterator is full, and what ends
  // it: room in an iterator, an iterator gone, the connection closing.
  #iteratorRoom: PromiseWithResolvers<void> | null = null;
  readonly #wake = () => {
    const room = this.#iteratorRoom;
    this.#iteratorRoom = null;
    room?.resolve();
  };

  /** @ignore Made by {@linkcode connectReconnecting}. */
  private constructor(
    addrs: Address | readonly Address[],
    clientName: string,
    options: ReconnectOptions,
  ) {
    super();
    this.#addresses = Array.isArray(addrs)
      ? [...addrs as readonly Address[]]
      : [addrs as Address];
    if (this.#addresses.length === 0) {
      throw new TypeError("addresses must not be empty");
    }
    this.#backoff = new Backoff(options);
    this.#clientName = clientName;
    this.#options = options;
    this.#maxPending = options.maxPending ?? DEFAULT_RECONNECT_MAX_PENDING;
    this.#maxBatches = options.receiveQueueSize ?? 1024;
    this.#connected.promise.catch(() => {});
    this.#group.signal.addEventListener("abort", () => {
      this.#connected.reject(this.#closedError());
      for (const it of [...this.#iterators]) it.end();
      for (const it of [...this.#statusIterators]) it.end();
    }, { once: true });
    this.#group.spawn((signal) => this.#run(signal));
  }

  static {
    newReconnectingClient = (addrs, clientName, options) =>
      new ReconnectingClient(addrs, clientName, options);
  }

  /** This client's group. */
  get group(): Group {
    return this.#group;
  }

  /**
   * The current connection's client, or `null` while disconnected (and
   * while `onConnected` runs: it is given the client).
   */
  get client(): Client | null {
    return this.#client;
  }

  /** The server's status while connected, else `null`. */
  get serverStatus(): Status | null {
    return this.#client?.status ?? null;
  }

  /**
   * Status events as an async iterator, like nats.js's `nc.status()`: the
   * latest event so far first (none before the first dial), then each one
   * as it happens, until the client closes (after `gaveUp`, when it gave
   * up). Each call gives an independent iterator.
   *
   * @param options Abort signal and bound: past `maxPending` (default 64)
   * unread events the oldest is dropped, so a slow consumer neither grows
   * the heap nor holds up reconnecting, and always gets the latest state.
   * @returns The iterator.
   * @throws {RangeError} When `maxPending` is below 1.
   *
   * @example The Event Server restarts
   * ```ts
   * import { connectReconnecting, setLogger } from "@hat/eventer";
   * import { startEventServer } from "@hat/eventer/event-server";
   *
   * // No warnings of the lost connection: the example expects it.
   * setLogger({ debug() {}, warn() {}, error: console.error });
   * let server = await startEventServer({ db: ":memory:", port: 0 });
   * const address = server.addresses[0];
   * await using rc = connectReconnecting(address, "example", { minDelay: 10 });
   *
   * const seen: string[] = [];
   * for await (const s of rc.status()) {
   *   seen.push(s.type);
   *   if (s.type === "reconnecting") {
   *     const ms = Math.round(s.delay);
   *     console.log(`attempt ${s.attempt} in ${ms} ms: ${s.reason.message}`);
   *   }
   *   if (s.type !== "connected") continue;
   *   if (seen.length > 2) break; // connected again
   *   await server.asyncClose(); // a restart, on the same port
   *   server = await startEventServer({ db: ":memory:", port: address.port });
   * }
   * await server.asyncClose();
   * setLogger(null);
   * console.log(seen.join(" ")); // connecting connected disconnected reconnecting connecting connected
   * ```
   */
  status(
    options?: ReconnectStatusOptions,
  ): AsyncIterableIterator<ReconnectStatus> {
    const maxPending = options?.maxPending ?? DEFAULT_STATUS_MAX_PENDING;
    if (!(maxPending >= 1)) {
      throw new RangeError(`maxPending must be at least 1, got ${maxPending}`);
    }
    const it: LatestIterator<ReconnectStatus> = new LatestIterator(
      maxPending,
      () => this.#statusIterators.delete(it),
      options?.signal,
    );
    if (this.#lastStatus) it.push(this.#lastStatus);
    if (!this.isOpen) it.end();
    else if (!it.ended) this.#statusIterators.add(it);
    return it;
  }

  /**
   * Wait for a connection (`onConnected` done).
   *
   * @param signal Stops waiting.
   * @returns The connection's client.
   * @throws {ConnectionError} When this client closes first: code
   * `CLOSED`, or `GAVE_UP` (with the reason it gave up as `cause`).
   */
  waitConnected(signal?: AbortSignal): Promise<Client> {
    if (!this.isOpen) return Promise.reject(this.#closedError());
    const client = this.#client;
    if (client?.isOpen) return Promise.resolve(client);
    return abortable(this.#connected.promise, signal);
  }

  /** Register events and wait for the registered events (`null`: failure). */
  register(
    events: readonly RegisterEvent[],
    withResponse: true,
    options?: RequestOptions,
  ): Promise<Event[] | null>;
  /** Register events; resolves once the request is queued for sending. */
  register(
    events: readonly RegisterEvent[],
    withResponse?: false,
    options?: RequestOptions,
  ): Promise<null>;
  /** Register events, waiting for the registered events when asked. */
  register(
    events: readonly RegisterEvent[],
    withResponse: boolean,
    options?: RequestOptions,
  ): Promise<Event[] | null>;
  /**
   * Register on the current connection, waiting for one if needed.
   *
   * @param events Events to register.
   * @param withResponse Wait for the registered events.
   * @param options Abort signal.
   * @returns The registered events, or `null` on failure or without response.
   * @throws {ReconnectingQueueFullError} At once, when `maxPending`
   * requests already wait for a connection.
   * @throws {ConnectionError} When the connection closes first (with the
   * code it closed for), or when this client gave up: code `GAVE_UP`, with
   * the reason as `cause`.
   */
  async register(
    events: readonly RegisterEvent[],
    withResponse = false,
    options?: RequestOptions,
  ): Promise<Event[] | null> {
    const client = await this.#connection(options?.signal);
    return withResponse
      ? await client.register(events, true, options)
      : await client.register(events, false, options);
  }

  /**
   * Query on the current connection, waiting for one if needed.
   *
   * @param params Query parameters.
   * @param options Abort signal.
   * @returns The server's result.
   * @throws {ReconnectingQueueFullError} At once, when `maxPending`
   * requests already wait for a connection.
   * @throws {ConnectionError} When the connection closes first (with the
   * code it closed for), or when this client gave up: code `GAVE_UP`, with
   * the reason as `cause`.
   */
  async query(
    params: QueryParams,
    options?: RequestOptions,
  ): Promise<QueryResult> {
    const client = await this.#connection(options?.signal);
    return await client.query(params, options);
  }

  /**
   * Notified batches across reconnections, until this client closes. As
   * {@linkcode Client.events}, the iterator buffers at most `maxBatches`
   * (default `receiveQueueSize`, 1024) and `signal` ends it. Past the
   * bound the connection's events callback waits for the consumer, so
   * nothing more is acked, and once `receiveQueueSize` notifications are
   * queued behind it, the connection stops reading its socket. Requests
   * of a `for await` body then wait for ever, as with `Client.events`.
   *
   * @param options Abort signal and bound of this iterator.
   * @returns The iterator.
   * @throws {RangeError} When `maxBatches` is below 1.
   */
  events(options?: EventsOptions): QueuedIterator<Event[]> {
    const maxBatches = options?.maxBatches ?? this.#maxBatches;
    if (!(maxBatches >= 1)) {
      throw new RangeError(`maxBatches must be at least 1, got ${maxBatches}`);
    }
    const it: QueuedIterator<Event[]> = new QueuedIterator<Event[]>(() => {
      this.#iterators.delete(it);
      this.#wake();
    }, { maxPending: maxBatches, onRoom: this.#wake, signal: options?.signal });
    if (!this.isOpen) it.end();
    else if (!it.ended) this.#iterators.add(it);
    return it;
  }

  #closedError(): ConnectionError {
    return this.#reason ?? new ConnectionError("client closed");
  }

  // The connection for a request: the current one, or the next one,
  // waited for by at most maxPending requests.
  async #connection(signal?: AbortSignal): Promise<Client> {
    const client = this.#client;
    if (client?.isOpen) return client;
    if (this.#waiting >= this.#maxPending) {
      throw new ReconnectingQueueFullError(this.#maxPending);
    }
    this.#waiting++;
    try {
      return await this.waitConnected(signal);
    } finally {
      this.#waiting--;
    }
  }

  // Batches reach the iterators from the connection's events callback,
  // which waits while one of them is full: the connection then stops
  // reading, as for a slow callback.
  async #push(client: Client, events: Event[]): Promise<void> {
    while (this.isOpen && client.isOpen && this.#iteratorFull()) {
      this.#iteratorRoom = Promise.withResolvers<void>();
      await this.#iteratorRoom.promise;
    }
    for (const it of this.#iterators) it.push(events);
  }

  #iteratorFull(): boolean {
    for (const it of this.#iterators) if (it.full) return true;
    return false;
  }

  #emit(status: ReconnectStatus): void {
    this.#lastStatus = status;
    for (const it of this.#statusIterators) it.push(status);
    const connectionCb = this.#options.connectionCb;
    if (!connectionCb) return;
    if (status.type !== "connected" && status.type !== "disconnected") return;
    try {
      connectionCb(status.type === "connected");
    } catch (e) {
      log.error("connection callback failed:", e);
    }
  }

  // Rounds through the addresses, a backoff delay before each one but
  // the first, until this client closes or gives up.
  async #run(signal: AbortSignal): Promise<void> {
    // Failed rounds since the last connection, and why the last one
    // failed (or the connection was lost).
    let attempt = 0;
    let reason: Error | null = null;
    while (!signal.aborted) {
      if (reason) {
        if (!this.#backoff.allows(attempt + 1)) return this.#giveUp(reason);
        attempt++;
        const delay = this.#backoff.delay(attempt);
        this.#emit({ type: "reconnecting", attempt, delay, reason });
        await sleep(delay, signal);
        if (signal.aborted) return;
      }
      const dialed = await this.#round(signal);
      if (dialed.client) {
        attempt = 0;
        reason = await this.#serve(dialed.client, dialed.address, signal);
      } else if (signal.aborted) {
        return;
      } else if (dialed.fatal) {
        return this.#giveUp(dialed.error);
      } else {
        reason = dialed.error;
      }
    }
  }

  // Each address in turn, until one connects.
  async #round(signal: AbortSignal): Promise<Dialed> {
    let dialed: Dialed | null = null;
    for (const address of this.#addresses) {
      if (signal.aborted) break;
      this.#emit({ type: "connecting", address });
      dialed = await this.#dial(address, signal);
      if (dialed.client || dialed.fatal) return dialed;
    }
    return dialed ?? { client: null, error: this.#closedError(), fatal: true };
  }

  // Connects and runs the hook; notifications are held until it returns.
  async #dial(address: Address, signal: AbortSignal): Promise<Dialed> {
    const options = this.#options;
    const onConnected = options.onConnected;
    let open = !onConnected;
    const gate = Promise.withResolvers<boolean>();
    let client: Client;
    try {
      client = await connect(address, this.#clientName, {
        ...options,
        signal,
        statusCb: async (c, status) => {
          if (!open && !(await gate.promise)) return;
          await options.statusCb?.(c, status);
        },
        eventsCb: async (c, events) => {
          if (!open && !(await gate.promise)) return;
          if (this.#iterators.size) await this.#push(c, events);
          await options.eventsCb?.(c, events);
        },
      });
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      if (signal.aborted) return { client: null, error, fatal: true };
      // Only what a connection can fail with is worth redialing for: a
      // bad option (a TypeError) would fail the same way for ever.
      const fatal = error instanceof EventerInitError
        ? !options.retryOnInitError
        : !(error instanceof ConnectionError ||
          error instanceof ProtocolError);
      if (!fatal) {
        log.warn(`connecting to ${where(address)} failed: ${error.message}`);
      }
      return { client: null, error, fatal };
    }
    // A callback held by the gate or waiting for room in an iterator must
    // not hold up the closing of its connection.
    client.waitClosing().then(() => {
      gate.resolve(false);
      this.#wake();
    });
    if (onConnected && !signal.aborted) {
      const error = await hook(onConnected, client, signal);
      if (error && !signal.aborted) {
        await client.asyncClose();
        log.warn(`onConnected failed on ${where(address)}:`, error);
        return { client: null, error, fatal: false };
      }
    }
    if (signal.aborted) {
      await client.asyncClose();
      return { client: null, error: this.#closedError(), fatal: true };
    }
    this.#client = client;
    open = true;
    gate.resolve(true);
    this.#connected.resolve(client);
    this.#emit({ type: "connected", address });
    return { client, address, error: null, fatal: false };
  }

  // Until the connection is lost (returns why) or this client closes.
  async #serve(
    client: Client,
    address: Address,
    signal: AbortSignal,
  ): Promise<Error | null> {
    await untilClosing(client, signal);
    this.#client = null;
    await client.asyncClose();
    if (signal.aborted) return null;
    this.#connected = Promise.withResolvers();
    this.#connected.promise.catch(() => {});
    const closed = clientClosedError(client);
    const reason = new ConnectionError(
      `connection to ${where(address)} lost${
        closed.cause instanceof Error ? `: ${closed.cause.message}` : ""
      }`,
      { code: closed.code, cause: closed },
    );
    this.#emit({ type: "disconnected", address, reason });
    return reason;
  }

  #giveUp(reason: Error): void {
    this.#reason = new ConnectionError(
      `reconnecting client ${this.#clientName} gave up: ${reason.message}`,
      { code: "GAVE_UP", cause: reason },
    );
    log.error(this.#reason.message);
    this.#emit({ type: "gaveUp", reason });
    this.#group.close();
  }
}

// What dialing an address, or a round of them, came to.
type Dialed =
  | { client: Client; address: Address; error: null; fatal: false }
  | { client: null; error: Error; fatal: boolean };

// Runs the onConnected hook; resolves with its error, or with a
// ConnectionError when the connection or this client closes first.
async function hook(
  onConnected: (client: Client) => unknown,
  client: Client,
  signal: AbortSignal,
): Promise<Error | null> {
  const closing = untilClosing(client, signal).then(() => {
    const closed = clientClosedError(client);
    return new ConnectionError("connection closed during onConnected", {
      code: closed.code,
      cause: closed,
    });
  });
  try {
    return await Promise.race([
      Promise.resolve(onConnected(client)).then(() => null),
      closing,
    ]);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

function where(address: Address): string {
  return `${address.hostname}:${address.port}`;
}

// Resolves when `client` starts closing or `signal` aborts. Not a race
// with the group's waitClosing(): that would leave a reaction on a
// promise of the group for every connection ever made.
function untilClosing(client: Client, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", done, { once: true });
    client.waitClosing().then(done);
  });
}
