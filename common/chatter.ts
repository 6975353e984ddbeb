/**
 * Chatter connections: framed `HatChatter.Msg` messages over TCP or TLS,
 * conversations, Ping/Pong, and bounded queues (SPEC §2).
 *
 * @module
 */

import { abortable } from "./abortable.ts";
import { ConnectionError, ProtocolError } from "./errors.ts";
import { BackpressureError } from "./errors.ts";
import { type ChatterMsg, frameBodyLength, type Payload } from "./frame.ts";
import { readChatterMsg, writeFrame } from "./frame.ts";
import { Group, Resource } from "./group.ts";
import { log } from "./log.ts";
import { SbsError, Writer } from "./sbs.ts";
import type { Address } from "./types.ts";

/** A conversation, seen from this side. */
export interface Conversation {
  /** True when this side started the conversation. */
  owner: boolean;
  /** Id of the conversation's first message. */
  firstId: number;
}

/** A received application message. */
export interface Msg {
  /** The conversation, from this side's point of view. */
  conv: Conversation;
  /** True when this message started the conversation. */
  first: boolean;
  /** True when this message ended the conversation. */
  last: boolean;
  /** True when the peer passed the turn. */
  token: boolean;
  /** Payload type name. */
  type: string;
  /** Payload SBS bytes (a view: decode before the next `receive`). */
  data: Uint8Array;
}

/** Options of a Chatter connection. */
export interface ChatterOptions {
  /** Seconds without incoming data before sending a Ping (default 20; 0 or null: never). */
  pingDelay?: number | null;
  /** Seconds to wait for any data after a Ping before closing (default 20). */
  pingTimeout?: number;
  /** Received messages buffered before reading pauses (default 1024). */
  receiveQueueSize?: number;
  /** Messages queued for the socket before senders wait (default 1024). */
  sendQueueSize?: number;
  /** Largest accepted frame body in bytes (default 256 MiB). */
  maxFrameSize?: number;
}

/** TLS options when connecting. */
export interface ConnectTlsOptions {
  /** PEM CA certificates to trust besides the system's. */
  caCerts?: string[];
}

/** TLS options when listening. */
export interface ListenTlsOptions {
  /** PEM certificate chain. */
  cert: string;
  /** PEM private key. */
  key: string;
}

/** Options of {@linkcode connect}. */
export interface ConnectOptions extends ChatterOptions {
  /** Connect over TLS. */
  tls?: ConnectTlsOptions;
  /** Abort connecting. */
  signal?: AbortSignal;
}

/** Options of {@linkcode listen}. */
export interface ListenOptions extends ChatterOptions {
  /** Listen with TLS. */
  tls?: ListenTlsOptions;
}

/** Options of a single send. */
export interface SendOptions {
  /** Reply within this conversation (default: start a new one). */
  conv?: Conversation;
  /** End the conversation (default true). */
  last?: boolean;
  /** Pass the turn (default true). */
  token?: boolean;
}

const PING = "HatChatter.Ping";
const PONG = "HatChatter.Pong";
const MIN_READ = 4096;
const MAX_READ = 262144;
const MIN_TAIL = 1024;
const LINGER_MS = 1000;

function isDisconnect(e: Error): boolean {
  return e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.ConnectionReset ||
    e instanceof Deno.errors.ConnectionAborted ||
    e instanceof Deno.errors.UnexpectedEof ||
    /close_notify/.test(e.message);
}

/** Numeric key of a conversation, for maps. */
export function convKey(conv: Conversation): number {
  return conv.firstId * 2 + (conv.owner ? 1 : 0);
}

// Eventer round trips are latency-bound: never let Nagle hold a frame.
function setNoDelay(conn: Deno.Conn): void {
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
}

function toAddress(addr: Deno.Addr): Address {
  const a = addr as Deno.NetAddr;
  return { hostname: a.hostname, port: a.port };
}

/** One Chatter connection. Create with {@linkcode connect} or {@linkcode listen}. */
export class Connection extends Resource {
  readonly #group: Group;
  readonly #conn: Deno.Conn;
  /** Local address. */
  readonly localAddr: Address;
  /** Remote address. */
  readonly remoteAddr: Address;
  /** Why the connection closed, when it closed for a reason. */
  closeReason: Error | null = null;

  #nextId = 1;
  #out = new Writer(512);
  #spare = new Writer(512);
  #queued = 0;
  #flushing = false;
  #roomWaiters: PromiseWithResolvers<void>[] = [];
  #drainWaiters: PromiseWithResolvers<void>[] = [];
  readonly #sendQueueSize: number;

  #queue: Msg[] = [];
  #qHead = 0;
  #receiver: PromiseWithResolvers<Msg> | null = null;
  #readerWaiting: PromiseWithResolvers<void> | null = null;
  readonly #receiveQueueSize: number;
  /**
   * Largest accepted frame body in bytes; may be changed at any time and
   * applies from the next frame header (the Eventer server keeps it small
   * until a client's init succeeded).
   */
  maxFrameSize: number;

  readonly #pingDelay: number;
  readonly #pingTimeout: number;
  #pingTimer: ReturnType<typeof setTimeout> | undefined;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  #lastRx = 0;
  #pingSentAt = -1;

  /** @internal Use {@linkcode connect} or {@linkcode listen}. */
  constructor(conn: Deno.Conn, parent: Group | null, options: ChatterOptions) {
    super();
    this.#group = parent ? parent.child() : new Group();
    this.#conn = conn;
    this.localAddr = toAddress(conn.localAddr);
    this.remoteAddr = toAddress(conn.remoteAddr);
    this.#sendQueueSize = options.sendQueueSize ?? 1024;
    this.#receiveQueueSize = options.receiveQueueSize ?? 1024;
    this.maxFrameSize = options.maxFrameSize ?? 256 * 1024 * 1024;
    // Absent means the default; null means never (SPEC §2).
    this.#pingDelay =
      (options.pingDelay === undefined ? 20 : options.pingDelay ?? 0) * 1000;
    this.#pingTimeout = (options.pingTimeout ?? 20) * 1000;

    this.#group.signal.addEventListener("abort", () => this.#onClose(), {
      once: true,
    });
    this.#lastRx = performance.now();
    if (this.#pingDelay > 0) this.#armPing(this.#pingDelay);
    this.#group.spawn(() => this.#readLoop());
  }

  /** The connection's group. */
  get group(): Group {
    return this.#group;
  }

  /** Messages queued for the socket and not yet written. */
  get backlog(): number {
    return this.#queued;
  }

  /**
   * Send a message, waiting while the send queue is full.
   *
   * @returns The message's conversation.
   * @throws {ConnectionError} When the connection is closed.
   */
  async send(
    type: string,
    payload: Payload,
    options?: SendOptions,
  ): Promise<Conversation> {
    while (this.#queued >= this.#sendQueueSize) {
      if (!this.isOpen) throw new ConnectionError();
      const room = Promise.withResolvers<void>();
      this.#roomWaiters.push(room);
      await room.promise;
    }
    return this.sendNow(type, payload, options);
  }

  /**
   * Queue a message without waiting.
   *
   * @returns The message's conversation.
   * @throws {BackpressureError} When the send queue is full.
   * @throws {ConnectionError} When the connection is closed.
   */
  sendNow(type: string, payload: Payload, options?: SendOptions): Conversation {
    if (!this.isOpen) throw new ConnectionError();
    if (this.#queued >= this.#sendQueueSize) throw new BackpressureError();
    const id = this.#nextId++;
    const conv = options?.conv ?? { owner: true, firstId: id };
    const out = this.#out;
    const mark = out.pos;
    try {
      writeFrame(
        out,
        id,
        conv.firstId,
        conv.owner,
        options?.token ?? true,
        options?.last ?? true,
        type,
        payload,
      );
    } catch (e) {
      // An unencodable payload must not leave half a frame behind.
      out.pos = mark;
      this.#nextId--;
      throw e;
    }
    if (this.#queued++ === 0 && !this.#flushing) {
      this.#flushing = true;
      // Deferred so that messages sent in the same turn share one write.
      queueMicrotask(() => this.#flush());
    }
    return conv;
  }

  /** Resolves when every queued message has been written to the socket. */
  drain(): Promise<void> {
    if (this.#queued === 0 && !this.#flushing) return Promise.resolve();
    if (!this.isOpen) return Promise.reject(new ConnectionError());
    const waiter = Promise.withResolvers<void>();
    this.#drainWaiters.push(waiter);
    return waiter.promise;
  }

  /**
   * Next application message (Ping and Pong never reach here). Messages
   * received before closing can still be read after it.
   *
   * @throws {ConnectionError} When closed and nothing is left.
   */
  receive(): Promise<Msg> {
    const msg = this.tryReceive();
    if (msg) return Promise.resolve(msg);
    if (!this.isOpen) return Promise.reject(this.closedError());
    if (this.#receiver) throw new Error("another receive is already pending");
    this.#receiver = Promise.withResolvers<Msg>();
    return this.#receiver.promise;
  }

  /** Next application message if one is already buffered. */
  tryReceive(): Msg | undefined {
    if (this.#qHead === this.#queue.length) return undefined;
    const msg = this.#queue[this.#qHead];
    (this.#queue as (Msg | undefined)[])[this.#qHead++] = undefined;
    if (this.#qHead === this.#queue.length) {
      this.#queue.length = 0;
      this.#qHead = 0;
    }
    if (this.#readerWaiting) {
      this.#readerWaiting.resolve();
      this.#readerWaiting = null;
    }
    return msg;
  }

  /** Close with a reason, which is logged and kept in `closeReason`. */
  closeWithReason(reason: Error): void {
    if (!this.isOpen) return;
    this.closeReason = reason;
    // A peer going away is ordinary; only protocol and local failures warn.
    (isDisconnect(reason) ? log.debug : log.warn)(
      `closing connection ${this.remoteAddr.hostname}:${this.remoteAddr.port}: ${reason.message}`,
    );
    this.close();
  }

  /**
   * Close because handling a message failed: a decode error becomes a
   * {@linkcode ProtocolError} naming `what`; a ConnectionError (the
   * connection is already going) is not a reason of its own.
   */
  fail(e: unknown, what = "message"): void {
    if (e instanceof ConnectionError) return;
    this.closeWithReason(
      e instanceof SbsError
        ? new ProtocolError(`malformed ${what}: ${e.message}`, { cause: e })
        : e instanceof Error
        ? e
        : new Error(String(e)),
    );
  }

  /** The error for what fails once closed: carries `closeReason` as its cause. */
  closedError(): ConnectionError {
    return new ConnectionError(
      this.closeReason
        ? `connection closed: ${this.closeReason.message}`
        : "connection closed",
      { cause: this.closeReason ?? undefined },
    );
  }

  #onClose(): void {
    clearTimeout(this.#pingTimer);
    if (this.#flushing) {
      // Send what was queued before closing (e.g. an init error, the last
      // replies), as the reference's transports do; bounded by LINGER_MS.
      this.#lingerTimer = setTimeout(() => this.#closeSocket(), LINGER_MS);
    } else {
      this.#closeSocket();
    }
    const error = this.closedError();
    this.#receiver?.reject(error);
    this.#receiver = null;
    this.#readerWaiting?.resolve();
    for (const w of this.#roomWaiters) w.resolve();
    for (const w of this.#drainWaiters) w.reject(error);
    this.#roomWaiters = [];
    this.#drainWaiters = [];
  }

  #deliver(m: ChatterMsg): boolean {
    const type = m.type;
    if (type.startsWith("HatChatter.")) {
      if (type === PING) {
        this.sendNow(PONG, null, {
          conv: { owner: !m.owner, firstId: m.first },
          last: true,
        });
      }
      return true;
    }
    const msg: Msg = {
      conv: { owner: !m.owner, firstId: m.first },
      first: m.owner && m.first === m.id,
      last: m.last,
      token: m.token,
      type,
      data: m.data,
    };
    const receiver = this.#receiver;
    if (receiver) {
      this.#receiver = null;
      receiver.resolve(msg);
      return true;
    }
    this.#queue.push(msg);
    return this.#queue.length - this.#qHead < this.#receiveQueueSize;
  }

  async #readLoop(): Promise<void> {
    const conn = this.#conn;
    let readSize = MIN_READ;
    let buf = new Uint8Array(readSize);
    let start = 0;
    let end = 0;
    // Delivered messages hold views into buf: never overwrite those bytes.
    let shared = false;
    try {
      for (;;) {
        let frameSize = -1;
        for (;;) {
          const k = frameBodyLength(buf, start, end, this.maxFrameSize);
          if (k < 0) break;
          const size = 1 + buf[start] + k;
          if (end - start < size) {
            frameSize = size;
            break;
          }
          const body = start + 1 + buf[start];
          start += size;
          shared = true;
          if (!this.#deliver(readChatterMsg(buf, body, body + k))) {
            // Full receive queue: stop reading, so TCP pushes back.
            this.#readerWaiting = Promise.withResolvers<void>();
            await this.#readerWaiting.promise;
            if (!this.isOpen) return;
          }
        }
        const pending = end - start;
        if (pending === 0 && !shared) {
          start = end = 0;
        }
        const needed = frameSize > 0 ? frameSize : MIN_TAIL;
        if (buf.length - start < needed || buf.length - end < MIN_TAIL) {
          // Grow with the data actually received, not with what a header
          // announces, so a lying header cannot make us allocate.
          const cap = Math.max(
            readSize,
            frameSize > 0 ? Math.min(frameSize, pending * 2 + readSize) : 0,
            pending + MIN_TAIL,
          );
          const next = new Uint8Array(cap);
          next.set(buf.subarray(start, end));
          buf = next;
          start = 0;
          end = pending;
          shared = false;
        }
        const space = buf.length - end;
        const n = await conn.read(buf.subarray(end));
        if (n === null) {
          if (end > start) {
            this.closeWithReason(
              new ProtocolError(
                `stream ended inside a frame (${end - start} bytes)`,
              ),
            );
          }
          return;
        }
        end += n;
        this.#lastRx = performance.now();
        if (n === space) {
          readSize = Math.min(readSize * 2, MAX_READ);
        } else if (n < readSize / 8) {
          readSize = Math.max(readSize / 2, MIN_READ);
        }
      }
    } catch (e) {
      if (!this.isOpen) return;
      if (
        e instanceof Deno.errors.BadResource ||
        e instanceof Deno.errors.Interrupted
      ) return;
      if (e instanceof Deno.errors.ConnectionReset) return;
      this.closeWithReason(
        e instanceof Error && e.name === "SbsError"
          ? new ProtocolError(`malformed frame: ${e.message}`, { cause: e })
          : e instanceof Error
          ? e
          : new Error(String(e)),
      );
    } finally {
      this.close();
    }
  }

  #closeSocket(): void {
    clearTimeout(this.#lingerTimer);
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
  }

  async #flush(): Promise<void> {
    try {
      // Goes on after close() began: sendNow refuses new messages then,
      // so this only finishes what was already queued.
      while (this.#queued > 0) {
        const out = this.#out;
        this.#out = this.#spare;
        this.#spare = out;
        this.#queued = 0;
        for (const w of this.#roomWaiters) w.resolve();
        this.#roomWaiters = [];
        const bytes = out.bytes();
        let written = 0;
        while (written < bytes.length) {
          written += await this.#conn.write(bytes.subarray(written));
        }
        out.reset();
        if (out.buf.length > MAX_READ) this.#spare = new Writer(512);
      }
    } catch (e) {
      if (this.isOpen) {
        this.closeWithReason(e instanceof Error ? e : new Error(String(e)));
      }
    } finally {
      this.#flushing = false;
      if (this.#queued === 0) {
        for (const w of this.#drainWaiters) w.resolve();
        this.#drainWaiters = [];
      }
      if (!this.isOpen) this.#closeSocket();
    }
  }

  #armPing(delay: number): void {
    this.#pingTimer = setTimeout(() => this.#onPingTimer(), delay);
  }

  #onPingTimer(): void {
    if (!this.isOpen) return;
    const now = performance.now();
    if (this.#pingSentAt >= 0) {
      if (this.#lastRx < this.#pingSentAt) {
        const waited = now - this.#pingSentAt;
        if (waited >= this.#pingTimeout) {
          this.closeWithReason(new ConnectionError("ping timeout"));
        } else {
          this.#armPing(Math.min(this.#pingDelay, this.#pingTimeout - waited));
        }
        return;
      }
      this.#pingSentAt = -1;
    }
    const idle = now - this.#lastRx;
    if (idle < this.#pingDelay) {
      this.#armPing(this.#pingDelay - idle);
      return;
    }
    try {
      this.sendNow(PING, null, { last: false });
    } catch (e) {
      this.closeWithReason(e as Error);
      return;
    }
    this.#pingSentAt = now;
    // Checked again after pingDelay too, so that the next Ping goes out
    // pingDelay after the Pong, as the reference does, not after pingTimeout.
    this.#armPing(Math.min(this.#pingDelay, this.#pingTimeout));
  }
}

/**
 * Connect to a Chatter server.
 *
 * @param addr Server address.
 * @param options Chatter, TLS and abort options.
 * @returns The open connection.
 * @throws {ConnectionError} When the connection cannot be made.
 */
export async function connect(
  addr: Address,
  options: ConnectOptions = {},
): Promise<Connection> {
  const signal = options.signal;
  signal?.throwIfAborted();
  const connecting = options.tls
    ? Deno.connectTls({
      hostname: addr.hostname,
      port: addr.port,
      caCerts: options.tls.caCerts,
    })
    : Deno.connect({ hostname: addr.hostname, port: addr.port });
  let conn: Deno.Conn;
  try {
    conn = await abortable<Deno.Conn>(connecting, signal);
  } catch (e) {
    if (signal?.aborted) {
      // A connection that completes after the abort must not leak.
      connecting.then((c) => c.close(), () => {});
      throw signal.reason;
    }
    throw new ConnectionError(
      `cannot connect to ${addr.hostname}:${addr.port}: ${
        (e as Error).message
      }`,
      { cause: e },
    );
  }
  setNoDelay(conn);
  return new Connection(conn, null, options);
}

/** Called with each accepted connection; runs as a task of its group. */
export type ConnectionHandler = (conn: Connection) => void | Promise<void>;

/** A listening Chatter server. Create with {@linkcode listen}. */
export class ChatterServer extends Resource {
  readonly #group = new Group();
  readonly #listener: Deno.Listener;

  /** @internal Use {@linkcode listen}. */
  constructor(
    listener: Deno.Listener,
    handler: ConnectionHandler,
    options: ChatterOptions,
  ) {
    super();
    this.#listener = listener;
    this.#group.signal.addEventListener("abort", () => {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    }, { once: true });
    this.#group.spawn(() => this.#acceptLoop(handler, options));
  }

  /** The server's group; each connection's group is its child. */
  get group(): Group {
    return this.#group;
  }

  /** Addresses the server listens on (the real port when 0 was asked for). */
  get addresses(): Address[] {
    return [toAddress(this.#listener.addr)];
  }

  async #acceptLoop(
    handler: ConnectionHandler,
    options: ChatterOptions,
  ): Promise<void> {
    for (;;) {
      let sock: Deno.Conn;
      try {
        sock = await this.#listener.accept();
      } catch (e) {
        if (!this.isOpen || e instanceof Deno.errors.BadResource) return;
        // A failed TLS handshake or a reset before accept: keep serving.
        log.warn(`accept failed: ${(e as Error).message}`);
        continue;
      }
      if (!this.isOpen) {
        sock.close();
        return;
      }
      setNoDelay(sock);
      const conn = new Connection(sock, this.#group, options);
      conn.group.spawn(() => handler(conn));
    }
  }
}

/**
 * Listen for Chatter connections.
 *
 * @param handler Called with each accepted connection.
 * @param addr Address to bind (port 0 picks a free port).
 * @param options Chatter and TLS options.
 * @returns The listening server.
 */
export function listen(
  handler: ConnectionHandler,
  addr: Address,
  options: ListenOptions = {},
): Promise<ChatterServer> {
  const listener = options.tls
    ? Deno.listenTls({
      hostname: addr.hostname,
      port: addr.port,
      cert: options.tls.cert,
      key: options.tls.key,
      transport: "tcp",
    })
    : Deno.listen({
      hostname: addr.hostname,
      port: addr.port,
      transport: "tcp",
    });
  return Promise.resolve(new ChatterServer(listener, handler, options));
}
