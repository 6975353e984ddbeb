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

// Int32 slots of the shared memory.
/** Batches settled (committed or failed) so far. */
export const SETTLED = 0;
/** {@linkcode OK} or {@linkcode FAILED}: how the last batch settled. */
export const STATUS = 1;
/** Bytes of the last failure's message. */
export const ERROR_LENGTH = 2;
/** {@linkcode STATE_READY}, then {@linkcode STATE_CLOSED}. */
export const STATE = 3;

/** The batch was committed. */
export const OK = 1;
/** The batch was rolled back. */
export const FAILED = 2;
/** The thread runs and has its connection (or the error opening it). */
export const STATE_READY = 1;
/** The thread's connection is closed. */
export const STATE_CLOSED = 2;

/** Byte offset of the last failure's message (UTF-8). */
export const ERROR_OFFSET = 16;
/** Bytes kept of a failure's message. */
export const ERROR_BYTES = 1024;
/** Bytes of the shared memory. */
export const SHARED_BYTES = ERROR_OFFSET + ERROR_BYTES;
