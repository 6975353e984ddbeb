/**
 * The write buffers Chatter connections share.
 *
 * @module
 */

import { Writer } from "./sbs.ts";

/** Largest buffer kept for reuse (a larger one grew for a rare message). */
const MAX_WRITER = 262144;

// Write buffers are taken from this pool when a connection has something
// to send and given back once written, so that idle connections hold
// none. While sends go on, the pool keeps what they use (a fan-out to 100
// clients has 100 frames of a batch in flight); once it has not been used
// for a sweep period it shrinks back to WRITER_POOL_IDLE_BYTES.
const writerPool: Writer[] = [];
const WRITER_POOL_COUNT = 256;
const WRITER_POOL_BYTES = 16 * 1024 * 1024;
const WRITER_POOL_IDLE_BYTES = 2 * MAX_WRITER;
const WRITER_POOL_SWEEP_MS = 100;
let writerPoolBytes = 0;
let writerPoolUsed = false;
let writerPoolTimer: ReturnType<typeof setTimeout> | undefined;

/** A write buffer: from the pool when it has one, else a new small one. */
export function takeWriter(): Writer {
  writerPoolUsed = true;
  const w = writerPool.pop();
  if (!w) return new Writer(512);
  writerPoolBytes -= w.buf.length;
  return w;
}

/** Give a write buffer back (dropped when too large or the pool is full). */
export function releaseWriter(w: Writer): void {
  writerPoolUsed = true;
  w.reset();
  const size = w.buf.length;
  if (
    size > MAX_WRITER || writerPool.length >= WRITER_POOL_COUNT ||
    writerPoolBytes + size > WRITER_POOL_BYTES
  ) return;
  writerPool.push(w);
  writerPoolBytes += size;
  if (
    writerPoolBytes > WRITER_POOL_IDLE_BYTES && writerPoolTimer === undefined
  ) armWriterPoolSweep();
}

function armWriterPoolSweep(): void {
  const timer = setTimeout(sweepWriterPool, WRITER_POOL_SWEEP_MS);
  // Never what keeps a process alive.
  Deno.unrefTimer(timer);
  writerPoolTimer = timer;
}

function sweepWriterPool(): void {
  writerPoolTimer = undefined;
  if (writerPoolUsed) {
    writerPoolUsed = false;
    armWriterPoolSweep();
    return;
  }
  while (writerPoolBytes > WRITER_POOL_IDLE_BYTES) {
    writerPoolBytes -= writerPool.pop()!.buf.length;
  }
}
