/**
 * The sync thread of a store's writer thread (see _writer_thread.ts): when
 * the writer thread committed batches (written to the log, not synced)
 * and has the next one to write already, this thread syncs the
 * database's write-ahead log, as SQLite's `synchronous = FULL` does at
 * each commit, and only then settles them; the writer thread meanwhile
 * writes the next batch, so a commit's sync and the next batch's work
 * overlap. One sync covers every batch committed before it.
 *
 * @module
 */

import {
  COMMITTED,
  SETTLED,
  STOP,
  syncAndSettle,
  SYNCING,
  type SyncOpen,
} from "./_writer_protocol.ts";

function run({ wal, shared: buffer }: SyncOpen): void {
  const shared = new Int32Array(buffer);
  Atomics.store(shared, SYNCING, 1);
  while (Atomics.load(shared, STOP) === 0) {
    const committed = Atomics.load(shared, COMMITTED);
    // The writer thread syncs itself what no batch follows; what it
    // handed over before this thread ran is synced at once.
    if (Atomics.load(shared, SETTLED) < committed) {
      syncAndSettle(shared, wal, committed);
    } else {
      Atomics.wait(shared, COMMITTED, committed);
    }
  }
}

globalThis.addEventListener("message", (e: Event) => {
  run((e as MessageEvent<SyncOpen>).data);
});
