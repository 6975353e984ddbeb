/**
 * The send side of a Chatter connection: messages framed into a pooled
 * write buffer, and a flush writing them to the socket. Bounded by
 * `sendQueueSize` messages and `sendQueueBytes` bytes, both counted over
 * the messages queued and the write in flight; a shared payload counts in
 * full for each connection holding it.
 *
 * A message sent `reserved` (a reply, an ack, Ping and Pong) is queued
 * even past the bounds: their number is bounded by what the peer sent,
 * and dropping one would leave a request unanswered or cut a live
 * connection.
 *
 * @module
 */

import type { Writer } from "../sbs/mod.ts";
import { BackpressureError, type ConnectionError } from "./errors.ts";
import { type Payload, writeFrame, writeFrameHead } from "./frame.ts";
import type { Conversation } from "./msg.ts";
import type { SendOptions } from "./options.ts";
import { releaseWriter, takeWriter } from "./_writer_pool.ts";

/** What a {@linkcode SendQueue} needs of its connection. */
export interface SendQueueHost {
  /** True until the connection starts closing. */
  readonly isOpen: boolean;
  /** Close for `reason` (a write failed). */
  closeWithReason(reason: Error): void;
  /** Close the socket (the flush that outlived closing is done). */
  closeSocket(): void;
  /** The error of what fails once closed (with the reason's code). */
  closedError(): ConnectionError;
}

/**
 * Bytes payloads at least this long are written from the caller's buffer
 * instead of being copied into the connection's: the caller must leave
 * them unchanged until written (the server's shared notification batches,
 * encoded once for many connections). One more write call per message
 * costs less than copying this much.
 */
const SHARE_MIN = 16384;

/** The messages queued for one socket. */
export class SendQueue {
  readonly #host: SendQueueHost;
  readonly #conn: Deno.Conn;
  readonly #size: number;
  readonly #maxBytes: number;
  #nextId = 1;
  // Taken from the pool by the first message queued, given back once the
  // flush wrote it: idle connections hold no write buffer.
  #out: Writer | null = null;
  // Payloads sent by reference (see SHARE_MIN): pairs of the offset in
  // #out where each belongs and the payload, in order.
  #byRef: (number | Uint8Array)[] | null = null;
  #lastSize = 0;
  // Messages and bytes not yet written: in #out, and in the write in
  // flight.
  #queued = 0;
  #bytes = 0;
  // Messages and bytes in #out (not yet taken by the flush).
  #outCount = 0;
  #outBytes = 0;
  // Writes completed while more was queued behind them: the kernel took
  // them as the peer read, a sign that it is alive (see Keepalive). A
  // write with nothing behind it proves nothing: a vanished peer's kernel
  // buffer takes it too.
  #writes = 0;
  #flushing = false;
  #runFlush: (() => void) | null = null;
  #roomWaiters: PromiseWithResolvers<void>[] | null = null;
  #drainWaiters: PromiseWithResolvers<void>[] | null = null;

  /**
   * @param host The connection.
   * @param conn Its socket.
   * @param size Messages queued before `sendNow` refuses and `send` waits.
   * @param maxBytes Bytes queued before `sendNow` refuses and `send` waits.
   */
  constructor(
    host: SendQueueHost,
    conn: Deno.Conn,
    size: number,
    maxBytes: number,
  ) {
    this.#host = host;
    this.#conn = conn;
    this.#size = size;
    this.#maxBytes = maxBytes;
  }

  /** Messages queued and not yet written. */
  get backlog(): number {
    return this.#queued;
  }

  /** Bytes queued and not yet written. */
  get backlogBytes(): number {
    return this.#bytes;
  }

  /** Writes completed so far while more was queued behind them. */
  get writes(): number {
    return this.#writes;
  }

  /** True while either bound is reached: `sendNow` refuses, `send` waits. */
  get full(): boolean {
    return this.#queued >= this.#size || this.#bytes >= this.#maxBytes;
  }

  /**
   * Resolves once the queue is below both bounds, or the connection
   * closed; undefined when it is already.
   */
  room(): Promise<void> | undefined {
    if (!this.full || !this.#host.isOpen) return undefined;
    const room = Promise.withResolvers<void>();
    (this.#roomWaiters ??= []).push(room);
    return room.promise;
  }

  /** True while a flush is writing (it goes on after closing began). */
  get flushing(): boolean {
    return this.#flushing;
  }

  /** Queue a message, waiting while the queue is full. */
  async send(
    type: string,
    payload: Payload,
    options?: SendOptions,
  ): Promise<Conversation> {
    for (let room = this.room(); room; room = this.room()) await room;
    return this.sendNow(type, payload, options);
  }

  /** Queue a message without waiting (see `Connection.sendNow`). */
  sendNow(type: string, payload: Payload, options?: SendOptions): Conversation {
    if (!this.#host.isOpen) throw this.#host.closedError();
    if (this.full && !options?.reserved) {
      throw new BackpressureError(
        this.#queued >= this.#size
          ? `send queue full (${this.#queued} messages)`
          : `send queue full (${this.#bytes} bytes)`,
      );
    }
    const id = this.#nextId++;
    const conv = options?.conv ?? { owner: true, firstId: id };
    const out = this.#out ??= takeWriter();
    const mark = out.pos;
    const { firstId, owner } = conv;
    const token = options?.token ?? true;
    const last = options?.last ?? true;
    let shared = 0;
    try {
      if (payload instanceof Uint8Array && payload.length >= SHARE_MIN) {
        // Written from the caller's buffer, not copied: a batch notified
        // to many clients is one buffer, not one copy per connection.
        shared = payload.length;
        writeFrameHead(out, id, firstId, owner, token, last, type, shared);
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
      if (this.#outCount === 0) {
        // Nothing queued in it (a running flush took the previous one).
        this.#out = null;
        releaseWriter(out);
      }
      throw e;
    }
    const size = out.pos - mark + shared;
    this.#queued++;
    this.#bytes += size;
    this.#outBytes += size;
    if (this.#outCount++ === 0 && !this.#flushing) {
      this.#flushing = true;
      // Deferred so that messages sent in the same turn share one write.
      queueMicrotask(this.#runFlush ??= () => void this.#flush());
    }
    return conv;
  }

  /** Resolves when every queued message has been written to the socket. */
  drain(): Promise<void> {
    if (this.#queued === 0 && !this.#flushing) return Promise.resolve();
    if (!this.#host.isOpen) return Promise.reject(this.#host.closedError());
    const waiter = Promise.withResolvers<void>();
    (this.#drainWaiters ??= []).push(waiter);
    return waiter.promise;
  }

  /**
   * The connection closed: senders waiting for room go on (and find it
   * closed), drains fail with `error`.
   */
  close(error: Error): void {
    const room = this.#roomWaiters;
    const drain = this.#drainWaiters;
    this.#roomWaiters = null;
    this.#drainWaiters = null;
    if (room) { for (const w of room) w.resolve(); }
    if (drain) { for (const w of drain) w.reject(error); }
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
    const host = this.#host;
    try {
      // Goes on after closing began: sendNow refuses new messages then,
      // so this only finishes what was already queued.
      while (this.#outCount > 0) {
        const out = this.#out!;
        const byRef = this.#byRef;
        const count = this.#outCount;
        const bytes = this.#outBytes;
        this.#out = null;
        this.#byRef = null;
        this.#outCount = 0;
        this.#outBytes = 0;
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
        if (this.#outCount > 0) this.#writes++;
        this.#queued -= count;
        this.#bytes -= bytes;
        const room = this.#roomWaiters;
        if (room && !this.full) {
          this.#roomWaiters = null;
          for (const w of room) w.resolve();
        }
      }
    } catch (e) {
      if (host.isOpen) {
        host.closeWithReason(e instanceof Error ? e : new Error(String(e)));
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
      if (!host.isOpen) host.closeSocket();
    }
  }
}
