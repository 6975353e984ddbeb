/**
 * What the store and its writer thread share: the messages the store
 * posts and the layout of the shared memory where the thread reports.
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
 * First slot of the ring of how batches settled: batch `i`'s
 * {@linkcode OK} or {@linkcode FAILED} is in slot
 * `STATUS + i % WRITER_QUEUE` (the store posts batch `i` only once it
 * has read batch `i - WRITER_QUEUE`'s).
 */
export const STATUS = 4;
/**
 * Most batches posted and not yet settled: the one SQLite writes, those
 * waiting for it, and those committed and waiting for their sync.
 */
export const WRITER_QUEUE = 8;

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
