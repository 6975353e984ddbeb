/**
 * One Chatter connection (SPEC §2): the socket's read loop, which parses
 * frames and delivers messages, and the parts it is made of: the receive
 * buffer (`_receive_buffer.ts`), the received messages (`_inbox.ts`), the
 * send queue (`_send_queue.ts`) and the keepalive (`_keepalive.ts`).
 *
 * @module
 */

import {
  Group,
  Resource,
  runTask,
  turnSpent,
  yieldToEventLoop,
} from "../async/mod.ts";
import { EventerError } from "../errors.ts";
import { log } from "../log.ts";
import { SbsError } from "../sbs/mod.ts";
import { type Address, toAddress } from "./address.ts";
import { ConnectionError, ProtocolError } from "./errors.ts";
import {
  type ChatterMsg,
  frameBodyLength,
  type Payload,
  readChatterMsg,
} from "./frame.ts";
import { type Conversation, Msg } from "./msg.ts";
import {
  type ChatterOptions,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_PING_DELAY,
  DEFAULT_PING_TIMEOUT,
  DEFAULT_RECEIVE_QUEUE_SIZE,
  DEFAULT_SEND_QUEUE_BYTES,
  DEFAULT_SEND_QUEUE_SIZE,
  type SendOptions,
} from "./options.ts";
import { isDisconnect, notChatter, socketFailed, where } from "./_diagnose.ts";
import { Inbox } from "./_inbox.ts";
import { Keepalive } from "./_keepalive.ts";
import { ReceiveBuffer } from "./_receive_buffer.ts";
import { SendQueue } from "./_send_queue.ts";

const PING = "HatChatter.Ping";
const PONG = "HatChatter.Pong";
/** How long a closed connection may go on writing what it had queued. */
const LINGER_MS = 1000;
/** Returned by the frame parser when the receive queue is full. */
const PAUSED = -2;

/** One Chatter connection. Create with `connect` or `listen`. */
export class Connection extends Resource {
  readonly #group: Group;
  readonly #conn: Deno.Conn;
  #localAddr: Address | null = null;
  #remoteAddr: Address | null = null;
  /**
   * Why the connection closed, when it closed for a reason; its `code`
   * is the code of every error that fails because of it.
   */
  closeReason: EventerError | null = null;
  /**
   * Largest accepted frame body in bytes; may be changed at any time and
   * applies from the next frame header (the Eventer server keeps it small
   * until a client's init succeeded).
   */
  maxFrameSize: number;
  readonly #rx: ReceiveBuffer;
  readonly #inbox: Inbox;
  readonly #tx: SendQueue;
  readonly #keepalive: Keepalive;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** This side connected (`connect` gives no parent group; `listen` does). */
  readonly #dialed: boolean;

  /** @internal Use `connect` or `listen`. */
  constructor(conn: Deno.Conn, parent: Group | null, options: ChatterOptions) {
    super();
    this.#dialed = parent === null;
    this.#group = new Group({
      parent: parent ?? undefined,
      onClose: () => this.#onClose(),
    });
    this.#conn = conn;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#rx = new ReceiveBuffer(this);
    this.#inbox = new Inbox(
      this,
      options.receiveQueueSize ?? DEFAULT_RECEIVE_QUEUE_SIZE,
    );
    this.#tx = new SendQueue(
      this,
      conn,
      options.sendQueueSize ?? DEFAULT_SEND_QUEUE_SIZE,
      options.sendQueueBytes ?? DEFAULT_SEND_QUEUE_BYTES,
    );
    // Absent means the default; null means never (SPEC §2).
    const pingDelay = options.pingDelay === undefined
      ? DEFAULT_PING_DELAY
      : options.pingDelay ?? 0;
    this.#keepalive = new Keepalive(
      this,
      pingDelay,
      options.pingTimeout ?? DEFAULT_PING_TIMEOUT,
    );
    runTask(this.#group, () => this.#readLoop());
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
    return this.#tx.backlog;
  }

  /** Bytes queued for the socket and not yet written. */
  get backlogBytes(): number {
    return this.#tx.backlogBytes;
  }

  /**
   * @internal Reads and writes completed: the keepalive's signs of life
   * (a write completes only while the peer reads).
   */
  get progress(): number {
    return this.#rx.reads + this.#tx.writes;
  }

  /**
   * Resolves once the send queue is below its bounds (`sendQueueSize`,
   * `sendQueueBytes`) or the connection closed; undefined when it is
   * below them already. The Eventer server waits for it before handling a
   * request, so that a peer that does not read its replies stops being
   * read instead of filling the queue.
   */
  sendRoom(): Promise<void> | undefined {
    return this.#tx.room();
  }

  /**
   * Send a message, waiting while the send queue is full.
   *
   * @returns The message's conversation.
   * @throws {ConnectionError} When the connection is closed.
   */
  send(
    type: string,
    payload: Payload,
    options?: SendOptions,
  ): Promise<Conversation> {
    return this.#tx.send(type, payload, options);
  }

  /**
   * Queue a message without waiting. A bytes payload of 16 KiB or more is
   * written from the given buffer, not copied: leave it unchanged until
   * {@linkcode Connection.drain} (the server shares one encoded batch
   * among the connections it notifies).
   *
   * @returns The message's conversation.
   * @throws {BackpressureError} When the send queue is full (and the
   *   message is not `reserved`).
   * @throws {ConnectionError} When the connection is closed.
   */
  sendNow(type: string, payload: Payload, options?: SendOptions): Conversation {
    return this.#tx.sendNow(type, payload, options);
  }

  /** Resolves when every queued message has been written to the socket. */
  drain(): Promise<void> {
    return this.#tx.drain();
  }

  /**
   * Next application message (Ping and Pong never reach here). Messages
   * received before closing can still be read after it.
   *
   * @throws {ConnectionError} When closed and nothing is left.
   */
  receive(): Promise<Msg> {
    return this.#inbox.receive();
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
    this.#inbox.consume(take, end);
  }

  /** Next application message if one is already buffered. */
  tryReceive(): Msg | undefined {
    return this.#inbox.tryReceive();
  }

  /**
   * Say that nothing will read `msg.data` again: no view into it was kept.
   * The Eventer client and server call this for each message they decoded
   * without handing out a binary payload (those are views). Once every
   * message delivered from a receive buffer is released, the buffer is
   * filled again instead of a new, zeroed one. At most once per message.
   */
  release(msg: Msg): void {
    this.#rx.release(msg);
  }

  /**
   * Close with a reason, which is logged (with its code) and kept in
   * `closeReason`. An error of the socket (Deno's) is kept as a
   * {@linkcode ConnectionError} saying what it means, with it as `cause`.
   */
  closeWithReason(reason: Error): void {
    if (!this.isOpen) return;
    const error = socketFailed(
      reason,
      this.remoteAddr,
      "handshake" in this.#conn,
      this.#dialed,
    );
    this.closeReason = error;
    // A peer going away is ordinary; only protocol and local failures warn.
    (isDisconnect(reason) ? log.debug : log.warn)(
      `closing connection ${
        where(this.remoteAddr)
      }: ${error.message} [${error.code}]`,
    );
    this.close();
  }

  /**
   * Close because handling a message failed: a decode error becomes a
   * {@linkcode ProtocolError} naming `what`, any other error than the
   * library's one with code `CALLBACK_FAILED`; a ConnectionError (the
   * connection is already going) is not a reason of its own.
   */
  fail(e: unknown, what = "message"): void {
    if (e instanceof ConnectionError) return;
    this.closeWithReason(
      e instanceof SbsError
        ? new ProtocolError(`malformed ${what}: ${e.message}`, { cause: e })
        : e instanceof EventerError
        ? e
        : new EventerError(
          `handling ${what} failed: ${
            e instanceof Error ? e.message : String(e)
          }`,
          { code: "CALLBACK_FAILED", cause: e },
        ),
    );
  }

  /**
   * The error for what fails once closed: carries `closeReason` as its
   * cause, and its code (`CLOSED` when it closed for no reason).
   */
  closedError(): ConnectionError {
    const reason = this.closeReason;
    return new ConnectionError(
      reason ? `connection closed: ${reason.message}` : "connection closed",
      { cause: reason ?? undefined, code: reason?.code ?? "CLOSED" },
    );
  }

  /**
   * @internal The error saying what the peer is instead, when the bytes it
   * sent first cannot start a Chatter frame and no frame was taken yet
   * (see `notChatter`); else null. For a connection whose first message
   * is overdue (a client's init reply, a server's MsgInitReq), and for
   * the read loop when the first frame fails.
   */
  firstBytesError(): EventerError | null {
    const rx = this.#rx;
    if (rx.start !== 0 || rx.end !== rx.total || rx.end === 0) return null;
    return notChatter(
      rx.buf.subarray(0, rx.end),
      this.remoteAddr,
      this.#dialed,
    );
  }

  /** @internal Queue a Ping (the keepalive's). */
  sendPing(): void {
    this.#tx.sendNow(PING, null, { last: false, reserved: true });
  }

  /** @internal Close the socket. */
  closeSocket(): void {
    clearTimeout(this.#lingerTimer);
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
  }

  #onClose(): void {
    this.#keepalive.stop();
    this.#rx.close();
    if (this.#tx.flushing) {
      // Send what was queued before closing (e.g. an init error, the last
      // replies), as the reference's transports do; bounded by LINGER_MS.
      this.#lingerTimer = setTimeout(() => this.closeSocket(), LINGER_MS);
    } else {
      this.closeSocket();
    }
    const error = this.closedError();
    this.#inbox.close(error);
    this.#tx.close(error);
  }

  // The loop's state lives in the receive buffer, and the buffer work in
  // synchronous methods, so that the loop's suspended frame references no
  // buffer but the one being read into (a local left holding a replaced
  // 256 KB buffer, or a delivered message, kept it alive).
  async #readLoop(): Promise<void> {
    const conn = this.#conn;
    const rx = this.#rx;
    try {
      for (;;) {
        let frameSize;
        while ((frameSize = this.#parse()) === PAUSED) {
          // Full receive queue: stop reading, so TCP pushes back.
          await this.#inbox.room();
          if (!this.isOpen) return;
        }
        const idle = rx.prepare(frameSize);
        const space = rx.buf.length - rx.end;
        const n = await conn.read(
          rx.end === 0 ? rx.buf : rx.buf.subarray(rx.end),
        );
        if (n === null) {
          if (rx.end > rx.start) {
            this.closeWithReason(
              this.firstBytesError() ??
                new ProtocolError(
                  `stream ended inside a frame (${rx.end - rx.start} bytes)`,
                ),
            );
          }
          return;
        }
        rx.received(n, space, idle);
        // A read of a socket that has data completes at once: a socket
        // that always has data would keep this loop from ever returning
        // to the event loop, and timers and other sockets would wait.
        if (turnSpent()) {
          await yieldToEventLoop();
          if (!this.isOpen) return;
        }
      }
    } catch (e) {
      if (!this.isOpen) return;
      if (
        e instanceof Deno.errors.BadResource ||
        e instanceof Deno.errors.Interrupted
      ) return;
      if (e instanceof Deno.errors.ConnectionReset) return;
      this.closeWithReason(this.#readFailure(e));
    } finally {
      this.close();
      // The group (this task) closes once the consumer has ended.
      const ended = this.#inbox.ended();
      if (ended) await ended;
    }
  }

  // Why the read loop failed with `e`.
  #readFailure(e: unknown): Error {
    if (!(e instanceof SbsError)) {
      return e instanceof Error ? e : new Error(String(e));
    }
    if (e.code === "FRAME_TOO_LARGE") {
      // Thrown at the frame's header: its offset is where the frame
      // starts. The first frame of the stream may be no Chatter at all.
      const rx = this.#rx;
      const first = e.offset === 0 && rx.end === rx.total
        ? this.firstBytesError()
        : null;
      return first ?? new ProtocolError(
        `malformed frame: ${e.message}: raise maxFrameSize if ${
          where(this.remoteAddr)
        } may send that much`,
        { code: "FRAME_TOO_LARGE", cause: e },
      );
    }
    return new ProtocolError(`malformed frame: ${e.message}`, { cause: e });
  }

  // Delivers the complete frames buffered. Returns PAUSED when the
  // receive queue is full, else the size of the incomplete frame at
  // `start` when its header is complete, else -1.
  #parse(): number {
    const rx = this.#rx;
    const buf = rx.buf;
    const end = rx.end;
    let start = rx.start;
    for (;;) {
      const k = frameBodyLength(buf, start, end, this.maxFrameSize);
      if (k < 0) break;
      const size = 1 + buf[start] + k;
      if (end - start < size) {
        rx.start = start;
        return size;
      }
      const body = start + 1 + buf[start];
      start += size;
      if (!this.#deliver(readChatterMsg(buf, body, body + k))) {
        rx.start = start;
        return PAUSED;
      }
    }
    rx.start = start;
    return -1;
  }

  // Answers a Ping, or hands an application message over; returns whether
  // there is room for more.
  #deliver(m: ChatterMsg): boolean {
    const type = m.type;
    if (type.startsWith("HatChatter.")) {
      if (type === PING) {
        this.#tx.sendNow(PONG, null, {
          conv: { owner: !m.owner, firstId: m.first },
          last: true,
          reserved: true,
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
    // Its data is a view into the receive buffer until released.
    this.#rx.hold();
    return this.#inbox.deliver(msg);
  }
}
