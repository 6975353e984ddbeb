/**
 * The sync thread of a store's writer thread (see _writer_thread.ts):
 * once the writer thread committed batches (written to the log, not yet
 * synced), it syncs the database's write-ahead log, as SQLite's
 * `synchronous = FULL` does at each commit, and only then settles them.
 * The writer thread meanwhile writes the next batch, so a commit's sync
 * and the next batch's work overlap. One sync covers every batch
 * committed before it.
 *
 * The log is opened for each sync: SQLite may start it over, never while
 * the store's own connection is open, but then its file is the one
 * synced.
 *
 * @module
 */

import {
  COMMITTED,
  ERROR_BYTES,
  ERROR_LENGTH,
  ERROR_OFFSET,
  FAILED,
  OK,
  SETTLED,
  STATUS,
  type SyncOpen,
  WRITER_QUEUE,
} from "./_writer_protocol.ts";

function syncLog(wal: string): void {
  using file = Deno.openSync(wal, { read: true });
  file.syncDataSync();
}

function run({ wal, shared: buffer }: SyncOpen): never {
  const shared = new Int32Array(buffer);
  const errorBytes = new Uint8Array(buffer, ERROR_OFFSET);
  let settled = Atomics.load(shared, SETTLED);
  for (;;) {
    Atomics.wait(shared, COMMITTED, settled);
    const committed = Atomics.load(shared, COMMITTED);
    let ok = false;
    for (let i = settled; i < committed; i++) {
      if (Atomics.load(shared, STATUS + i % WRITER_QUEUE) === OK) ok = true;
    }
    if (ok) {
      try {
        syncLog(wal);
      } catch (e) {
        // Not known to be on disk: failed, as a commit whose sync fails.
        const text = `syncing ${wal}: ${
          e instanceof Error ? e.message : String(e)
        }`;
        const { written } = new TextEncoder().encodeInto(
          text,
          errorBytes.subarray(0, ERROR_BYTES),
        );
        Atomics.store(shared, ERROR_LENGTH, written);
        for (let i = settled; i < committed; i++) {
          Atomics.store(shared, STATUS + i % WRITER_QUEUE, FAILED);
        }
      }
    }
    settled = committed;
    Atomics.store(shared, SETTLED, settled);
    Atomics.notify(shared, SETTLED);
  }
}

globalThis.addEventListener("message", (e: Event) => {
  run((e as MessageEvent<SyncOpen>).data);
});
