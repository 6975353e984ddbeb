/**
 * Chatter connections: framed `HatChatter.Msg` messages over TCP or TLS,
 * conversations, Ping/Pong, and bounded queues (SPEC §2).
 *
 * @module
 */

import {
  abortable,
  type Deadline,
  Group,
  Resource,
  SharedTimer,
} from "./async/mod.ts";
import { BackpressureError, ConnectionError, ProtocolError } from "./errors.ts";
import {
  type ChatterMsg,
  frameBodyLength,
  type Payload,
  readChatterMsg,
  writeFrame,
  writeFrameHead,
} from "./frame.ts";
import { log } from "./log.ts";
import { Reader, SbsError, type Writer } from "./sbs/mod.ts";
import { BufferPool } from "./buffer_pool.ts";
import { releaseWriter, takeWriter } from "./writer_pool.ts";
import type { Address } from "./chatter/address.ts";

/** A conversation, seen from this side. */
export interface Conversation {
  /** True when this side started the conversation. */
  owner: boolean;
  /** Id of the conversation's first message. */
  firstId: number;
}

/**
 * A received application message. Its payload is `buf[start, end)` in the
 * connection's receive buffer (decode before the next `receive`, or
 * `release` it when no view into it is kept).
 */
export class Msg {
  /**
   * @param conv The conversation, from this side's point of view.
   * @param first True when this message started the conversation.
   * @param last True when this message ended the conversation.
   * @param token True when the peer passed the turn.
   * @param type Payload type name.
   * @param buf The receive buffer holding the payload.
   * @param start Where the payload's SBS bytes start in `buf`.
   * @param end Where they end (exclusive).
   */
  constructor(
    readonly conv: Conversation,
    readonly first: boolean,
    readonly last: boolean,
    readonly token: boolean,
    readonly type: string,
    readonly buf: Uint8Array,
    readonly start: number,
    readonly end: number,
  ) {}

  /** Payload SBS bytes: a view into `buf`. */
  get data(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }

  /** A reader of the payload, where it lies in `buf`. */
  reader(): Reader {
    return new Reader(this.buf, this.start, this.end);
  }
}

/** Options of a Chatter connection. */
export interface ChatterOptions {
  /**
   * Seconds without incoming data before sending a Ping (default 20; 0 or
   * null: never). Incoming data is noticed by a check every eighth of this
   * delay, so a Ping goes out up to about a sixth of it later.
   */
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
/** Smallest buffer of a read while data is flowing. */
const MIN_READ = 4096;
/** Largest learned read size (frames larger than it get buffers of their size). */
const MAX_READ = 262144;
/** Least room a read gets while data is flowing. */
const MIN_TAIL = 1024;
/**
 * Buffer of a read issued when everything received was consumed and the
 * socket had nothing more: the read an idle connection waits in. Small,
 * because every idle connection holds one; frames that do not fit grow
 * the buffer as before.
 */
const IDLE_READ = 512;
/** Least room of an idle read appended after delivered messages. */
const IDLE_TAIL = 128;
/** How long a connection keeps its spare receive buffer once no data comes. */
const SPARE_MS = 50;
/** Largest receive buffer kept in the pool. */
const POOLED_READ_MAX = 2 * MAX_READ;
// Large receive buffers that connections let go of (their spare, after
// SPARE_MS without data or on close), for the next connection whose frame
// outgrows its buffer: traffic that comes in bursts further apart than
// SPARE_MS (a batch every 100 ms, or 100 clients notified in turn) would
// otherwise allocate a new, zeroed buffer per frame (~45 µs for 128 KB).
// Nothing reads a buffer once it is a spare (all its messages released).
const receivePool = new BufferPool<Uint8Array>((b) => b.length, {
  maxCount: 256,
  maxBytes: 16 * 1024 * 1024,
  idleBytes: 2 * MAX_READ,
  // Longer than the writers' sweep: bursts come further apart than
  // SPARE_MS, by definition.
  sweepMs: 1000,
});

function poolReceiveBuffer(buf: Uint8Array): void {
  if (buf.length > IDLE_READ && buf.length <= POOLED_READ_MAX) {
    receivePool.give(buf);
  }
}
// States of a consumer (Connection.consume).
const CONSUMER_IDLE = 0;
const CONSUMER_SCHEDULED = 1;
const CONSUMER_BUSY = 2;
const CONSUMER_ENDING = 3;
const LINGER_MS = 1000;
// Ping checks per pingDelay while data comes in: how late a Ping may be,
// as a fraction of pingDelay (see Connection.onDue).
const PING_CHECKS = 8;
/**
 * Bytes payloads at least this long are written from the caller's buffer
 * instead of being copied into the connection's: the caller must leave
 * them unchanged until written (the server's shared notification batches,
 * encoded once for many connections). One more write call per message
 * costs less than copying this much.
 */
const SHARE_MIN = 16384;
/** Returned by the frame parser when the receive queue is full. */
const PAUSED = -2;

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

// Ping checks of every connection share one timer.
const pingTimer = new SharedTimer((d, e) => (d as Connection).fail(e));

/** One Chatter connection. Create with {@linkcode connect} or {@linkcode listen}. */
export class Connection extends Resource implements Deadline {
  readonly #group: Group;
  readonly #conn: Deno.Conn;
  #localAddr: Address | null = null;
  #remoteAddr: Address | null = null;
  /** Why the connection closed, when it closed for a reason. */
  closeReason: Error | null = null;

  #nextId = 1;
  // Taken from the pool by the first message queued, given back once the
  // flush wrote it: idle connections hold no write buffer.
  #out: Writer | null = null;
  // Payloads sent by reference (see SHARE_MIN): pairs of the offset in
  // #out where each belongs and the payload, in order.
  #byRef: (number | Uint8Array)[] | null = null;
  #lastSize = 0;
  #queued = 0;
  #flushing = false;
  #roomWaiters: PromiseWithResolvers<void>[] | null = null;
  #drainWaiters: PromiseWithResolvers<void>[] | null = null;
  readonly #sendQueueSize: number;

  #queue: Msg[] | null = null;
  #qHead = 0;
  #receiver: PromiseWithResolvers<Msg> | null = null;
  // The consumer (see consume): no task or promise of its own while idle.
  #take: (() => Promise<void> | undefined) | null = null;
  #onEnd: (() => void | Promise<void>) | null = null;
  #consumer = CONSUMER_IDLE;
  #runConsumer: (() => void) | null = null;
  #runFlush: (() => void) | null = null;
  #consumerEnded: PromiseWithResolvers<void> | null = null;
  #readerWaiting: PromiseWithResolvers<void> | null = null;
  readonly #receiveQueueSize: number;
  /**
   * Largest accepted frame body in bytes; may be changed at any time and
   * applies from the next frame header (the Eventer server keeps it small
   * until a client's init succeeded).
   */
  maxFrameSize: number;

  readonly #pingDelay: number;
  /** The interval of the ping checks: pingDelay / PING_CHECKS. */
  readonly #pingStep: number;
  readonly #pingTimeout: number;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  // Reads are counted, not timed (a performance.now() per read was 2 % of
  // a register round trip): the ping check, every pingDelay / PING_CHECKS,
  // notes when the count moved, so #lastRx is the first check after the
  // last data, and a Ping goes out between pingDelay and about 1.16 times
  // pingDelay after it (a check interval and the grid of #armPing).
  #lastRx = 0;
  #readsAtCheck = 0;
  #pingSentAt = -1;
  /** @internal When the ping check is due (see {@linkcode SharedTimer}). */
  dueAt = 0;
  /** @internal Place in the ping timer's heap. */
  heapIndex = -1;

  /** @internal Use {@linkcode connect} or {@linkcode listen}. */
  constructor(conn: Deno.Conn, parent: Group | null, options: ChatterOptions) {
    super();
    this.#group = new Group({
      parent: parent ?? undefined,
      onClose: () => this.#onClose(),
    });
    this.#conn = conn;
    this.#sendQueueSize = options.sendQueueSize ?? 1024;
    this.#receiveQueueSize = options.receiveQueueSize ?? 1024;
    this.maxFrameSize = options.maxFrameSize ?? 256 * 1024 * 1024;
    // Absent means the default; null means never (SPEC §2).
    this.#pingDelay =
      (options.pingDelay === undefined ? 20 : options.pingDelay ?? 0) * 1000;
    this.#pingTimeout = (options.pingTimeout ?? 20) * 1000;

    this.#lastRx = performance.now();
    this.#pingStep = this.#pingDelay / PING_CHECKS;
    if (this.#pingDelay > 0) this.#armPing(this.#pingStep);
    this.#group.run(() => this.#readLoop());
  }

  /** Local address. */
  get localAddr(): Address {
    return this.#localAddr ??= toAddress(this.#conn.localAddr);
  }

  /** Remote address. */
  get remoteAddr(): Address {
    return this.#remoteAddr ??= toAddress(this.#conn.remoteAddr);
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
      (this.#roomWaiters ??= []).push(room);
      await room.promise;
    }
    return this.sendNow(type, payload, options);
  }

  /**
   * Queue a message without waiting. A bytes payload of 16 KiB or more is
   * written from the given buffer, not copied: leave it unchanged until
   * {@linkcode Connection.drain} (the server shares one encoded batch
   * among the connections it notifies).
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
    const out = this.#out ??= takeWriter();
    const mark = out.pos;
    const { firstId, owner } = conv;
    const token = options?.token ?? true;
    const last = options?.last ?? true;
    try {
      if (payload instanceof Uint8Array && payload.length >= SHARE_MIN) {
        // Written from the caller's buffer, not copied: a batch notified
        // to many clients is one buffer, not one copy per connection.
        const size = payload.length;
        writeFrameHead(out, id, firstId, owner, token, last, type, size);
        (this.#byRef ??= []).push(out.pos, payload);
      } else {
        const hint = this.#lastSize;
        writeFrame(out, id, firstId, owner, token, last, type, payload, hint);
        // The next frame is guessed to be as large: right, a large
        // written payload is not moved to make room for its length.
        this.#lastSize = out.pos - mark;
      }
    } catch (e) {
      // An unencodable payload must not leave half a frame behind.
      out.pos = mark;
      this.#nextId--;
      if (this.#queued === 0) {
        // Nothing queued in it (a running flush took the previous one).
        this.#out = null;
        releaseWriter(out);
      }
      throw e;
    }
    if (this.#queued++ === 0 && !this.#flushing) {
      this.#flushing = true;
      // Deferred so that messages sent in the same turn share one write.
      queueMicrotask(this.#runFlush ??= () => void this.#flush());
    }
    return conv;
  }

  /** Resolves when every queued message has been written to the socket. */
  drain(): Promise<void> {
    if (this.#queued === 0 && !this.#flushing) return Promise.resolve();
    if (!this.isOpen) return Promise.reject(new ConnectionError());
    const waiter = Promise.withResolvers<void>();
    (this.#drainWaiters ??= []).push(waiter);
    return waiter.promise;
  }

  /**
   * Next application message (Ping and Pong never reach here). Messages
   * received before closing can still be read after it.
   *
   * @throws {ConnectionError} When closed and nothing is left.
   */
  receive(): Promise<Msg> {
    if (this.#take) throw new Error("messages go to a consumer");
    const msg = this.tryReceive();
    if (msg) return Promise.resolve(msg);
    if (!this.isOpen) return Promise.reject(this.closedError());
    if (this.#receiver) {
      throw new Error("another receive is already pending");
    }
    this.#receiver = Promise.withResolvers<Msg>();
    return this.#receiver.promise;
  }

  /**
   * Hand every message from now on to a consumer instead of `receive`,
   * which then may not be used. `take` is called, from a microtask,
   * whenever messages are buffered, and takes them with `tryReceive`; it
   * may return a promise, and is not called again until that settles (so
   * a full consumer stops the reading). Messages received before closing
   * are still handed over after it. If `take` throws or its
   * promise rejects, the connection closes (see {@linkcode Connection.fail})
   * and nothing more is handed over. `end` is called once, when the
   * connection is closed and the consumer is done; when the consumer was
   * set before the connection closed, the connection's group closes only
   * after that (and after the promise `end` returns, if any).
   *
   * Unlike a loop awaiting `receive`, an idle consumer holds no suspended
   * frame, promise or task, nor the last message.
   */
  consume(
    take: () => Promise<void> | undefined,
    end: () => void | Promise<void>,
  ): void {
    if (this.#receiver || this.#take || this.#onEnd) {
      throw new Error("another receive is already pending");
    }
    this.#take = take;
    this.#onEnd = end;
    if (this.#queue || !this.isOpen) this.#scheduleConsumer();
  }

  #scheduleConsumer(): void {
    if (this.#consumer !== CONSUMER_IDLE) return;
    this.#consumer = CONSUMER_SCHEDULED;
    queueMicrotask(this.#runConsumer ??= () => this.#consume());
  }

  #consume(): void {
    if (this.#consumer !== CONSUMER_SCHEDULED) return; // ended meanwhile
    this.#consumer = CONSUMER_IDLE;
    const take = this.#take;
    if (take === null) return;
    let full: Promise<void> | undefined;
    try {
      full = take();
    } catch (e) {
      this.#consumerFailed(e);
      return;
    }
    if (full) {
      this.#consumer = CONSUMER_BUSY;
      full.then(() => {
        this.#consumer = CONSUMER_IDLE;
        this.#consumeMore();
      }, (e) => {
        this.#consumer = CONSUMER_IDLE;
        this.#consumerFailed(e);
      });
      return;
    }
    this.#consumeMore();
  }

  #consumeMore(): void {
    if (this.#queue) this.#scheduleConsumer();
    else if (!this.isOpen) this.#endConsumer();
  }

  #consumerFailed(e: unknown): void {
    this.#take = null; // nothing more is handed over
    this.fail(e);
    this.close();
    this.#endConsumer();
  }

  #endConsumer(): void {
    const end = this.#onEnd;
    if (end === null || this.#consumer === CONSUMER_ENDING) return;
    this.#consumer = CONSUMER_ENDING;
    this.#take = null;
    const ended = () => {
      this.#onEnd = null;
      this.#consumerEnded?.resolve();
    };
    let done: void | Promise<void> = undefined;
    try {
      done = end();
    } catch (e) {
      log.error("connection consumer failed to end:", e);
    }
    if (done) done.then(ended, ended);
    else ended();
  }

  /** Next application message if one is already buffered. */
  tryReceive(): Msg | undefined {
    const queue = this.#queue;
    if (!queue) return undefined;
    const msg = queue[this.#qHead];
    (queue as (Msg | undefined)[])[this.#qHead++] = undefined;
    if (this.#qHead === queue.length) {
      // Made again by the next message: an idle connection holds none.
      this.#queue = null;
      this.#qHead = 0;
    }
    if (this.#readerWaiting) {
      this.#readerWaiting.resolve();
      this.#readerWaiting = null;
    }
    return msg;
  }

  /**
   * Say that nothing will read `msg.data` again: no view into it was kept.
   * The Eventer client and server call this for each message they decoded
   * without handing out a binary payload (those are views). Once every
   * message delivered from a receive buffer is released, the buffer is
   * filled again instead of a new, zeroed one. At most once per message.
   */
  release(msg: Msg): void {
    const buffer = msg.buf.buffer;
    if (this.#buf !== null && buffer === this.#buf.buffer) {
      this.#held--;
    } else if (this.#retired !== null && buffer === this.#retired.buffer) {
      if (--this.#retiredHeld === 0) {
        this.#setSpare(this.#retired);
        this.#retired = null;
      }
    }
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
    pingTimer.unschedule(this);
    clearTimeout(this.#spareTimer);
    this.#spareTimer = undefined;
    this.#setSpare(null);
    this.#retired = null;
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
    if (this.#take) this.#scheduleConsumer();
    this.#readerWaiting?.resolve();
    const room = this.#roomWaiters;
    const drain = this.#drainWaiters;
    this.#roomWaiters = null;
    this.#drainWaiters = null;
    if (room) { for (const w of room) w.resolve(); }
    if (drain) { for (const w of drain) w.reject(error); }
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
    const msg = new Msg(
      { owner: !m.owner, firstId: m.first },
      m.owner && m.first === m.id,
      m.last,
      m.token,
      type,
      m.buf,
      m.dataStart,
      m.dataEnd,
    );
    // Its data is a view into #buf until released.
    this.#held++;
    const receiver = this.#receiver;
    if (receiver) {
      this.#receiver = null;
      receiver.resolve(msg);
      return true;
    }
    const queue = this.#queue ??= [];
    queue.push(msg);
    if (this.#take) this.#scheduleConsumer();
    return queue.length - this.#qHead < this.#receiveQueueSize;
  }

  // The read loop's state lives in these fields, and the buffer work in
  // synchronous methods, so that the loop's suspended frame references no
  // buffer but the one being read into (a register left holding a
  // replaced 256 KB buffer, or a delivered message, kept it alive).
  #buf: Uint8Array | null = null;
  #start = 0;
  #end = 0;
  // Delivered messages view #buf, whose bytes are never overwritten while
  // one is unreleased (see release): #held counts them. #retired is the
  // buffer before it while some of its messages are unreleased; #spare is
  // one none of whose messages is, the next one to fill (a large one for
  // frames, a small one for idle reads), given to the receive pool (or
  // dropped, when small) once no data came for SPARE_MS.
  #held = 0;
  #retired: Uint8Array | null = null;
  #retiredHeld = 0;
  #spare: Uint8Array | null = null;
  #spareTimer: ReturnType<typeof setTimeout> | undefined;
  #dropSpare: (() => void) | null = null;
  // Reads completed, and their count when the spare timer was armed.
  #reads = 0;
  #readsAtArm = 0;
  /** The last read left the socket empty (it did not fill its buffer). */
  #drained = true;
  #readSize = MIN_READ;

  async #readLoop(): Promise<void> {
    const conn = this.#conn;
    this.#buf = new Uint8Array(IDLE_READ);
    try {
      for (;;) {
        let frameSize;
        while ((frameSize = this.#parse()) === PAUSED) {
          // Full receive queue: stop reading, so TCP pushes back.
          this.#readerWaiting = Promise.withResolvers<void>();
          await this.#readerWaiting.promise;
          if (!this.isOpen) return;
        }
        const idle = this.#prepareRead(frameSize);
        const space = this.#buf.length - this.#end;
        const n = await conn.read(
          this.#end === 0 ? this.#buf : this.#buf.subarray(this.#end),
        );
        if (n === null) {
          if (this.#end > this.#start) {
            this.closeWithReason(
              new ProtocolError(
                `stream ended inside a frame (${
                  this.#end - this.#start
                } bytes)`,
              ),
            );
          }
          return;
        }
        this.#end += n;
        this.#reads++;
        const drained = this.#drained = n < space;
        const readSize = this.#readSize;
        if (!drained && !idle) {
          this.#readSize = Math.min(readSize * 2, MAX_READ);
        } else if (!idle && n < readSize / 8) {
          this.#readSize = Math.max(readSize / 2, MIN_READ);
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
      // The group (this task) closes once the consumer has ended.
      if (this.#onEnd) {
        this.#consumerEnded = Promise.withResolvers<void>();
        await this.#consumerEnded.promise;
      }
    }
  }

  // Delivers the complete frames buffered. Returns PAUSED when the
  // receive queue is full, else the size of the incomplete frame at
  // #start when its header is complete, else -1.
  #parse(): number {
    const buf = this.#buf!;
    const end = this.#end;
    let start = this.#start;
    for (;;) {
      const k = frameBodyLength(buf, start, end, this.maxFrameSize);
      if (k < 0) break;
      const size = 1 + buf[start] + k;
      if (end - start < size) {
        this.#start = start;
        return size;
      }
      const body = start + 1 + buf[start];
      start += size;
      if (!this.#deliver(readChatterMsg(buf, body, body + k))) {
        this.#start = start;
        return PAUSED;
      }
    }
    this.#start = start;
    return -1;
  }

  // Makes room for the next read; returns whether it is an idle read.
  #prepareRead(frameSize: number): boolean {
    let buf = this.#buf!;
    let start = this.#start;
    let end = this.#end;
    const pending = end - start;
    if (pending === 0 && this.#held === 0) {
      start = end = 0;
    }
    // An idle read: all consumed, nothing more was waiting. It may wait
    // long, so it gets a small buffer, and a large one grown by traffic is
    // let go (delivered messages keep it while they need it).
    const idle = pending === 0 && this.#drained;
    if (idle) {
      if (buf.length > IDLE_READ || buf.length - end < IDLE_TAIL) {
        // A small spare is the buffer before this one, all its messages
        // released: round trips alternate between the two instead of
        // allocating (a new 512-byte Uint8Array costs ~1 µs).
        const spare = this.#spare;
        const reuse = spare !== null && spare.length === IDLE_READ;
        if (reuse) this.#spare = null;
        this.#retire(buf);
        buf = reuse ? spare : new Uint8Array(IDLE_READ);
        start = end = 0;
      }
      // Between frames under load the socket is often drained: a spare
      // waits for the next frame, and goes to the pool after SPARE_MS
      // without data.
      if (
        (this.#spare !== null || this.#retired !== null) &&
        this.#spareTimer === undefined
      ) this.#armSpareTimer();
    } else {
      if (this.#spareTimer !== undefined) {
        clearTimeout(this.#spareTimer);
        this.#spareTimer = undefined;
      }
      const needed = frameSize > 0 ? frameSize : MIN_TAIL;
      if (buf.length - start < needed || buf.length - end < MIN_TAIL) {
        // Grow with the data actually received, not with what a header
        // announces, so a lying header cannot make us allocate. Room past
        // the frame: a read that ends the frame without filling the
        // buffer tells that the socket is drained.
        const readSize = this.#readSize;
        const cap = Math.max(
          readSize,
          frameSize > 0
            ? Math.min(frameSize + MIN_TAIL, pending * 2 + readSize)
            : 0,
          pending + MIN_TAIL,
        );
        let next = this.#spare;
        this.#spare = null;
        if (next === null || next.length < cap) {
          if (next !== null) poolReceiveBuffer(next);
          // A pooled buffer that holds the whole frame allocates nothing,
          // and spares growing it step by step.
          next = (frameSize > 0
            ? receivePool.takeAtLeast(frameSize + MIN_TAIL)
            : undefined) ??
            receivePool.takeAtLeast(cap) ?? new Uint8Array(cap);
        }
        next.set(buf.subarray(start, end));
        this.#retire(buf);
        buf = next;
        start = 0;
        end = pending;
      }
    }
    this.#buf = buf;
    this.#start = start;
    this.#end = end;
    return idle;
  }

  #armSpareTimer(): void {
    this.#readsAtArm = this.#reads;
    const timer = setTimeout(
      this.#dropSpare ??= () => {
        this.#spareTimer = undefined;
        if (this.#reads !== this.#readsAtArm && this.isOpen) {
          this.#armSpareTimer(); // data came meanwhile: not idle yet
        } else {
          this.#setSpare(null);
          this.#retired = null;
        }
      },
      SPARE_MS,
    );
    Deno.unrefTimer(timer);
    this.#spareTimer = timer;
  }

  // #buf is being replaced: watched until its messages are released, or
  // kept as the spare when none is held (an older retired buffer is left
  // to its messages).
  #retire(buf: Uint8Array): void {
    if (this.#held > 0) {
      this.#retired = buf;
      this.#retiredHeld = this.#held;
    } else {
      this.#setSpare(buf);
    }
    this.#held = 0;
  }

  // The spare is replaced: the one it held goes to the pool.
  #setSpare(buf: Uint8Array | null): void {
    const old = this.#spare;
    if (old !== null && old !== buf) poolReceiveBuffer(old);
    this.#spare = buf;
  }

  #closeSocket(): void {
    clearTimeout(this.#lingerTimer);
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      written += await this.#conn.write(
        written === 0 ? bytes : bytes.subarray(written),
      );
    }
  }

  async #flush(): Promise<void> {
    try {
      // Goes on after close() began: sendNow refuses new messages then,
      // so this only finishes what was already queued.
      while (this.#queued > 0) {
        const out = this.#out!;
        const byRef = this.#byRef;
        this.#out = null;
        this.#byRef = null;
        this.#queued = 0;
        const room = this.#roomWaiters;
        if (room) {
          this.#roomWaiters = null;
          for (const w of room) w.resolve();
        }
        let from = 0;
        if (byRef) {
          // Frame heads from `out`, each followed by its shared payload.
          for (let i = 0; i < byRef.length; i += 2) {
            const at = byRef[i] as number;
            await this.#writeAll(out.buf.subarray(from, at));
            await this.#writeAll(byRef[i + 1] as Uint8Array);
            from = at;
          }
        }
        // The usual case, one write taking it all, awaited here rather
        // than through #writeAll: one async call and promise less a flush.
        if (from < out.pos) {
          const tail = out.buf.subarray(from, out.pos);
          const n = await this.#conn.write(tail);
          if (n < tail.length) await this.#writeAll(tail.subarray(n));
        }
        releaseWriter(out);
      }
    } catch (e) {
      if (this.isOpen) {
        this.closeWithReason(e instanceof Error ? e : new Error(String(e)));
      }
    } finally {
      this.#flushing = false;
      if (this.#queued === 0) {
        const drain = this.#drainWaiters;
        if (drain) {
          this.#drainWaiters = null;
          for (const w of drain) w.resolve();
        }
      }
      if (!this.isOpen) this.#closeSocket();
    }
  }

  // Due times are rounded up to a grid of an eighth of a check interval,
  // shared by the connections of one pingDelay: their checks fire
  // together, so the process wakes at most 8 * PING_CHECKS times per
  // pingDelay for them, however many there are.
  #armPing(delay: number): void {
    const grain = this.#pingStep / 8;
    const now = performance.now();
    const at = Math.ceil((now + delay) / grain) * grain;
    pingTimer.schedule(this, at - now);
  }

  /** @internal Ping check due (see {@linkcode SharedTimer}). */
  onDue(): void {
    if (!this.isOpen) return;
    const now = performance.now();
    // Data came since the last check: at most a check interval ago.
    const heard = this.#reads !== this.#readsAtCheck;
    if (heard) {
      this.#readsAtCheck = this.#reads;
      this.#lastRx = now;
    }
    const step = this.#pingStep;
    if (this.#pingSentAt >= 0) {
      if (!heard) {
        const waited = now - this.#pingSentAt;
        if (waited >= this.#pingTimeout) {
          this.closeWithReason(new ConnectionError("ping timeout"));
        } else {
          this.#armPing(Math.min(step, this.#pingTimeout - waited));
        }
        return;
      }
      this.#pingSentAt = -1;
    }
    const idle = now - this.#lastRx;
    if (idle < this.#pingDelay) {
      this.#armPing(Math.min(step, this.#pingDelay - idle));
      return;
    }
    try {
      this.sendNow(PING, null, { last: false });
    } catch (e) {
      this.closeWithReason(e as Error);
      return;
    }
    this.#pingSentAt = now;
    // Checked again within a step, so that the next Ping goes out about
    // pingDelay after the Pong, as the reference does, not after pingTimeout.
    this.#armPing(Math.min(step, this.#pingTimeout));
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
    this.#group.run(() => this.#acceptLoop(handler, options));
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
      conn.group.run(() => handler(conn));
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
