/**
 * A client that survives Event Server restarts: it redials with
 * exponential backoff, re-sends its subscriptions on every connection
 * and reports connection state.
 *
 * @module
 */

import {
  type Client,
  connect,
  type ConnectOptions,
  type EventsOptions,
  type RequestOptions,
} from "./client.ts";
import {
  abortable,
  Group,
  QueuedIterator,
  Resource,
} from "./common/async/mod.ts";
import { BackpressureError, ConnectionError } from "./common/chatter/mod.ts";
import { log } from "./common/log.ts";
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

const DEFAULT_MIN_DELAY = 100;
const DEFAULT_MAX_DELAY = 10_000;

/**
 * A request was refused at once: `maxPending` requests already wait for
 * a connection. A {@linkcode BackpressureError}, so code that backs off on
 * a full send queue backs off here too.
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
    super(`${maxPending} requests already wait for a connection`);
    this.name = "ReconnectingQueueFullError";
    this.maxPending = maxPending;
  }
}

/** Options of {@linkcode connectReconnecting}. */
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
   * Milliseconds before the first redial (default 100); each failed
   * attempt doubles the delay, up to `maxDelay`.
   */
  minDelay?: number;
  /** Longest delay between attempts, in milliseconds (default 10,000). */
  maxDelay?: number;
  /** Called with `true` on every new connection and `false` when it is lost. */
  connectionCb?: (connected: boolean) => void;
}

/**
 * Start a {@linkcode ReconnectingClient}; it connects in the background.
 *
 * @param addr Server address.
 * @param clientName Client name sent on every connection.
 * @param options Connect options plus backoff and a connection callback.
 * @returns The client, connecting.
 * @throws {TypeError} When `minDelay` or `maxDelay` is not a finite
 * non-negative number of milliseconds, or `minDelay` exceeds `maxDelay`.
 *
 * @example
 * ```ts ignore
 * import { connectReconnecting } from "@hat/eventer";
 * await using rc = connectReconnecting({ hostname: "127.0.0.1", port: 23012 },
 *   "gateway", { subscriptions: [["gateway", "*"]] });
 * for await (const events of rc.events()) console.log(events);
 * ```
 */
export function connectReconnecting(
  addr: Address,
  clientName: string,
  options: ReconnectOptions = {},
): ReconnectingClient {
  return new ReconnectingClient(addr, clientName, options);
}

/** Client that redials. Create with {@linkcode connectReconnecting}. */
export class ReconnectingClient extends Resource {
  readonly #group = new Group();
  #client: Client | null = null;
  #connected: PromiseWithResolvers<Client> = Promise.withResolvers();
  readonly #iterators = new Set<QueuedIterator<Event[]>>();
  readonly #maxPending: number;
  readonly #maxBatches: number;
  readonly #minDelay: number;
  readonly #maxDelay: number;
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

  /** @internal Use {@linkcode connectReconnecting}. */
  constructor(addr: Address, clientName: string, options: ReconnectOptions) {
    super();
    this.#maxPending = options.maxPending ?? DEFAULT_RECONNECT_MAX_PENDING;
    this.#maxBatches = options.receiveQueueSize ?? 1024;
    this.#minDelay = duration(options, "minDelay", DEFAULT_MIN_DELAY);
    this.#maxDelay = duration(options, "maxDelay", DEFAULT_MAX_DELAY);
    if (this.#minDelay > this.#maxDelay) {
      throw new TypeError(
        `minDelay (${this.#minDelay} ms) must not exceed maxDelay (${this.#maxDelay} ms)`,
      );
    }
    this.#connected.promise.catch(() => {});
    this.#group.signal.addEventListener("abort", () => {
      this.#connected.reject(new ConnectionError("client closed"));
      for (const it of [...this.#iterators]) it.end();
    }, { once: true });
    this.#group.spawn((signal) => this.#run(addr, clientName, options, signal));
  }

  /** This client's group. */
  get group(): Group {
    return this.#group;
  }

  /** The current connection's client, or `null` while disconnected. */
  get client(): Client | null {
    return this.#client;
  }

  /** The server's status while connected, else `null`. */
  get status(): Status | null {
    return this.#client?.status ?? null;
  }

  /**
   * Wait for a connection.
   *
   * @throws {ConnectionError} When this client closes first.
   */
  waitConnected(signal?: AbortSignal): Promise<Client> {
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
   * @throws {ConnectionError} When the connection closes first.
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
   * @throws {ReconnectingQueueFullError} At once, when `maxPending`
   * requests already wait for a connection.
   * @throws {ConnectionError} When the connection closes first.
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
   * @throws {RangeError} When `maxBatches` is below 1.
   */
  events(options: EventsOptions = {}): QueuedIterator<Event[]> {
    const maxBatches = options.maxBatches ?? this.#maxBatches;
    if (!(maxBatches >= 1)) {
      throw new RangeError(`maxBatches must be at least 1, got ${maxBatches}`);
    }
    const it: QueuedIterator<Event[]> = new QueuedIterator<Event[]>(() => {
      this.#iterators.delete(it);
      this.#wake();
    }, { maxPending: maxBatches, onRoom: this.#wake, signal: options.signal });
    if (!this.isOpen) it.end();
    else if (!it.ended) this.#iterators.add(it);
    return it;
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

  async #run(
    addr: Address,
    clientName: string,
    options: ReconnectOptions,
    signal: AbortSignal,
  ): Promise<void> {
    const minDelay = this.#minDelay;
    const maxDelay = this.#maxDelay;
    let delay = minDelay;
    while (!signal.aborted) {
      let client: Client;
      try {
        client = await connect(addr, clientName, {
          ...options,
          signal,
          eventsCb: async (c, events) => {
            if (this.#iterators.size) await this.#push(c, events);
            await options.eventsCb?.(c, events);
          },
        });
      } catch (e) {
        if (signal.aborted) return;
        log.warn(
          `reconnect to ${addr.hostname}:${addr.port} failed: ${
            (e as Error).message
          }`,
        );
        await sleep(delay, signal);
        delay = Math.min(delay * 2, maxDelay);
        continue;
      }
      delay = minDelay;
      // A callback waiting for room in an iterator must not hold up the
      // closing of its connection.
      client.waitClosing().then(this.#wake);
      this.#client = client;
      this.#connected.resolve(client);
      options.connectionCb?.(true);
      await Promise.race([client.waitClosing(), this.#group.waitClosing()]);
      this.#client = null;
      await client.asyncClose();
      if (signal.aborted) return;
      this.#connected = Promise.withResolvers();
      this.#connected.promise.catch(() => {});
      options.connectionCb?.(false);
      await sleep(delay, signal);
    }
  }
}

// An option in milliseconds: absent is the default; anything but a finite
// non-negative number is refused, naming the option.
function duration(
  options: ReconnectOptions,
  name: "minDelay" | "maxDelay",
  fallback: number,
): number {
  const value: unknown = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new TypeError(
      `${name} must be a finite non-negative number of milliseconds, got ${
        typeof value === "number" ? value : typeof value
      }`,
    );
  }
  return value;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // Past 2^31 - 1 ms, a timer would fire at once.
    const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
