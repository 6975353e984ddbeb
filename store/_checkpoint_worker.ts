/**
 * The checkpointer thread of a store's writer thread (see
 * _writer_thread.ts): on a connection of its own, it copies the pages
 * the writer thread committed to the write-ahead log into the database
 * file (a passive checkpoint, which waits for no reader or writer) every
 * {@linkcode CHECKPOINT_BATCHES} batches, so that the writer thread's
 * commits do not stop for that copy and the sync of the database file
 * after it. Left to the commits, those took a fifth of the writer
 * thread's time under load.
 *
 * A checkpoint is SQLite's own: the log is synced before pages are
 * copied, and the database file after, before the log may start over
 * (`synchronous` NORMAL does both; so does FULL), so a committed batch is
 * on disk in the log or in the database file at every moment. Should a
 * checkpoint fail, the writer thread's commits checkpoint themselves
 * past `WAL_BACKSTOP_PAGES` pages of log, and past SQLite's 1,000 once
 * this thread is closed.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import {
  CHECKPOINT_BATCHES,
  CHECKPOINTER,
  CHECKPOINTER_CLOSED,
  CHECKPOINTER_RUNNING,
  type CheckpointOpen,
  COMMITTED,
  PROGRESS,
  STOP,
} from "./_writer_protocol.ts";

function run({ path, shared: buffer }: CheckpointOpen): void {
  const shared = new Int32Array(buffer);
  let db: DatabaseSync | null = null;
  try {
    if (Atomics.load(shared, STOP) !== 0) return;
    db = new DatabaseSync(path);
    db.exec("PRAGMA synchronous = NORMAL");
    const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    let last = Atomics.load(shared, COMMITTED);
    Atomics.store(shared, CHECKPOINTER, CHECKPOINTER_RUNNING);
    while (Atomics.load(shared, STOP) === 0) {
      // Bumped after each commit, by the commit or the settlement.
      const progress = Atomics.load(shared, PROGRESS);
      const committed = Atomics.load(shared, COMMITTED);
      if (committed - last < CHECKPOINT_BATCHES) {
        Atomics.wait(shared, PROGRESS, progress);
        continue;
      }
      last = committed;
      try {
        checkpoint.get();
      } catch {
        // Left to the writer thread's commits (see above).
      }
    }
  } catch {
    // Not opened (the writer thread's commits checkpoint, as without
    // this thread).
  } finally {
    try {
      db?.close();
    } finally {
      Atomics.store(shared, CHECKPOINTER, CHECKPOINTER_CLOSED);
      Atomics.notify(shared, CHECKPOINTER);
    }
  }
}

globalThis.addEventListener("message", (e: Event) => {
  run((e as MessageEvent<CheckpointOpen>).data);
});
