/**
 * The writer thread's side (see _writer_thread.ts): its own connection to
 * the database file, and for each batch one transaction writing its rows.
 * With `synchronous` "full", a commit is followed by a sync of the log
 * before the batch is settled: by the sync thread (_sync_worker.ts) when
 * the next batch is posted already, which this thread writes meanwhile,
 * else here (no hand-over to wait for). With "normal", a batch is
 * settled once committed. While the checkpointer thread runs
 * (_checkpoint_worker.ts), the commits leave it the checkpoints.
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { RowWriter } from "./_row_writer.ts";
import { setSynchronous, type Synchronous } from "./_schema.ts";
import {
  CHECKPOINTER,
  CHECKPOINTER_RUNNING,
  COMMITTED,
  FAILED,
  OK,
  POSTED,
  progress,
  recordFailure,
  settle,
  STATE,
  STATE_CLOSED,
  STATE_READY,
  STATUS,
  syncAndSettle,
  SYNCING,
  WAL_BACKSTOP_PAGES,
  WRITER_QUEUE,
  type WriterMessage,
} from "./_writer_protocol.ts";

// The connection and its statements, opened by the first batch (and
// again by the next one when that failed, say on a full disk); and
// whether the log is synced after its commits (by this thread or the
// sync thread), else by SQLite in them, or not at all ("normal"); and
// whether its commits leave checkpoints to the checkpointer thread (up
// to WAL_BACKSTOP_PAGES).
interface Connection {
  db: DatabaseSync;
  rows: RowWriter;
  syncLog: boolean;
  backstop: boolean;
}
let connection: Connection | null = null;
let path = "";
let synchronous: Synchronous = "full";
let shared: Int32Array;

// Batches written so far.
let written = 0;

// The next batch committed (or failed), then settled: after a sync of
// the log when its commit did not sync, else now.
function committed(status: number, error?: unknown): void {
  if (status === FAILED) recordFailure(shared, error);
  Atomics.store(shared, STATUS + written % WRITER_QUEUE, status);
  written++;
  Atomics.store(shared, COMMITTED, written);
  setAutocheckpoint();
  if (!connection?.syncLog) {
    settle(shared, written);
  } else if (
    Atomics.load(shared, POSTED) > written &&
    Atomics.load(shared, SYNCING) === 1
  ) {
    // The sync thread syncs while this one writes the next batch.
    Atomics.notify(shared, COMMITTED);
    progress(shared);
  } else {
    syncAndSettle(shared, `${path}-wal`, written);
  }
}

// Let the commits checkpoint past WAL_BACKSTOP_PAGES of log while the
// checkpointer thread runs, past SQLite's 1,000 pages otherwise.
function setAutocheckpoint(): void {
  const running = Atomics.load(shared, CHECKPOINTER) === CHECKPOINTER_RUNNING;
  if (connection === null || running === connection.backstop) return;
  try {
    connection.db.exec(
      `PRAGMA wal_autocheckpoint = ${running ? WAL_BACKSTOP_PAGES : 1000}`,
    );
    connection.backstop = running;
  } catch {
    // Tried again at the next commit.
  }
}

// Whether this thread may sync the database's write-ahead log after its
// commits: with "full", when the database has such a log and the log
// can be opened here (a program allowed to read the database file only
// cannot: SQLite then syncs in each commit, as without the thread).
function canSyncLog(db: DatabaseSync): boolean {
  if (synchronous !== "full") return false;
  const mode = db.prepare("PRAGMA journal_mode").get()?.journal_mode;
  if (mode !== "wal") return false;
  try {
    Deno.openSync(`${path}-wal`, { read: true }).close();
    return true;
  } catch {
    return false;
  }
}

function open(): Connection {
  if (connection !== null) return connection;
  const db = new DatabaseSync(path);
  try {
    // The store's own connection never writes while a batch is here;
    // this only covers a checkpoint of another process's reader.
    db.exec("PRAGMA busy_timeout = 5000");
    // A commit that does not sync: the log is synced after it, before
    // its batch is settled.
    const syncLog = canSyncLog(db);
    setSynchronous(db, syncLog ? "normal" : synchronous);
    return connection = {
      db,
      rows: new RowWriter(db),
      syncLog,
      backstop: false,
    };
  } catch (e) {
    db.close();
    throw e;
  }
}

function write(
  values: SQLInputValue[],
  runs: SQLInputValue[],
  latest: string,
  server: [number, number, number, Uint8Array],
): void {
  let db: DatabaseSync;
  let rows: RowWriter;
  try {
    ({ db, rows } = open());
  } catch (e) {
    committed(FAILED, e);
    return;
  }
  try {
    db.exec("BEGIN IMMEDIATE");
    rows.insert(values);
    rows.runs(runs);
    rows.latest(latest);
    rows.server(...server);
    db.exec("COMMIT");
  } catch (e) {
    if (db.isTransaction) {
      try {
        db.exec("ROLLBACK");
      } catch {
        // The next batch's BEGIN tells.
      }
    }
    committed(FAILED, e);
    return;
  }
  committed(OK);
}

globalThis.addEventListener("message", (e: Event) => {
  const message = (e as MessageEvent<WriterMessage>).data;
  switch (message.kind) {
    case "open":
      shared = new Int32Array(message.shared);
      path = message.path;
      synchronous = message.synchronous;
      Atomics.store(shared, STATE, STATE_READY);
      Atomics.notify(shared, STATE);
      break;
    case "batch":
      write(message.values, message.runs, message.latest, message.server);
      break;
    case "close":
      try {
        connection?.db.close();
      } finally {
        connection = null;
        Atomics.store(shared, STATE, STATE_CLOSED);
        Atomics.notify(shared, STATE);
      }
      break;
  }
});
