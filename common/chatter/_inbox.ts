/**
 * The receive side of a Chatter connection above the socket: received
 * application messages, bounded by `receiveQueueSize`, handed to one
 * `receive` at a time or to a consumer.
 *
 * @module
 */

import { turnSpent, yieldToEventLoop } from "../async/mod.ts";
import { log } from "../log.ts";
import type { ConnectionError } from "./errors.ts";
import type { Msg } from "./msg.ts";

/** What an {@linkcode Inbox} needs of its connection. */
export interface InboxHost {
  /** True until the connection starts closing. */
  readonly isOpen: boolean;
  /** Close because handling a message failed with `e`. */
  fail(e: unknown): void;
  /** Start closing. */
  close(): void;
  /** The error of what fails once closed. */
  closedError(): ConnectionError;
}

// States of a consumer (Inbox.consume).
const CONSUMER_IDLE = 0;
const CONSUMER_SCHEDULED = 1;
const CONSUMER_BUSY = 2;
const CONSUMER_ENDING = 3;

/** The received messages of one connection. */
export class Inbox {
  readonly #host: InboxHost;
  readonly #size: number;
  #queue: Msg[] | null = null;
  #qHead = 0;
  #receiver: PromiseWithResolvers<Msg> | null = null;
  // The consumer (see consume): no task or promise of its own while idle.
  #take: (() => Promise<void> | undefined) | null = null;
  #onEnd: (() => void | Promise<void>) | null = null;
  #consumer = CONSUMER_IDLE;
  #runConsumer: (() => void) | null = null;
  #consumerEnded: PromiseWithResolvers<void> | null = null;
  #readerWaiting: PromiseWithResolvers<void> | null = null;
  // The consumer was told to stop until the next turn of the event loop.
  #yielded = false;

  /**
   * @param host The connection.
   * @param size Messages buffered before the reading pauses.
   */
  constructor(host: InboxHost, size: number) {
    this.#host = host;
    this.#size = size;
  }

  /**
   * A message arrived; returns whether there is room for more (false: the
   * reading pauses until {@linkcode Inbox.room}).
   */
  deliver(msg: Msg): boolean {
    const receiver = this.#receiver;
    if (receiver) {
      this.#receiver = null;
      receiver.resolve(msg);
      return true;
    }
    const queue = this.#queue ??= [];
    queue.push(msg);
    if (this.#take) this.#scheduleConsumer();
    return queue.length - this.#qHead < this.#size;
  }

  /** Resolves once a message was taken from a full queue, or on close. */
  room(): Promise<void> {
    this.#readerWaiting = Promise.withResolvers<void>();
    return this.#readerWaiting.promise;
  }

  /** See `Connection.receive`. */
  receive(): Promise<Msg> {
    if (this.#take) throw new Error("messages go to a consumer");
    const msg = this.tryReceive();
    if (msg) return Promise.resolve(msg);
    if (!this.#host.isOpen) return Promise.reject(this.#host.closedError());
    if (this.#receiver) {
      throw new Error("another receive is already pending");
    }
    this.#receiver = Promise.withResolvers<Msg>();
    return this.#receiver.promise;
  }

  /**
   * Next message if one is already buffered. Once the process's work has
   * run for a turn's budget (see `turnSpent`), a consumer gets none until
   * the next turn of the event loop, so that a socket that always has data
   * cannot keep timers and other sockets waiting.
   */
  tryReceive(): Msg | undefined {
    const queue = this.#queue;
    if (!queue) return undefined;
    if (this.#take !== null && turnSpent()) {
      this.#yielded = true;
      return undefined;
    }
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

  /** See `Connection.consume`. */
  consume(
    take: () => Promise<void> | undefined,
    end: () => void | Promise<void>,
  ): void {
    if (this.#receiver || this.#take || this.#onEnd) {
      throw new Error("another receive is already pending");
    }
    this.#take = take;
    this.#onEnd = end;
    if (this.#queue || !this.#host.isOpen) this.#scheduleConsumer();
  }

  /**
   * The connection closed: a pending `receive` fails with `error`, the
   * consumer takes what is left and ends, the paused reading goes on (to
   * find it closed).
   */
  close(error: Error): void {
    this.#receiver?.reject(error);
    this.#receiver = null;
    if (this.#take) this.#scheduleConsumer();
    this.#readerWaiting?.resolve();
  }

  /**
   * Resolves once the consumer, if one was set, has ended: the reading
   * task waits for it, so that the connection's group closes after it.
   */
  ended(): Promise<void> | undefined {
    if (!this.#onEnd) return undefined;
    this.#consumerEnded = Promise.withResolvers<void>();
    return this.#consumerEnded.promise;
  }

  #scheduleConsumer(): void {
    if (this.#consumer !== CONSUMER_IDLE) return;
    this.#consumer = CONSUMER_SCHEDULED;
    const run = this.#runConsumer ??= () => this.#consume();
    if (this.#yielded) yieldToEventLoop().then(run);
    else queueMicrotask(run);
  }

  #consume(): void {
    if (this.#consumer !== CONSUMER_SCHEDULED) return; // ended meanwhile
    this.#consumer = CONSUMER_IDLE;
    this.#yielded = false;
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
    else if (!this.#host.isOpen) this.#endConsumer();
  }

  #consumerFailed(e: unknown): void {
    this.#take = null; // nothing more is handed over
    this.#host.fail(e);
    this.#host.close();
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
}
