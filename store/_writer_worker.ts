/**
 * The writer thread's side (see _writer_thread.ts): its own connection to
 * the database file, and for each batch one transaction writing its rows,
 * committed before the batch is reported settled in the shared memory.
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { RowWriter } from "./_row_writer.ts";
import {
  ERROR_BYTES,
  ERROR_LENGTH,
  ERROR_OFFSET,
  FAILED,
  OK,
  SETTLED,
  STATE,
  STATE_CLOSED,
  STATE_READY,
  STATUS,
  type WriterMessage,
} from "./_writer_protocol.ts";

let db: DatabaseSync | null = null;
let writer: RowWriter | null = null;
let path = "";
let synchronous = "full";
let shared: Int32Array;
let errorBytes: Uint8Array;

function settle(status: number, error?: unknown): void {
  if (status === FAILED) {
    const text = error instanceof Error ? error.message : String(error);
    const { written } = new TextEncoder().encodeInto(
      text,
      errorBytes.subarray(0, ERROR_BYTES),
    );
    Atomics.store(shared, ERROR_LENGTH, written);
  }
  Atomics.store(shared, STATUS, status);
  Atomics.add(shared, SETTLED, 1);
  Atomics.notify(shared, SETTLED);
}

// The connection, opened by the first batch, and again by the next one
// when that failed (say, on a full disk).
function open(): [DatabaseSync, RowWriter] {
  if (db !== null && writer !== null) return [db, writer];
  const opened = new DatabaseSync(path);
  try {
    // The store's own connection never writes while a batch is here;
    // this only covers a checkpoint of another process's reader.
    opened.exec("PRAGMA busy_timeout = 5000");
    opened.exec(
      `PRAGMA synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`,
    );
    writer = new RowWriter(opened);
  } catch (e) {
    opened.close();
    throw e;
  }
  db = opened;
  return [db, writer];
}

function write(
  values: SQLInputValue[],
  latest: string,
  server: [number, number, number, Uint8Array],
): void {
  let db: DatabaseSync;
  let writer: RowWriter;
  try {
    [db, writer] = open();
  } catch (e) {
    settle(FAILED, e);
    return;
  }
  try {
    db.exec("BEGIN IMMEDIATE");
    writer.insert(values);
    writer.latest(latest);
    writer.server(...server);
    db.exec("COMMIT");
  } catch (e) {
    if (db.isTransaction) {
      try {
        db.exec("ROLLBACK");
      } catch {
        // The next batch's BEGIN tells.
      }
    }
    settle(FAILED, e);
    return;
  }
  settle(OK);
}

globalThis.addEventListener("message", (e: Event) => {
  const message = (e as MessageEvent<WriterMessage>).data;
  switch (message.kind) {
    case "open":
      shared = new Int32Array(message.shared);
      errorBytes = new Uint8Array(message.shared, ERROR_OFFSET);
      path = message.path;
      synchronous = message.synchronous;
      Atomics.store(shared, STATE, STATE_READY);
      Atomics.notify(shared, STATE);
      break;
    case "batch":
      write(message.values, message.latest, message.server);
      break;
    case "close":
      try {
        db?.close();
      } finally {
        db = null;
        writer = null;
        Atomics.store(shared, STATE, STATE_CLOSED);
        Atomics.notify(shared, STATE);
      }
      break;
  }
});
