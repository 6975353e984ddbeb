/**
 * What the store, its writer thread, the sync thread and the checkpointer
 * thread share: the messages the store posts, the layout of the shared
 * memory where the threads report, and how they settle batches there.
 *
 * @module
 */

import type { SQLInputValue } from "node:sqlite";
import type { Synchronous } from "./_schema.ts";

/** A message to the writer thread. */
export type WriterMessage =
  | {
    kind: "open";
    path: string;
    synchronous: Synchronous;
    shared: SharedArrayBuffer;
  }
  | {
    kind: "batch";
    /** The rows, `ROW_COLUMNS` values each (see _row_writer.ts). */
    values: SQLInputValue[];
    /** The rows' runs, `RUN_COLUMNS` values each (see _row_writer.ts). */
    runs: SQLInputValue[];
    /** JSON text of `[typeId, seq]` pairs. */
    latest: string;
    /** The store's server, its last session and instance, and timestamp. */
    server: [number, number, number, Uint8Array];
  }
  | { kind: "close" };

/** The message starting the sync thread (see _sync_worker.ts). */
export interface SyncOpen {
  /** The database file's write-ahead log. */
  wal: string;
  shared: SharedArrayBuffer;
}

/** The message starting the checkpointer thread (see _checkpoint_worker.ts). */
export interface CheckpointOpen {
  /** The database file. */
  path: string;
  shared: SharedArrayBuffer;
}

// Int32 slots of the shared memory.
/** Batches settled (on disk, or failed) so far, in posting order. */
export const SETTLED = 0;
/**
 * Batches committed (or failed) by SQLite so far: those past
 * {@linkcode SETTLED} wait for the sync of the log.
 */
export const COMMITTED = 1;
/** Bytes of the last failure's message. */
export const ERROR_LENGTH = 2;
/** {@linkcode STATE_READY}, then {@linkcode STATE_CLOSED}. */
export const STATE = 3;
/**
 * Batches posted so far (the store counts a batch before it posts it):
 * when none follows a commit, the writer thread syncs the log itself
 * rather than hand the sync to the sync thread.
 */
export const POSTED = 4;
/**
 * Bumped at every commit and every settlement: what the store waits on,
 * to post the next batch or report those settled.
 */
export const PROGRESS = 5;
/**
 * Set when the store closes the threads: the sync and checkpointer
 * threads stop waiting (a worker waiting in `Atomics.wait` would outlive
 * its `terminate`).
 */
export const STOP = 6;
/**
 * Set by the sync thread once it runs: only then does the writer thread
 * hand it a sync (before, it syncs itself, so that no batch waits for a
 * thread the store did not start).
 */
export const SYNCING = 7;
/**
 * The checkpointer thread's state: {@linkcode CHECKPOINTER_NONE} until
 * the store starts it, then {@linkcode CHECKPOINTER_STARTING},
 * {@linkcode CHECKPOINTER_RUNNING} and {@linkcode CHECKPOINTER_CLOSED}.
 * While it runs, the writer thread's commits leave the checkpoints to it
 * (up to {@linkcode WAL_BACKSTOP_PAGES}).
 */
export const CHECKPOINTER = 8;
/**
 * First slot of the ring of how batches settled: batch `i`'s
 * {@linkcode OK} or {@linkcode FAILED} is in slot
 * `STATUS + i % WRITER_QUEUE` (the store posts batch `i` only once it
 * has read batch `i - WRITER_QUEUE`'s).
 */
export const STATUS = 9;
/**
 * Most batches posted and not yet settled: the one SQLite writes, the
 * one waiting for it, and those committed and waiting for their sync.
 */
export const WRITER_QUEUE = 8;
/**
 * Most batches posted and not yet committed: the one SQLite writes and
 * the next one, so that the thread never waits for the store between
 * two; the store gathers the requests after them into one batch.
 */
export const WRITER_AHEAD = 2;

/**
 * Batches committed between two checkpoints of the checkpointer thread:
 * a checkpoint syncs the database file, a few milliseconds however few
 * pages it copied.
 */
export const CHECKPOINT_BATCHES = 2;
/**
 * Pages of the write-ahead log (4 KiB each) past which a commit of the
 * writer thread checkpoints itself while the checkpointer thread runs
 * (SQLite's `wal_autocheckpoint`, 1,000 without it). The checkpointer's
 * checkpoints run beside the writer's commits, which keep adding to the
 * log: the log starts over only once a checkpoint copied all of it
 * before a commit, which under steady load is this one, copying what
 * the checkpointer did not yet (a batch or two). It bounds the log file
 * at some 16 MiB.
 */
export const WAL_BACKSTOP_PAGES = 4000;

/** The checkpointer thread is not started. */
export const CHECKPOINTER_NONE = 0;
/** The store started the checkpointer thread; it has no connection yet. */
export const CHECKPOINTER_STARTING = 1;
/** The checkpointer thread has its connection and checkpoints. */
export const CHECKPOINTER_RUNNING = 2;
/** The checkpointer thread closed its connection (or never opened one). */
export const CHECKPOINTER_CLOSED = 3;

/** The batch was committed. */
export const OK = 1;
/** The batch was rolled back, or the sync after its commit failed. */
export const FAILED = 2;
/** The thread runs and has its connection (or the error opening it). */
export const STATE_READY = 1;
/** The thread's connection is closed. */
export const STATE_CLOSED = 2;

/**
 * Byte offset of the last failure's message (UTF-8; a later failure
 * overwrites it).
 */
export const ERROR_OFFSET = 4 * (STATUS + WRITER_QUEUE);
/** Bytes kept of a failure's message. */
export const ERROR_BYTES = 1024;
/** Bytes of the shared memory. */
export const SHARED_BYTES = ERROR_OFFSET + ERROR_BYTES;

/** Wake the store (and anything else waiting on {@linkcode PROGRESS}). */
export function progress(shared: Int32Array): void {
  Atomics.add(shared, PROGRESS, 1);
  Atomics.notify(shared, PROGRESS);
}

/**
 * Batches up to `settled` are settled (both threads settle: the count
 * only grows).
 */
export function settle(shared: Int32Array, settled: number): void {
  for (;;) {
    const now = Atomics.load(shared, SETTLED);
    if (now >= settled) return;
    if (Atomics.compareExchange(shared, SETTLED, now, settled) === now) break;
  }
  progress(shared);
}

/** Keep `error`'s message as the last failure's. */
export function recordFailure(shared: Int32Array, error: unknown): void {
  const text = error instanceof Error ? error.message : String(error);
  const bytes = new Uint8Array(shared.buffer, ERROR_OFFSET, ERROR_BYTES);
  const { written } = new TextEncoder().encodeInto(text, bytes);
  Atomics.store(shared, ERROR_LENGTH, written);
}

/**
 * Sync the log `wal` and settle the batches committed up to `committed`;
 * should the sync fail, those not settled yet fail (they are not known
 * to be on disk).
 */
export function syncAndSettle(
  shared: Int32Array,
  wal: string,
  committed: number,
): void {
  // Opened for each sync (some microseconds against the sync's
  // milliseconds): no descriptor to keep across a failure or a close.
  try {
    using file = Deno.openSync(wal, { read: true });
    file.syncDataSync();
  } catch (e) {
    recordFailure(
      shared,
      new Error(
        `syncing ${wal}: ${e instanceof Error ? e.message : String(e)}`,
      ),
    );
    for (let i = Atomics.load(shared, SETTLED); i < committed; i++) {
      Atomics.store(shared, STATUS + i % WRITER_QUEUE, FAILED);
    }
  }
  settle(shared, committed);
}
