/**
 * The write buffers Chatter connections share.
 *
 * @module
 */

import { BufferPool } from "./_buffer_pool.ts";
import { Writer } from "../sbs/mod.ts";

/**
 * Largest buffer kept for reuse (a larger one grew for a rare message).
 * Large enough for the writer that several 1,000-event requests sent in
 * one turn share, which would otherwise be dropped after each write and
 * grown again every round.
 */
const MAX_WRITER = 1024 * 1024;

// Write buffers are taken from this pool when a connection has something
// to send and given back once written, so that idle connections hold
// none. While sends go on, the pool keeps what they use (a fan-out to 100
// clients has 100 frames of a batch in flight); once it has not been used
// for a sweep period it shrinks back to 512 KiB.
const writerPool = new BufferPool<Writer>((w) => w.buf.length, {
  maxCount: 256,
  maxBytes: 16 * 1024 * 1024,
  idleBytes: 512 * 1024,
  sweepMs: 100,
});

/** A write buffer: from the pool when it has one, else a new small one. */
export function takeWriter(): Writer {
  return writerPool.take() ?? new Writer(512);
}

/** Give a write buffer back (dropped when too large; a full pool drops its oldest). */
export function releaseWriter(w: Writer): void {
  w.reset();
  if (w.buf.length <= MAX_WRITER) writerPool.give(w);
}
