/**
 * A worker thread committing a store's registrations on a connection of
 * its own, so that the store's thread goes on decoding, checking and
 * answering while SQLite writes and syncs earlier batches.
 *
 * The store posts a batch while fewer than {@linkcode WRITER_AHEAD} are
 * not committed yet (it gathers the next one meanwhile), so the thread
 * has the next batch to write as soon as it committed one. It writes a
 * batch in one transaction and commits it; with `synchronous` "full",
 * the log is synced before the batch is settled, by a second thread
 * (_sync_worker.ts) while the writer thread goes on with the next batch
 * (at most {@linkcode WRITER_QUEUE} posted and not settled). Both report
 * in shared memory, where the store can wait for them without its event
 * loop ({@linkcode WriterThread.waitSync}, for what must see them at
 * once) or with it ({@linkcode WriterThread.wait}). Under load, a third
 * thread (_checkpoint_worker.ts) copies the log's pages into the database
 * file, which the commits did.
 *
 * @module
 */

import type { SQLInputValue } from "node:sqlite";
import { StoreError } from "./errors.ts";
import type { Synchronous } from "./_schema.ts";
import {
  CHECKPOINTER,
  CHECKPOINTER_CLOSED,
  CHECKPOINTER_STARTING,
  type CheckpointOpen,
  COMMITTED,
  ERROR_LENGTH,
  ERROR_OFFSET,
  FAILED,
  POSTED,
  PROGRESS,
  SETTLED,
  SHARED_BYTES,
  STATE,
  STATE_CLOSED,
  STATE_READY,
  STATUS,
  STOP,
  type SyncOpen,
  WRITER_AHEAD,
  WRITER_QUEUE,
  type WriterMessage,
} from "./_writer_protocol.ts";

// A thread that has not started in this long is taken for dead.
const START_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 10_000;

/** The store's side of its writer thread. */
export class WriterThread {
  #path: string;
  #synchronous: Synchronous;
  // Started with the store (its start takes tens of milliseconds, which
  // the first requests would wait for, their answers with them); the
  // sync thread later ("full" only).
  #worker: Worker | null = null;
  #syncWorker: Worker | null = null;
  #checkpointer: Worker | null = null;
  #shared: Int32Array;
  #errorBytes: Uint8Array;
  #posted = 0;
  #failure: Error | null = null;
  #closed = false;

  /**
   * Start a thread for the database at `path` (created and migrated by
   * the store already); it connects with the first batch.
   */
  constructor(path: string, synchronous: Synchronous) {
    this.#path = path;
    this.#synchronous = synchronous;
    const buffer = new SharedArrayBuffer(SHARED_BYTES);
    this.#shared = new Int32Array(buffer);
    this.#errorBytes = new Uint8Array(buffer, ERROR_OFFSET);
    this.#start();
  }

  /**
   * What a program needs read access to for the threads to start (the
   * files of this package, when local), or null when it has it.
   */
  static missingAccess(): string | null {
    const root = new URL("../", import.meta.url);
    if (root.protocol !== "file:") return null;
    const { state } = Deno.permissions.querySync({ name: "read", path: root });
    return state === "granted" ? null : root.pathname;
  }

  // A thread of `file`, posted `open`; `failed` is told why it failed.
  #thread(
    file: string,
    open: WriterMessage | SyncOpen | CheckpointOpen,
    failed: (message: string) => void,
  ): Worker {
    const worker = new Worker(new URL(file, import.meta.url), {
      type: "module",
    });
    worker.onerror = (e) => {
      e.preventDefault();
      failed(e.message);
    };
    worker.postMessage(open);
    return worker;
  }

  // A thread whose failure fails the store's batches.
  #needed(name: string): (message: string) => void {
    return (message) => {
      this.#failure = new StoreError(`the ${name} thread failed: ${message}`);
      // Wakes an async waiter, which sees the failure.
      Atomics.notify(this.#shared, PROGRESS);
    };
  }

  // The checkpointer thread, started with the first batch posted while
  // another is not committed (a server whose requests come one at a time
  // leaves checkpoints to the commits). Not needed for any batch: should
  // it fail, the commits checkpoint, as without it.
  #startCheckpointer(): void {
    const shared = this.#shared;
    Atomics.store(shared, CHECKPOINTER, CHECKPOINTER_STARTING);
    const open: CheckpointOpen = {
      path: this.#path,
      shared: shared.buffer as SharedArrayBuffer,
    };
    this.#checkpointer = this.#thread("./_checkpoint_worker.ts", open, () => {
      Atomics.store(shared, CHECKPOINTER, CHECKPOINTER_CLOSED);
      Atomics.notify(shared, CHECKPOINTER);
    });
  }

  // The sync thread, started by the first batch posted while another is
  // not committed (only then can the writer thread hand it a sync; until
  // it runs, the writer thread syncs itself): a server whose requests
  // come one at a time never needs it.
  #startSync(): void {
    const open: SyncOpen = {
      wal: `${this.#path}-wal`,
      shared: this.#shared.buffer as SharedArrayBuffer,
    };
    this.#syncWorker = this.#thread(
      "./_sync_worker.ts",
      open,
      this.#needed("sync"),
    );
  }

  #start(): Worker {
    const open: WriterMessage = {
      kind: "open",
      path: this.#path,
      synchronous: this.#synchronous,
      shared: this.#shared.buffer as SharedArrayBuffer,
    };
    return this.#worker = this.#thread(
      "./_writer_worker.ts",
      open,
      this.#needed("writer"),
    );
  }

  /** Batches settled (on disk, or failed) so far. */
  get settled(): number {
    return Atomics.load(this.#shared, SETTLED);
  }

  /**
   * A number that changes whenever a batch is committed or settled: read
   * it before looking at the state, then {@linkcode WriterThread.wait}
   * for it to change.
   */
  get progress(): number {
    return Atomics.load(this.#shared, PROGRESS);
  }

  /** True when one more batch may be posted now. */
  get free(): boolean {
    const posted = this.#posted;
    return posted - Atomics.load(this.#shared, COMMITTED) < WRITER_AHEAD &&
      posted - this.settled < WRITER_QUEUE;
  }

  /**
   * Write and commit a batch (call only when {@linkcode WriterThread.free}).
   *
   * @param values Rows, `ROW_COLUMNS` values each.
   * @param runs Their runs, `RUN_COLUMNS` values each.
   * @param latest JSON text of `[typeId, seq]` pairs.
   * @param server The store's server, last session, instance and time.
   */
  post(
    values: SQLInputValue[],
    runs: SQLInputValue[],
    latest: string,
    server: [number, number, number, Uint8Array],
  ): void {
    if (this.#failure !== null) throw this.#failure;
    const worker = this.#worker ?? this.#start();
    if (this.#posted > Atomics.load(this.#shared, COMMITTED)) {
      if (this.#synchronous === "full" && this.#syncWorker === null) {
        this.#startSync();
      }
      if (this.#checkpointer === null) this.#startCheckpointer();
    }
    // Counted first: after its commit, the thread knows this one follows.
    Atomics.store(this.#shared, POSTED, ++this.#posted);
    const message: WriterMessage = {
      kind: "batch",
      values,
      runs,
      latest,
      server,
    };
    worker.postMessage(message);
  }

  /**
   * How batch `index` (counted from 0, once settled) settled: null when
   * committed, else why it was rolled back.
   */
  outcome(index: number): Error | null {
    const status = Atomics.load(this.#shared, STATUS + index % WRITER_QUEUE);
    if (status !== FAILED) return null;
    const length = Atomics.load(this.#shared, ERROR_LENGTH);
    return new StoreError(
      new TextDecoder().decode(this.#errorBytes.slice(0, length)),
    );
  }

  /**
   * Block this thread until every batch posted settled.
   *
   * @throws {StoreError} When the thread never started or failed.
   */
  waitSync(): void {
    const shared = this.#shared;
    if (Atomics.load(shared, SETTLED) === this.#posted) return;
    if (Atomics.load(shared, STATE) !== STATE_READY) {
      const deadline = performance.now() + START_TIMEOUT_MS;
      while (Atomics.load(shared, STATE) !== STATE_READY) {
        const left = deadline - performance.now();
        if (left <= 0 || Atomics.load(shared, STATE) === STATE_CLOSED) {
          throw this.#failure ??
            new StoreError("the writer thread did not start");
        }
        Atomics.wait(shared, STATE, 0, left);
      }
    }
    for (;;) {
      const progress = Atomics.load(shared, PROGRESS);
      if (Atomics.load(shared, SETTLED) === this.#posted) return;
      Atomics.wait(shared, PROGRESS, progress);
    }
  }

  /**
   * Wait, the event loop running, until {@linkcode WriterThread.progress}
   * is no longer `progress` (or every batch posted settled).
   *
   * @throws {StoreError} When the thread failed.
   */
  async wait(progress: number): Promise<void> {
    const shared = this.#shared;
    if (this.#failure !== null) throw this.#failure;
    if (Atomics.load(shared, SETTLED) === this.#posted) return;
    const { async, value } = Atomics.waitAsync(shared, PROGRESS, progress);
    if (async) await value;
    if (this.#failure !== null) throw this.#failure;
  }

  /** Close the thread's connection (after the batches posted) and stop it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#worker === null) return;
    try {
      // Before its first batch the thread has no connection to close.
      if (this.#failure === null && this.#posted > 0) {
        this.#post({ kind: "close" });
        this.#waitFor(STATE, STATE_CLOSED);
      }
    } finally {
      this.#worker?.terminate();
      Atomics.store(this.#shared, STOP, 1);
      Atomics.notify(this.#shared, COMMITTED);
      Atomics.notify(this.#shared, PROGRESS);
      this.#syncWorker?.terminate();
      this.#closeCheckpointer();
    }
  }

  /**
   * The checkpointer thread's state: one of the `CHECKPOINTER_*` values
   * of _writer_protocol.ts.
   */
  get checkpointer(): number {
    return Atomics.load(this.#shared, CHECKPOINTER);
  }

  // Wait for the checkpointer thread to close its connection (a
  // checkpoint in progress finishes first), then stop it.
  #closeCheckpointer(): void {
    if (this.#checkpointer === null) return;
    this.#waitFor(CHECKPOINTER, CHECKPOINTER_CLOSED);
    this.#checkpointer.terminate();
  }

  // Block until slot `slot` holds `closed`, or CLOSE_TIMEOUT_MS passed.
  #waitFor(slot: number, closed: number): void {
    const deadline = performance.now() + CLOSE_TIMEOUT_MS;
    for (;;) {
      const state = Atomics.load(this.#shared, slot);
      const left = deadline - performance.now();
      if (state === closed || left <= 0) return;
      Atomics.wait(this.#shared, slot, state, left);
    }
  }

  #post(message: WriterMessage): void {
    if (this.#failure !== null) throw this.#failure;
    (this.#worker ?? this.#start()).postMessage(message);
  }
}
