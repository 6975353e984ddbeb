/**
 * The receive buffer of a Chatter connection: what a read fills and the
 * frame parser reads, sized to the traffic, reused once every message
 * delivered from it is released, and small while the connection is idle.
 *
 * @module
 */

import { BufferPool } from "./_buffer_pool.ts";
import type { Msg } from "./msg.ts";

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
/** How long a connection keeps its spare buffer once no data comes. */
const SPARE_MS = 50;
/** Largest receive buffer kept in the pool. */
const POOLED_READ_MAX = 2 * MAX_READ;

// Large receive buffers that connections let go of (their spare, after
// SPARE_MS without data or on close), for the next connection whose frame
// outgrows its buffer: traffic that comes in bursts further apart than
// SPARE_MS (a batch every 100 ms, or 100 clients notified in turn) would
// otherwise allocate a new, zeroed buffer per frame. Nothing reads a
// buffer once it is a spare (all its messages released).
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

/** What a {@linkcode ReceiveBuffer} needs of its connection. */
export interface ReceiveBufferHost {
  /** True until the connection starts closing. */
  readonly isOpen: boolean;
}

/**
 * The bytes received and not yet parsed are `buf[start, end)`. Delivered
 * messages view `buf`, whose bytes are never overwritten while one is
 * unreleased (see {@linkcode ReceiveBuffer.release}).
 */
export class ReceiveBuffer {
  /** The buffer reads fill. */
  buf: Uint8Array = new Uint8Array(IDLE_READ);
  /** Where the bytes not yet parsed start. */
  start = 0;
  /** Where the bytes received end. */
  end = 0;
  /** Reads completed. */
  reads = 0;
  /**
   * Bytes received so far: while `start` is 0 and `end` equals it, no
   * frame was taken yet (the first one is checked for a peer that is not
   * speaking Chatter when it fails).
   */
  total = 0;
  readonly #host: ReceiveBufferHost;
  // Messages delivered from `buf` and not released. #retired is the buffer
  // before it while some of its messages are unreleased; #spare is one
  // none of whose messages is, the next one to fill (a large one for
  // frames, a small one for idle reads), given to the receive pool (or
  // dropped, when small) once no data came for SPARE_MS.
  #held = 0;
  #retired: Uint8Array | null = null;
  #retiredHeld = 0;
  #spare: Uint8Array | null = null;
  #spareTimer: ReturnType<typeof setTimeout> | undefined;
  #dropSpare: (() => void) | null = null;
  // The read count when the spare timer was armed.
  #readsAtArm = 0;
  /** The last read left the socket empty (it did not fill its buffer). */
  #drained = true;
  #readSize = MIN_READ;

  /** @param host The connection. */
  constructor(host: ReceiveBufferHost) {
    this.#host = host;
  }

  /** A message viewing `buf` was delivered. */
  hold(): void {
    this.#held++;
  }

  /**
   * Nothing will read `msg`'s bytes again. Once every message delivered
   * from a buffer is released, the buffer is filled again instead of a
   * new, zeroed one. At most once per message.
   */
  release(msg: Msg): void {
    const buffer = msg.buf.buffer;
    if (buffer === this.buf.buffer) {
      this.#held--;
    } else if (this.#retired !== null && buffer === this.#retired.buffer) {
      if (--this.#retiredHeld === 0) {
        this.#setSpare(this.#retired);
        this.#retired = null;
      }
    }
  }

  /**
   * Make room for the next read, given the size of the incomplete frame
   * at `start` when its header is complete (else -1); returns whether it
   * is an idle read (everything consumed and the socket drained).
   */
  prepare(frameSize: number): boolean {
    let buf = this.buf;
    let start = this.start;
    let end = this.end;
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
        // allocating.
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
    this.buf = buf;
    this.start = start;
    this.end = end;
    return idle;
  }

  /**
   * A read of `n` bytes into the `space` bytes after `end` completed;
   * `idle` is what {@linkcode ReceiveBuffer.prepare} said of it. The next
   * reads' size follows what this one found.
   */
  received(n: number, space: number, idle: boolean): void {
    this.end += n;
    this.reads++;
    this.total += n;
    const drained = this.#drained = n < space;
    const readSize = this.#readSize;
    if (!drained && !idle) {
      this.#readSize = Math.min(readSize * 2, MAX_READ);
    } else if (!idle && n < readSize / 8) {
      this.#readSize = Math.max(readSize / 2, MIN_READ);
    }
  }

  /** The connection closed: spare buffers go to the pool. */
  close(): void {
    clearTimeout(this.#spareTimer);
    this.#spareTimer = undefined;
    this.#setSpare(null);
    this.#retired = null;
  }

  #armSpareTimer(): void {
    this.#readsAtArm = this.reads;
    const timer = setTimeout(
      this.#dropSpare ??= () => {
        this.#spareTimer = undefined;
        if (this.reads !== this.#readsAtArm && this.#host.isOpen) {
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

  // `buf` is being replaced: watched until its messages are released, or
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
}
