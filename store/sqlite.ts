/**
 * Embedded event store of an Event Server: SQLite through Deno's built-in
 * `node:sqlite`, with the query semantics of the reference's (hat-event
 * 0.9) LMDB backend.
 *
 * Registration and persistence are two steps, so a server can notify
 * subscribers twice as the reference does: {@linkcode SqliteStore.register}
 * assigns ids and the timestamp and writes into an open transaction (the
 * events are visible to queries at once: notify non-persisted subscribers),
 * and {@linkcode SqliteStore.flush} commits every request registered since
 * the previous flush with one fsync (group commit) and returns them: notify
 * persisted subscribers. Until then the events are invisible to any other
 * connection to the file and are lost on a crash, so "persisted" means
 * exactly "committed to disk". A commit that fails (disk full, I/O error)
 * is rolled back whole, and flush reports its requests failed.
 *
 * When to flush is the caller's choice: flushing once per event-loop turn
 * (schedule a `setTimeout(..., 0)` on the first register after a flush)
 * makes every request handled in that turn share one commit, while a
 * flush period trades latency of persisted notifications for fewer
 * fsyncs, as the reference's `flush_period` does. `pendingCount` tells
 * how much is waiting.
 *
 * @example
 * ```ts
 * import { SqliteStore } from "./sqlite.ts";
 *
 * using store = SqliteStore.open({ path: ":memory:", serverId: 1 });
 * const events = store.register([{ type: ["a", "b"] }]);
 * // ...notify non-persisted subscribers of `events`...
 * const { committed, failed } = store.flush();
 * // ...notify persisted subscribers of `committed.flat()`, answer the
 * // requests in `failed` failure...
 * const { events: latest } = store.query({ kind: "latest" });
 * ```
 *
 * @module
 */

import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import type {
  Event,
  EventId,
  EventType,
  QueryParams,
  QueryResult,
  RegisterEvent,
  Timestamp,
} from "../common/event/mod.ts";
import {
  compareTimestamps,
  MIN_TIMESTAMP,
  normalizeSeconds,
  timestampFromBytes,
  timestampToBytes,
} from "../common/event/mod.ts";
import { PreciseClock } from "./_clock.ts";
import { StoreError } from "./errors.ts";
import type { EventStore, FlushResult, SteppedQuery } from "./event_store.ts";
import { openDatabase, type Synchronous } from "./_schema.ts";
import { ROW_COLUMNS, ROWS_PER_STATEMENT, RowWriter } from "./_row_writer.ts";
import { WriterThread } from "./_writer_thread.ts";
import { log } from "../common/log.ts";
import { type DatabaseLock, lockDatabase } from "./_lock.ts";
import {
  DEFAULT_EVENT_TYPE_CACHE_SIZE,
  EventTypeTable,
} from "./_event_types.ts";
import { EventQueries } from "./_query.ts";
import { Partitions } from "./_partitions.ts";
import { Retention } from "./_retention.ts";
import {
  checkPayloadSize,
  checkRegisterType,
  type EventLimits,
  type PayloadColumns,
  payloadColumns,
} from "./_event_row.ts";
import type { StorageRules } from "./storage_rules.ts";
import { checkStorageRules } from "./_check_storage_rules.ts";
import { StorageConditions } from "./_conditions.ts";
import { applyLatestRules, LatestRule } from "./_latest_rule.ts";
import { SyncedWriter } from "./_synced.ts";

export { DEFAULT_EVENT_TYPE_CACHE_SIZE };

/**
 * Default cap on the events of one timeseries or server query result, as
 * in the reference (`timeseries_max_results`, and the ref db's limit).
 */
export const DEFAULT_MAX_RESULTS = 4096;

/**
 * Default number of sessions reserved at a time (see
 * {@linkcode SqliteStoreOptions.sessionBlock}).
 */
export const DEFAULT_SESSION_BLOCK = 65_536;

/**
 * Default cap on the bytes of one query result: 16 MiB (see
 * {@linkcode SqliteStoreOptions.maxResultBytes}).
 */
export const DEFAULT_MAX_RESULT_BYTES = 16 * 1024 * 1024;

/** Default of {@linkcode SqliteStoreOptions.maxEventTypeSegments}. */
export const DEFAULT_MAX_EVENT_TYPE_SEGMENTS = 32;

/** Default of {@linkcode SqliteStoreOptions.maxEventTypeBytes}: 1 KiB. */
export const DEFAULT_MAX_EVENT_TYPE_BYTES = 1024;

/** Default of {@linkcode SqliteStoreOptions.maxPayloadBytes}: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/**
 * Default of {@linkcode SqliteStoreOptions.maxWriterBatchBytes}: 64 MiB.
 */
export const DEFAULT_MAX_WRITER_BATCH_BYTES = 64 * 1024 * 1024;

// Bytes a row costs in a batch besides its payload and type.
const ROW_BYTES = 128;

/**
 * Default of `storage.cleanupPeriod`: milliseconds between two cleanups
 * of the partitions' retention limits.
 */
export const DEFAULT_CLEANUP_PERIOD = 1000;

/** Default entries a {@linkcode SqliteStore.cleanup} step takes out. */
export const DEFAULT_CLEANUP_ENTRIES = 256;

/** What a {@linkcode SqliteStore.cleanup} step did. */
export interface CleanupResult {
  /**
   * Events stored before the partitions of today whose masks were set
   * (see {@linkcode SqliteStoreOptions.storage}).
   */
  remasked: number;
  /** Entries taken out of partitions. */
  removed: number;
  /** Events deleted (kept by no partition, no type's latest). */
  deleted: number;
  /** Whether more is to do: the next step should follow soon. */
  more: boolean;
}

/** Options of {@linkcode SqliteStore.open}. */
export interface SqliteStoreOptions {
  /**
   * Database file (created if missing), or `":memory:"`. The file is
   * locked while the store is open: a second store on it, through any
   * path, is refused with {@linkcode DatabaseInUseError}.
   */
  path: string;
  /** Id of this server: the `id.server` of every registered event. */
  serverId: number;
  /**
   * Durability of a commit: `"full"` (default) fsyncs the WAL on every
   * {@linkcode SqliteStore.flush}, so "persisted" survives power loss;
   * `"normal"` survives a process crash only.
   */
  synchronous?: Synchronous;
  /**
   * Cap on the events of one timeseries or server query result, whatever
   * the query's `maxResults` (default {@linkcode DEFAULT_MAX_RESULTS}).
   */
  maxResults?: number;
  /**
   * Cap on the bytes of one query result of any kind (default
   * {@linkcode DEFAULT_MAX_RESULT_BYTES}), estimated from the stored
   * columns as an upper bound of the encoded events: a result stops
   * before the event that would cross it and answers `moreFollows: true`
   * (timeseries and server queries page on with `lastEventId`; a latest
   * query's client asks for fewer types). A single event larger than the
   * cap is returned alone.
   */
  maxResultBytes?: number;
  /**
   * Clock giving registration timestamps (default: the system clock, with
   * microsecond resolution).
   */
  now?: () => Timestamp;
  /**
   * Sessions reserved at a time (default
   * {@linkcode DEFAULT_SESSION_BLOCK}). Ids are notified before their
   * commit, so before handing out a session the store commits a
   * reservation covering it: after a crash, the next session comes after
   * every reserved one and no notified id is ever given to another event.
   * A crash skips up to this many sessions; a clean close gives the
   * unused ones back. Each new block costs one commit.
   */
  sessionBlock?: number;
  /**
   * Most segments of a registered event type (default
   * {@linkcode DEFAULT_MAX_EVENT_TYPE_SEGMENTS}). Every distinct type is
   * kept for good, so clients must not be able to make them huge; a
   * request beyond a limit is refused with {@linkcode EventLimitError}.
   */
  maxEventTypeSegments?: number;
  /**
   * Most UTF-8 bytes of a registered event type's segments together
   * (default {@linkcode DEFAULT_MAX_EVENT_TYPE_BYTES}).
   */
  maxEventTypeBytes?: number;
  /**
   * Most bytes of a registered event's payload: a binary payload's type
   * and data, or a JSON payload's text (default
   * {@linkcode DEFAULT_MAX_PAYLOAD_BYTES}).
   */
  maxPayloadBytes?: number;
  /**
   * Event types kept in memory (default
   * {@linkcode DEFAULT_EVENT_TYPE_CACHE_SIZE}); the others are read from
   * the database when needed. Memory does not grow with the number of
   * types the database holds.
   */
  eventTypeCacheSize?: number;
  /**
   * Commit registrations in a worker thread, on a second connection to
   * the file (default false; ignored for `":memory:"`). Registration
   * goes on in this thread (checks, ids, the events returned) while the
   * thread writes and commits earlier ones (with `synchronous` "full", a
   * third thread syncs the log after a commit while the next batch is
   * written), so a busy server uses both cores:
   * {@linkcode SqliteStore.flushAsync} waits for them without blocking.
   * What else writes (a request with a type new to the database, synced
   * events, a cleanup step, a session reservation) and a query that must
   * see pending events first wait here, blocking, for the commits in
   * flight, then run on this thread's connection as without the thread.
   * Commits, their order and "persisted" are the same either way. A
   * program without read access to this package's files cannot start
   * the thread: the store then commits here (and logs why).
   */
  writerThread?: boolean;
  /**
   * Most bytes of registrations posted to the writer thread and not yet
   * settled, with those gathered for it (default
   * {@linkcode DEFAULT_MAX_WRITER_BATCH_BYTES}, counting each event's
   * type, payload and 128 bytes): past it, the next registration waits
   * (blocking) for all of them.
   */
  maxWriterBatchBytes?: number;
  /**
   * Storage rules, as the reference's LMDB backend's (default: every
   * event stored, every type with a latest entry, every type kept by
   * timestamp, and every type with a source timestamp by source
   * timestamp). `conditions` decide which events are stored: one that
   * fails them still gets its id and is returned (and notified by a
   * server) but is not stored, so no query answers it and it does not
   * replace its type's latest event. `latest.subscriptions` decide which
   * types have a latest entry: a latest query answers nothing for the
   * others. At open, latest entries the rules no longer allow are
   * dropped, as the reference does; events already stored stay (the
   * reference hides those failing new conditions from timeseries
   * queries). `timeseries` are the partitions that keep the events for
   * timeseries queries, each by its `orderBy` and for the types of its
   * `subscriptions`. A timeseries query reads the first partition of its
   * `orderBy` that shares a type with its query types, as the reference
   * does, and answers nothing when there is none; an event kept by no
   * partition is still registered, notified, and answered by latest and
   * server queries until {@linkcode SqliteStore.cleanup} deletes it (once
   * it is no type's latest). A partition new to the database starts
   * empty, except that events stored while the store had no configured
   * partitions join every partition that matches them, in the first
   * cleanup steps after the open; the events of partitions no longer
   * configured (whose indexes are dropped at open) stay, and are in them
   * again should they come back. A partition's `limit`
   * is enforced by {@linkcode SqliteStore.cleanup} (the Event Server
   * calls it every `cleanupPeriod`).
   */
  storage?: StorageRules;
}

// Registrations gathered for the writer thread: its rows, the latest
// event of its types, its requests.
interface Batch {
  values: SQLInputValue[];
  runs: SQLInputValue[];
  latest: Map<number, number>;
  requests: Event[][];
  bytes: number;
  lastSession: number;
  t: Uint8Array;
}

/** {@linkcode EventStore} on SQLite; see the module documentation. */
export class SqliteStore implements EventStore {
  /** Id of this server. */
  readonly serverId: number;

  #db: DatabaseSync;
  #lock: DatabaseLock | null;
  #types: EventTypeTable;
  #partitions: Partitions;
  #retention: Retention;
  #cleanupPeriod: number | null;
  #queries: EventQueries;
  #rows: RowWriter;
  #writer: WriterThread | null = null;
  #maxBatchBytes: number;
  // Registered for the writer thread, not posted yet (while it has as
  // many as it takes, see _writer_thread.ts); the batches posted and not
  // yet collected, in order, and their bytes; batches collected so far.
  #batch: Batch | null = null;
  #inFlight: Batch[] = [];
  #inFlightBytes = 0;
  #collected = 0;
  #pumping = false;
  // Last session committed or failed, and flushAsync calls waiting for
  // theirs, in session order.
  #settledSession = 0;
  #waiters: { session: number; resolve: () => void }[] = [];
  #selectLastSeq: StatementSync;
  // The runs before the first event left (see _schema.ts).
  #dropRuns: StatementSync;
  // Sequence number of the last event stored or pending.
  #lastSeq = 0;
  #selectServer: StatementSync;
  #updateReserved: StatementSync;
  #maxResults: number;
  #sessionBlock: number;
  #limits: EventLimits;
  #conditions: StorageConditions;
  #latestRule: LatestRule;
  #synced: SyncedWriter;
  // Last session durably reserved (see SqliteStoreOptions.sessionBlock).
  #reserved: number;
  #now: () => Timestamp;
  // Last event stored or pending (what the database holds).
  #lastEventId: EventId;
  // Last session and timestamp handed out, lost ones included: never
  // reused, never gone back on.
  #lastSession: number;
  #lastTimestamp: Timestamp;
  #lastCommittedSession: number;
  #pending: Event[][] = [];
  #pendingCount = 0;
  // Outcomes not yet reported by flush().
  #committed: Event[][] = [];
  #failed: Event[][] = [];
  #failure: Error | null = null;
  #closed = false;

  private constructor(
    db: DatabaseSync,
    lock: DatabaseLock | null,
    options: SqliteStoreOptions,
  ) {
    this.serverId = options.serverId;
    this.#db = db;
    this.#lock = lock;
    this.#maxResults = options.maxResults ?? DEFAULT_MAX_RESULTS;
    if (options.now) {
      this.#now = options.now;
    } else {
      const clock = new PreciseClock();
      this.#now = () => clock.now();
    }
    this.#types = new EventTypeTable(db, options.eventTypeCacheSize);
    db.exec("BEGIN IMMEDIATE");
    try {
      this.#partitions = Partitions.open(
        db,
        options.storage?.timeseries,
        options.eventTypeCacheSize ?? DEFAULT_EVENT_TYPE_CACHE_SIZE,
      );
      db.exec("COMMIT");
    } catch (e) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw e;
    }
    const partitions = this.#partitions;
    const stale = partitions.stale;
    const types = this.#types;
    this.#retention = new Retention(
      db,
      partitions.limited(),
      stale && {
        ...stale,
        remask: (typeId, hasSource) =>
          partitions.remask(typeId, () => types.typeOf(typeId), hasSource),
      },
    );
    this.#cleanupPeriod = this.#retention.active
      ? options.storage?.cleanupPeriod ?? DEFAULT_CLEANUP_PERIOD
      : null;
    this.#queries = new EventQueries(
      db,
      this.#types,
      options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES,
      this.#partitions,
    );
    this.#rows = new RowWriter(db);
    this.#maxBatchBytes = options.maxWriterBatchBytes ??
      DEFAULT_MAX_WRITER_BATCH_BYTES;
    // A run's numbers are used even when its events are gone.
    this.#selectLastSeq = db.prepare(
      `SELECT max(coalesce((SELECT max(seq) FROM events), 0),
         coalesce((SELECT last_seq FROM runs ORDER BY first_seq DESC LIMIT 1), 0))
       AS seq`,
    );
    this.#dropRuns = db.prepare(
      `DELETE FROM runs WHERE first_seq < :first AND last_seq < :first`
        .replaceAll(
          ":first",
          "coalesce((SELECT min(seq) FROM events), 9223372036854775807)",
        ),
    );
    this.#selectServer = db.prepare(
      "SELECT session, instance, t, reserved FROM servers WHERE server = ?",
    );
    this.#updateReserved = db.prepare(
      `INSERT INTO servers (server, session, instance, t, reserved)
       VALUES (?, 0, 0, ?, ?)
       ON CONFLICT (server) DO UPDATE SET reserved = excluded.reserved`,
    );
    this.#sessionBlock = options.sessionBlock ?? DEFAULT_SESSION_BLOCK;
    this.#limits = {
      maxEventTypeSegments: options.maxEventTypeSegments ??
        DEFAULT_MAX_EVENT_TYPE_SEGMENTS,
      maxEventTypeBytes: options.maxEventTypeBytes ??
        DEFAULT_MAX_EVENT_TYPE_BYTES,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    };
    this.#conditions = new StorageConditions(options.storage?.conditions);
    this.#latestRule = new LatestRule(options.storage?.latest?.subscriptions);
    if (!this.#latestRule.all || !this.#conditions.empty) {
      db.exec("BEGIN IMMEDIATE");
      try {
        applyLatestRules(db, this.#types, this.#latestRule, this.#conditions);
        db.exec("COMMIT");
      } catch (e) {
        db.exec("ROLLBACK");
        throw e;
      }
    }
    this.#synced = new SyncedWriter({
      db,
      types: this.#types,
      limits: this.#limits,
      conditions: this.#conditions,
      latestRule: this.#latestRule,
      partitions: this.#partitions,
      serverId: this.serverId,
    });
    const last = this.#readLast();
    this.#lastEventId = last.id;
    this.#lastTimestamp = last.timestamp;
    this.#reserved = last.reserved;
    // After a crash, sessions up to the reservation may have been given.
    this.#lastSession = Math.max(last.id.session, last.reserved);
    this.#lastCommittedSession = last.id.session;
    this.#lastSeq = this.#readLastSeq();
    this.#settledSession = this.#lastSession;
    if (options.writerThread && options.path !== ":memory:" && options.path) {
      const missing = WriterThread.missingAccess();
      if (missing === null) {
        this.#writer = new WriterThread(
          options.path,
          options.synchronous ?? "full",
        );
      } else {
        log.warn(
          `the store commits on its own thread: its writer thread cannot start without read access to ${missing}`,
        );
      }
    }
  }

  /**
   * Open (creating if needed) a store.
   *
   * @param options Path, server id and tuning.
   * @returns The open store; close it with {@linkcode SqliteStore.close}.
   * @throws {RangeError} For an invalid server id or limit.
   * @throws {TypeError} For invalid storage rules, naming the field
   *   (`storage.conditions[0].condition.dataType ...`).
   * @throws {DatabaseInUseError} When another store has the file open.
   * @throws {StoreError} When the file cannot be opened or holds an
   *   unknown schema version.
   * @throws {Error} When SQLite cannot open the file.
   *
   * @example
   * ```ts
   * import { SqliteStore } from "./sqlite.ts";
   *
   * const store = SqliteStore.open({ path: ":memory:", serverId: 1 });
   * store.close();
   * ```
   */
  static open(options: SqliteStoreOptions): SqliteStore {
    if (!Number.isSafeInteger(options.serverId)) {
      throw new RangeError(`invalid server id ${options.serverId}`);
    }
    for (
      const name of [
        "sessionBlock",
        "maxResults",
        "maxResultBytes",
        "maxEventTypeSegments",
        "maxEventTypeBytes",
        "maxPayloadBytes",
        "eventTypeCacheSize",
        "maxWriterBatchBytes",
      ] as const
    ) {
      const value = options[name];
      if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
        throw new RangeError(`invalid ${name} ${value}`);
      }
    }
    if (options.sessionBlock === 0) {
      throw new RangeError("invalid sessionBlock 0");
    }
    checkStorageRules(options.storage);
    const { path } = options;
    const lock = path === ":memory:" || path === "" ? null : lockDatabase(path);
    let db: DatabaseSync | null = null;
    try {
      db = openDatabase(path, options.synchronous ?? "full");
      return new SqliteStore(db, lock, options);
    } catch (e) {
      db?.close();
      lock?.release();
      throw e;
    }
  }

  /** Number of events registered but not yet committed by `flush`. */
  get pendingCount(): number {
    return this.#pendingCount;
  }

  /** True once {@linkcode SqliteStore.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Last event id assigned for `serverId` (session and instance 0 when
   * none); ids stay increasing across restarts.
   *
   * @param serverId Server (default: this one).
   */
  getLastEventId(serverId: number = this.serverId): EventId {
    this.#checkOpen();
    if (serverId === this.serverId) return { ...this.#lastEventId };
    const row = this.#selectServer.get(serverId) as
      | { session: number; instance: number }
      | undefined;
    return {
      server: serverId,
      session: row?.session ?? 0,
      instance: row?.instance ?? 0,
    };
  }

  /**
   * Register events as one session: the next session number, instances
   * 1, 2, ... in order, and one `timestamp` for all of them (the clock,
   * but never earlier than the previous registration's, so time order and
   * id order agree). The events are written into the pending transaction:
   * visible to queries at once, durable only after
   * {@linkcode SqliteStore.flush}. An empty request assigns nothing.
   *
   * The request is all or nothing: on any error nothing is written and no
   * id is used. When SQLite fails writing (disk full, I/O error) it may
   * have rolled back the whole pending transaction: the earlier pending
   * requests are then lost too, and the next flush reports them failed.
   *
   * @param events Events to register.
   * @param timestamp Their timestamp (default: the clock's); one earlier
   *   than the last given is raised to it.
   * @returns The registered events, in request order.
   * @throws {InvalidEventTypeError} When a type has a `?` or `*` segment.
   * @throws {EventLimitError} When a type or payload exceeds a limit.
   * @throws {TypeError} When a source timestamp is invalid (seconds
   *   outside signed 64-bit, microseconds outside [0, 1e6)).
   * @throws {JsonPayloadError} When a JSON payload has no JSON text.
   * @throws {StoreError} When the store is closed.
   * @throws {Error} When SQLite fails writing.
   */
  register(events: readonly RegisterEvent[], timestamp?: Timestamp): Event[] {
    this.#checkOpen();
    if (events.length === 0) return [];

    // Encode everything before writing, so a bad event refuses the request.
    const rows = this.#encode(events);

    timestamp ??= this.#now();
    if (compareTimestamps(timestamp, this.#lastTimestamp) < 0) {
      timestamp = this.#lastTimestamp;
    }
    const t = timestampToBytes(timestamp);
    const session = this.#lastSession + 1;
    const typeIds = this.#writer !== null && !this.#db.isTransaction &&
        session <= this.#reserved
      ? this.#knownTypes(events, rows)
      : null;
    let registered: Event[];
    if (typeIds !== null) {
      const batch: Batch = this.#batch ??= {
        values: [] as SQLInputValue[],
        runs: [] as SQLInputValue[],
        latest: new Map<number, number>(),
        requests: [] as Event[][],
        bytes: 0,
        lastSession: 0,
        t,
      };
      registered = this.#write(
        events,
        rows,
        typeIds,
        timestamp,
        t,
        session,
        batch,
        null,
      );
      batch.requests.push(registered);
      batch.lastSession = session;
      batch.t = t;
    } else {
      // A write of this thread's own: after the writer thread's.
      this.#drainWriter();
      if (session > this.#reserved) this.#reserve(session);
      if (!this.#db.isTransaction) this.#db.exec("BEGIN IMMEDIATE");
      this.#db.exec("SAVEPOINT register");
      try {
        const latest = new Map<number, number>();
        const values: SQLInputValue[] = [];
        const runs: SQLInputValue[] = [];
        registered = this.#write(
          events,
          rows,
          null,
          timestamp,
          t,
          session,
          { values, runs, latest, bytes: 0 },
          this.#rows,
        );
        this.#rows.insert(values);
        this.#rows.runs(runs);
        this.#rows.latest(JSON.stringify([...latest]));
        this.#rows.server(this.serverId, session, events.length, t);
        this.#db.exec("RELEASE register");
      } catch (e) {
        // Out of space, SQLite may have rolled back the whole transaction,
        // earlier requests of this commit with it.
        if (!this.#undoRegister()) this.#abandon(e);
        throw e;
      }
      this.#pending.push(registered);
    }

    this.#lastEventId = {
      server: this.serverId,
      session,
      instance: events.length,
    };
    this.#lastSeq += events.length;
    this.#lastSession = session;
    this.#lastTimestamp = timestamp;
    this.#pendingCount += registered.length;
    if (this.#batch !== null) {
      // The writer thread has it at once, while this thread goes on with
      // the next requests (gathered into one batch while it has two not
      // committed yet).
      this.#collect();
      this.#postBatch();
      if (
        this.#inFlightBytes + (this.#batch?.bytes ?? 0) > this.#maxBatchBytes
      ) {
        this.#drainWriter();
      }
    }
    return registered;
  }

  // The type ids of a request's stored events (-1 for the others), when
  // every type is in the database already; else null.
  #knownTypes(
    events: readonly RegisterEvent[],
    rows: [Uint8Array | null, PayloadColumns, boolean][],
  ): number[] | null {
    const ids: number[] = [];
    for (let i = 0; i < events.length; i++) {
      if (!rows[i][2]) {
        ids.push(-1);
        continue;
      }
      const id = this.#types.find(events[i].type);
      if (id === undefined) return null;
      ids.push(id);
    }
    return ids;
  }

  // The rows of a request into `into.values` (inserted by `inserter`
  // every ROWS_PER_STATEMENT rows when given) and their size into
  // `into.bytes` (see ROW_BYTES), its types' latest into `into.latest`,
  // and the events registered. Types are `typeIds`' (-1: not stored),
  // else ensured now.
  #write(
    events: readonly RegisterEvent[],
    rows: [Uint8Array | null, PayloadColumns, boolean][],
    typeIds: number[] | null,
    timestamp: Timestamp,
    t: Uint8Array,
    session: number,
    into: {
      values: SQLInputValue[];
      runs: SQLInputValue[];
      latest: Map<number, number>;
      bytes: number;
    },
    inserter: RowWriter | null,
  ): Event[] {
    const server = this.serverId;
    const latestRule = this.#latestRule;
    const { values, latest } = into;
    const firstSeq = this.#lastSeq + 1;
    const registered: Event[] = [];
    let anyStored = false;
    for (let i = 0; i < events.length; i++) {
      const event = events[i];
      const [sourceT, [kind, payloadType, data], stored] = rows[i];
      let type: EventType;
      if (stored) {
        const typeId = typeIds === null
          ? this.#types.ensure(event.type)
          : typeIds[i];
        const seq = firstSeq + i;
        anyStored = true;
        const mask = this.#partitions.mask(
          typeId,
          event.type,
          sourceT !== null,
        );
        values.push(
          seq,
          server,
          session,
          i + 1,
          typeId,
          t,
          sourceT,
          kind,
          payloadType,
          data,
          mask,
        );
        if (latestRule.all || latestRule.keeps(event.type)) {
          latest.set(typeId, seq);
        }
        into.bytes += ROW_BYTES + (data?.length ?? 0) +
          (payloadType?.length ?? 0) + 8 * event.type.length;
        if (
          inserter !== null &&
          values.length === ROWS_PER_STATEMENT * ROW_COLUMNS
        ) {
          inserter.insert(values);
          values.length = 0;
        }
        type = this.#types.typeOf(typeId);
      } else {
        // Its id is given and it is notified, but not stored (its type
        // is not added to the table either: frozen as the others).
        type = Object.isFrozen(event.type)
          ? event.type
          : Object.freeze([...event.type]);
      }
      registered.push({
        id: { server, session, instance: i + 1 },
        type,
        timestamp,
        // As timestampFromBytes(sourceT) would give it, without decoding.
        sourceTimestamp: sourceT === null ? null : {
          s: normalizeSeconds(event.sourceTimestamp!.s),
          us: event.sourceTimestamp!.us,
        },
        payload: event.payload ?? null,
      });
    }
    if (anyStored) {
      into.runs.push(
        firstSeq,
        firstSeq + events.length - 1,
        server,
        session,
        t,
      );
    }
    return registered;
  }

  /**
   * Store a peer Event Server's events with their own ids and timestamps
   * (sync, SPEC-monitor 6.5), in the pending transaction as
   * {@linkcode SqliteStore.register} does: visible to queries at once,
   * committed by the next {@linkcode SqliteStore.flush}, which reports
   * them as one request. As the reference's LMDB backend, an event whose
   * id is not after the last stored id of its server, or whose timestamp
   * is before that server's last, is skipped, and so is one the storage
   * conditions refuse; events of this store's own server id, or beyond
   * its limits, are skipped too. `getLastEventId(server)` gives the last
   * one written.
   *
   * @param events A peer's events, in id order.
   * @returns The events written (and to be notified), in order.
   * @throws {StoreError} When the store is closed.
   * @throws {Error} When SQLite fails writing (nothing of `events` is
   *   written; the pending requests may be lost, as with `register`).
   */
  writeSynced(events: readonly Event[]): Event[] {
    this.#checkOpen();
    if (events.length === 0) return [];
    this.#drainWriter();
    if (!this.#db.isTransaction) this.#db.exec("BEGIN IMMEDIATE");
    this.#db.exec("SAVEPOINT register");
    let written: Event[];
    try {
      let lastSeq;
      ({ written, lastSeq } = this.#synced.write(events, this.#lastSeq));
      this.#db.exec("RELEASE register");
      this.#lastSeq = lastSeq;
    } catch (e) {
      if (!this.#undoRegister()) this.#abandon(e);
      throw e;
    }
    if (written.length > 0) {
      this.#pending.push(written);
      this.#pendingCount += written.length;
    }
    return written;
  }

  /**
   * Check events as {@linkcode SqliteStore.register} would, writing
   * nothing.
   *
   * @param events Events to check.
   * @throws What `register` throws for a bad event.
   */
  check(events: readonly RegisterEvent[]): void {
    this.#checkOpen();
    this.#encode(events);
  }

  /**
   * The session number and timestamp the next
   * {@linkcode SqliteStore.register} would give, if called now.
   *
   * @returns The next session and the clock's timestamp (never earlier
   *   than the last one given).
   */
  nextSession(): { session: number; timestamp: Timestamp } {
    this.#checkOpen();
    const now = this.#now();
    return {
      session: this.#lastSession + 1,
      timestamp: compareTimestamps(now, this.#lastTimestamp) < 0
        ? this.#lastTimestamp
        : now,
    };
  }

  // Each event's source timestamp and payload columns, and whether the
  // storage conditions let it be stored.
  #encode(
    events: readonly RegisterEvent[],
  ): [Uint8Array | null, PayloadColumns, boolean][] {
    const conditions = this.#conditions;
    // The events of a request often share their source timestamp: its
    // bytes are made once (SQLite copies what is bound).
    let lastSource: Timestamp | null = null;
    let lastBytes: Uint8Array | null = null;
    return events.map((e) => {
      checkRegisterType(e.type, this.#limits);
      const payload = payloadColumns(e.payload);
      checkPayloadSize(payload, this.#limits.maxPayloadBytes);
      const source = e.sourceTimestamp;
      if (source != null) {
        if (
          lastSource === null || source.s !== lastSource.s ||
          source.us !== lastSource.us
        ) {
          lastBytes = timestampToBytes(source);
          lastSource = source;
        }
      }
      return [
        source == null ? null : lastBytes,
        payload,
        conditions.empty || conditions.matches(e.type, e.payload),
      ];
    });
  }

  /**
   * Commit every request registered since the previous flush, in one
   * transaction (one WAL fsync with `synchronous: "full"`), and report
   * what became of each request since the previous flush.
   *
   * A commit that fails (disk full, I/O error, ...) is rolled back as a
   * whole: its requests are reported `failed`, their events are not
   * stored and their ids are not given again; the store's state is the
   * database's and it goes on registering.
   *
   * @returns The requests committed and failed since the previous flush.
   * @throws {StoreError} When the store is closed.
   */
  flush(): FlushResult {
    this.#checkOpen();
    this.#drainWriter();
    this.#commit();
    return this.#report();
  }

  /**
   * {@linkcode SqliteStore.flush} without blocking the thread on the
   * writer thread's commits (see {@linkcode SqliteStoreOptions.writerThread};
   * without one, the same as `flush`): the requests registered so far
   * are posted to it, as one commit, once the commit in flight is done,
   * and the promise settles once they are committed (or failed). Calls
   * may overlap: each reports what settled since the previous report,
   * which includes its own requests.
   *
   * @returns The requests committed and failed since the previous
   *   report.
   * @throws {StoreError} When the store is closed.
   */
  async flushAsync(): Promise<FlushResult> {
    this.#checkOpen();
    if (this.#writer === null || this.#db.isTransaction) return this.flush();
    const target = this.#lastSession;
    if (this.#settledSession < target) {
      this.#postBatch();
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.push({ session: target, resolve });
      await promise;
    }
    return this.#report();
  }

  #report(): FlushResult {
    const result = {
      committed: this.#committed,
      failed: this.#failed,
      error: this.#failure,
    };
    this.#committed = [];
    this.#failed = [];
    this.#failure = null;
    return result;
  }

  // Post the gathered batch, when the writer thread may have one more,
  // and wait for it (and the next ones) with the event loop running.
  #postBatch(): void {
    const batch = this.#batch;
    if (batch === null || !this.#writer!.free) return;
    this.#batch = null;
    this.#inFlight.push(batch);
    this.#inFlightBytes += batch.bytes;
    try {
      this.#writer!.post(
        batch.values,
        batch.runs,
        JSON.stringify([...batch.latest]),
        [
          this.serverId,
          batch.lastSession,
          batch.requests.at(-1)!.length,
          batch.t,
        ],
      );
    } catch (e) {
      this.#writerFailed(e);
      return;
    }
    if (!this.#pumping) void this.#pump();
  }

  // While batches are in flight: as they are committed and settled,
  // post the batch gathered meanwhile and report them.
  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#inFlight.length > 0 && this.#writer !== null) {
        const progress = this.#writer.progress;
        this.#collect();
        this.#postBatch();
        if (this.#inFlight.length === 0) break;
        try {
          await this.#writer.wait(progress);
        } catch (e) {
          this.#writerFailed(e);
          break;
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  // Report the batches settled.
  #collect(): void {
    const writer = this.#writer;
    if (writer === null) return;
    const settled = writer.settled;
    while (this.#collected < settled) {
      const batch = this.#inFlight.shift()!;
      this.#inFlightBytes -= batch.bytes;
      this.#settle(batch, writer.outcome(this.#collected++));
    }
  }

  #settle(batch: Batch, error: Error | null): void {
    for (const request of batch.requests) {
      this.#pendingCount -= request.length;
    }
    if (error === null) {
      this.#committed.push(...batch.requests);
      this.#lastCommittedSession = batch.lastSession;
    } else {
      this.#failed.push(...batch.requests);
      this.#failure ??= error;
      // As #abandon: the state is the database's, unless more is
      // gathered (whose sequence numbers follow the lost ones: gaps are
      // harmless).
      if (this.#batch === null && this.#inFlight.length === 0) {
        this.#lastEventId = this.#readLast().id;
        this.#lastSeq = this.#readLastSeq();
      }
    }
    this.#settledUpTo(batch.lastSession);
  }

  // Every request up to `session` is committed or failed.
  #settledUpTo(session: number): void {
    this.#settledSession = Math.max(this.#settledSession, session);
    let i = 0;
    for (; i < this.#waiters.length; i++) {
      const waiter = this.#waiters[i];
      if (waiter.session > this.#settledSession) break;
      waiter.resolve();
    }
    if (i > 0) this.#waiters.splice(0, i);
  }

  // The writer thread is gone: what it had is lost, and this thread
  // writes from now on.
  #writerFailed(error: unknown): void {
    const writer = this.#writer;
    this.#writer = null;
    const failure = error instanceof Error
      ? error
      : new StoreError(String(error));
    const lost = [...this.#inFlight, this.#batch];
    this.#inFlight = [];
    this.#inFlightBytes = 0;
    this.#batch = null;
    for (const batch of lost) if (batch !== null) this.#settle(batch, failure);
    try {
      writer?.close();
    } catch {
      // Gone already.
    }
  }

  // Every batch gathered committed (or failed), blocking: before this
  // thread writes, or reads what must include them.
  #drainWriter(): void {
    const writer = this.#writer;
    if (writer === null) return;
    for (;;) {
      if (this.#inFlight.length > 0) {
        try {
          writer.waitSync();
        } catch (e) {
          this.#writerFailed(e);
          return;
        }
        this.#collect();
      } else if (this.#batch !== null) {
        this.#postBatch();
      } else {
        return;
      }
    }
  }

  /**
   * Run a query. Uncommitted (pending) events are included, as in the
   * reference, except by a server query with `persisted`.
   *
   * `maxResults` of timeseries and server queries is capped by the
   * store's `maxResults` option; a negative one counts as 0.
   *
   * @param params Query.
   * @returns Result.
   * @throws {RangeError} For a server query whose `lastEventId.server` is
   *   not its `serverId`.
   * @throws {TypeError} For an invalid timestamp bound.
   * @throws {InvalidQueryTypeError} For an invalid query type.
   * @throws {StoreError} When the store is closed.
   */
  query(params: QueryParams): QueryResult {
    const query = this.startQuery(params);
    for (;;) {
      const result = query.step();
      if (result !== undefined) return result;
    }
  }

  /**
   * Start a query to be run a step at a time, each reading a bounded
   * number of rows (some 0.2-0.5 ms of work); the result is the one
   * {@linkcode SqliteStore.query} would give at the last step.
   *
   * @param params Query.
   * @returns The query; call `step()` until it returns the result.
   * @throws {RangeError} For a server query whose `lastEventId.server` is
   *   not its `serverId`.
   * @throws {TypeError} For an invalid timestamp bound.
   * @throws {InvalidQueryTypeError} For an invalid query type.
   * @throws {StoreError} When the store is closed (also from `step()`).
   */
  startQuery(params: QueryParams): SteppedQuery {
    this.#checkOpen();
    // Pending events are included (committed first, with the writer
    // thread), but by a persisted server query.
    const pending = !(params.kind === "server" && params.persisted);
    if (pending) this.#drainWriter();
    let query: SteppedQuery;
    switch (params.kind) {
      case "latest":
        query = this.#queries.latest(params);
        break;
      case "timeseries":
        query = this.#queries.timeseries(
          params,
          this.#limit(params.maxResults),
        );
        break;
      case "server":
        query = this.#queries.server(
          params,
          this.#limit(params.maxResults),
          params.serverId === this.serverId
            ? () => this.#lastCommittedSession
            : () => Number.MAX_SAFE_INTEGER,
        );
        break;
      default:
        throw new TypeError(
          `unknown query kind ${(params as { kind: unknown }).kind}`,
        );
    }
    return {
      step: () => {
        this.#checkOpen();
        if (pending) this.#drainWriter();
        return query.step();
      },
    };
  }

  /**
   * Milliseconds between two cleanups of the partitions' retention limits
   * (`storage.cleanupPeriod`, default {@linkcode DEFAULT_CLEANUP_PERIOD});
   * null without configured partitions (with some, events no partition
   * keeps are deleted even when no partition has a limit).
   */
  get cleanupPeriod(): number | null {
    return this.#cleanupPeriod;
  }

  /**
   * One bounded step of retention, committed at once: the masks of (at
   * most `maxEntries`) events stored before the partitions of today set
   * (until none is left), or the oldest entries of partitions past their
   * `limit` taken out of them (at most `maxEntries`), and events that no
   * partition keeps and that are no type's latest deleted. Call it every
   * `cleanupPeriod`, and again while it answers `more`. It does nothing
   * (answering `more`) while registered events wait for their flush, so
   * that a failing commit of its own cannot take them with it.
   *
   * @param now The time retention `duration`s count back from (default:
   *   the store's clock).
   * @param maxEntries Entries taken out at most (default
   *   {@linkcode DEFAULT_CLEANUP_ENTRIES}).
   * @returns Events whose masks were set, entries taken out of
   *   partitions, events deleted, and whether more is to do.
   * @throws {StoreError} When the store is closed.
   * @throws {Error} When SQLite fails (nothing of the step is kept).
   */
  cleanup(
    now: Timestamp = this.#now(),
    maxEntries: number = DEFAULT_CLEANUP_ENTRIES,
  ): CleanupResult {
    this.#checkOpen();
    if (!this.#retention.active) {
      return { remasked: 0, removed: 0, deleted: 0, more: false };
    }
    this.#drainWriter();
    if (this.#db.isTransaction) {
      return { remasked: 0, removed: 0, deleted: 0, more: true };
    }
    this.#db.exec("BEGIN IMMEDIATE");
    let result: CleanupResult;
    try {
      result = this.#retention.step(now, this.#lastSeq, maxEntries);
      if (result.deleted > 0) this.#dropRuns.run();
      this.#db.exec("COMMIT");
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#retention.reset();
      throw e;
    }
    // Running queries may hold events just deleted: they start again.
    if (result.deleted > 0) this.#queries.generation++;
    return result;
  }

  /**
   * Commit what is pending (without reporting it: call
   * {@linkcode SqliteStore.flush} first to learn what became persisted)
   * and close the database. Closing twice is a no-op.
   *
   * @throws {Error} When the final commit fails (the database is closed
   *   anyway).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#drainWriter();
      this.#writer?.close();
      const error = this.#commit();
      if (error !== null) throw error;
      // Give back the sessions reserved but not handed out. Should that
      // fail, the next run skips them: nothing is lost.
      if (this.#reserved > this.#lastSession) {
        try {
          this.#writeReserved(this.#lastSession);
        } catch {
          // As said.
        }
      }
    } finally {
      this.#db.close();
      // After SQLite let go of the file (see _lock.ts).
      this.#lock?.release();
    }
  }

  /** Same as {@linkcode SqliteStore.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  // Commit the open transaction; its error when it failed (and was
  // abandoned), else null.
  #commit(): unknown {
    if (this.#pending.length === 0 && !this.#db.isTransaction) return null;
    try {
      if (!this.#db.isTransaction) {
        throw new StoreError("the transaction was rolled back");
      }
      this.#db.exec("COMMIT");
    } catch (e) {
      this.#abandon(e);
      return e;
    }
    this.#lastCommittedSession = this.#lastEventId.session;
    this.#settledUpTo(this.#lastSession);
    this.#committed.push(...this.#pending);
    this.#pending = [];
    this.#pendingCount = 0;
    return null;
  }

  // Commit a reservation of the sessions from `session` on, with what is
  // pending if anything is (the next flush reports it).
  #reserve(session: number): void {
    const reserved = session - 1 + this.#sessionBlock;
    this.#writeReserved(reserved);
    this.#reserved = reserved;
  }

  #writeReserved(reserved: number): void {
    const open = this.#db.isTransaction;
    if (!open) this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#updateReserved.run(
        this.serverId,
        timestampToBytes(MIN_TIMESTAMP),
        reserved,
      );
    } catch (e) {
      if (open) this.#abandon(e);
      else if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
    if (open) {
      const error = this.#commit();
      if (error !== null) throw error;
      return;
    }
    try {
      this.#db.exec("COMMIT");
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  // Undo the request being registered. False when that is not possible:
  // the transaction is gone, or cannot go back to the savepoint.
  #undoRegister(): boolean {
    // The request may have added types.
    this.#types.reset();
    this.#partitions.reset();
    this.#retention.reset();
    if (!this.#db.isTransaction) return false;
    try {
      this.#db.exec("ROLLBACK TO register");
      this.#db.exec("RELEASE register");
      return true;
    } catch {
      return false;
    }
  }

  // The open transaction is lost: roll back what SQLite has not, report
  // its requests failed and take the state from the database again.
  #abandon(error: unknown): void {
    if (this.#db.isTransaction) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // Nothing more to undo here; SQLite's next statement tells.
      }
    }
    this.#settledUpTo(this.#lastSession);
    this.#failed.push(...this.#pending);
    this.#failure ??= error instanceof Error
      ? error
      : new StoreError(String(error));
    this.#pending = [];
    this.#pendingCount = 0;
    this.#types.reset();
    this.#partitions.reset();
    this.#retention.reset();
    // Running queries may have read the events just lost.
    this.#queries.generation++;
    this.#lastEventId = this.#readLast().id;
    this.#lastSeq = this.#readLastSeq();
  }

  #readLastSeq(): number {
    return (this.#selectLastSeq.get() as { seq: number }).seq;
  }

  #readLast(): { id: EventId; timestamp: Timestamp; reserved: number } {
    const last = this.#selectServer.get(this.serverId) as
      | { session: number; instance: number; t: Uint8Array; reserved: number }
      | undefined;
    return {
      id: {
        server: this.serverId,
        session: last?.session ?? 0,
        instance: last?.instance ?? 0,
      },
      timestamp: last ? timestampFromBytes(last.t) : MIN_TIMESTAMP,
      reserved: last?.reserved ?? 0,
    };
  }

  #limit(maxResults: number | null | undefined): number {
    if (maxResults == null || maxResults >= this.#maxResults) {
      return this.#maxResults;
    }
    return maxResults > 0 ? Math.floor(maxResults) : 0;
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new StoreError("event store is closed", { code: "CLOSED" });
    }
  }
}
