/**
 * SQLite schema of the event store and opening a database with it.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { StoreError } from "./errors.ts";

/** Schema version kept in `PRAGMA user_version`. */
export const SCHEMA_VERSION = 5;

/** How hard SQLite syncs a commit to disk (`PRAGMA synchronous`). */
export type Synchronous = "full" | "normal";

// Timestamps are the 12-byte big-endian form of SPEC §3 (`s + 2^63` as u64,
// then `us` as u32): SQLite compares BLOBs with memcmp, so byte order is
// time order over the whole signed 64-bit range, sentinels included.
//
// `seq` is the registration order; `event_types.latest` points at the
// latest event of each type, which is what a latest query returns.
// Event ids are monotonic per server, so `servers` keeps the last id and
// timestamp of each server across restarts (and any future cleanup), and
// `reserved`, the last session this store may give before reserving more:
// sessions are handed out (and notified) before their commit, so a crash
// must not let a restarted store give them again.
//
// Event ids and timestamps are found through `runs`, not an index entry
// per event (each cost a sixth to a seventh of the throughput of
// registration): a run is a range of sequence numbers whose events share
// a server, session and timestamp, one per request registered here, one
// per stretch of a peer's session synced. As a server's ids grow with the
// sequence (a peer's events are stored only after its last), a server's
// events in id order are its runs in (session, first_seq) order, each in
// sequence order (`runs_id`); and all events in (timestamp, id) order are
// the runs in (t, server, session, first_seq) order, each in sequence
// order (`runs_t`). Retention deletes the runs before the first event
// left (those in between stay, empty).
//
// Every index is led by what grows with registration (the sequence, the
// id, the timestamp; a source timestamp is close to it in practice), so
// a commit appends to the end of each B-tree and dirties a few pages
// however many types its events have: the bytes written per event do not
// grow with the spread of types (schema version 2 had indexes led by the
// type, one page dirtied per type and index at every commit: 29 KB
// written per event over 1,000 types, see BENCHMARKS.md).
//
// Timeseries order is (timestamp, id): `runs_t` and `events_source_t`
// are the timeseries of the two orders, over every type. The second ends
// with `type_id`, so a query over some types filters the index's entries
// without reading the events (see _query_timeseries.ts); source
// timestamps differ from event to event, so it has an entry per event.
// They are the store's implicit timeseries partitions; configured ones
// (StorageRules.timeseries) are indexes of events of that shape, partial
// over the events whose `partitions` mask has their bit (_partitions.ts).
/**
 * The index of events of the implicit timeseries partitions (see
 * _partitions.ts), which a store without configured partitions has
 * (`runs_t` is the other's, which every store has).
 */
export const TIME_INDEXES = `
CREATE INDEX events_source_t
  ON events (source_t, server, session, instance, type_id)
  WHERE source_t IS NOT NULL;`;
const RUNS = `
CREATE TABLE runs (
  first_seq INTEGER PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  server INTEGER NOT NULL,
  session INTEGER NOT NULL,
  t BLOB NOT NULL
);
CREATE INDEX runs_id ON runs (server, session, first_seq);
CREATE INDEX runs_t ON runs (t, server, session, first_seq);`;
const SCHEMA = `
CREATE TABLE event_types (
  id INTEGER PRIMARY KEY,
  type TEXT NOT NULL UNIQUE,
  latest INTEGER
);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY,
  server INTEGER NOT NULL,
  session INTEGER NOT NULL,
  instance INTEGER NOT NULL,
  type_id INTEGER NOT NULL,
  t BLOB NOT NULL,
  source_t BLOB,
  payload_kind INTEGER,
  payload_type TEXT,
  payload_data BLOB,
  partitions INTEGER
);
${RUNS}
${TIME_INDEXES}
CREATE TABLE partitions (
  id INTEGER PRIMARY KEY,
  order_by TEXT NOT NULL,
  subscriptions TEXT NOT NULL,
  UNIQUE (order_by, subscriptions)
);
CREATE TABLE servers (
  server INTEGER PRIMARY KEY,
  session INTEGER NOT NULL,
  instance INTEGER NOT NULL,
  t BLOB NOT NULL,
  reserved INTEGER NOT NULL DEFAULT 0
);
`;

/**
 * A run (see above): first and last sequence number, server, session,
 * timestamp. It replaces a run whose events are all gone that had the
 * same first one.
 */
export const INSERT_RUN =
  `INSERT OR REPLACE INTO runs (first_seq, last_seq, server, session, t)
  VALUES (?, ?, ?, ?, ?)`;

/** A server's last event id and timestamp, inserted or replaced. */
export const UPSERT_SERVER =
  `INSERT INTO servers (server, session, instance, t) VALUES (?, ?, ?, ?)
  ON CONFLICT (server) DO UPDATE SET session = excluded.session,
    instance = excluded.instance, t = excluded.t`;

// From each version to the next.
const MIGRATIONS: Record<number, string> = {
  1: "ALTER TABLE servers ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0;",
  // The indexes led by the type go; the time indexes get the type. Builds
  // two indexes over every event: some seconds per million events.
  // (Version 3's `events_t` goes with version 5.)
  2: `DROP INDEX IF EXISTS events_type_t;
    DROP INDEX IF EXISTS events_type_source_t;
    DROP INDEX IF EXISTS events_t;
    DROP INDEX IF EXISTS events_source_t;
    ${TIME_INDEXES}
    ALTER TABLE events ADD COLUMN partitions INTEGER;
    CREATE TABLE partitions (
      id INTEGER PRIMARY KEY,
      order_by TEXT NOT NULL,
      subscriptions TEXT NOT NULL,
      UNIQUE (order_by, subscriptions)
    );`,
  // Runs from the events' ids (a stretch of consecutive sequence numbers
  // of one server and session each), then the index of ids goes.
  // (Built again, with their timestamps, by the next one.)
  3: `CREATE TABLE runs (
      first_seq INTEGER PRIMARY KEY,
      last_seq INTEGER NOT NULL,
      server INTEGER NOT NULL,
      session INTEGER NOT NULL
    );
    INSERT INTO runs (first_seq, last_seq, server, session)
      SELECT min(seq), max(seq), server, session FROM (
        SELECT seq, server, session,
          seq - row_number() OVER (PARTITION BY server, session ORDER BY seq)
            AS stretch
        FROM events)
      GROUP BY server, session, stretch;
    DROP INDEX IF EXISTS events_id;`,
  // Runs split where the timestamp changes, with it, from the events; the
  // last sequence number given is kept by an empty run where the events
  // no longer hold it. Then the index of timestamps goes.
  4: `ALTER TABLE runs RENAME TO runs_v4;
    DROP INDEX IF EXISTS runs_id;
    ${RUNS}
    INSERT INTO runs (first_seq, last_seq, server, session, t)
      SELECT min(seq), max(seq), server, session, t FROM (
        SELECT seq, server, session, t,
          seq - row_number()
            OVER (PARTITION BY server, session, t ORDER BY seq) AS stretch
        FROM events)
      GROUP BY server, session, t, stretch;
    INSERT INTO runs (first_seq, last_seq, server, session, t)
      SELECT last_seq, last_seq, server, session, x'' FROM runs_v4
      WHERE last_seq > coalesce((SELECT max(seq) FROM events), 0)
      ORDER BY last_seq DESC LIMIT 1;
    DROP TABLE runs_v4;
    DROP INDEX IF EXISTS events_t;`,
};

/** Set how hard `db`'s commits sync to disk. */
export function setSynchronous(
  db: DatabaseSync,
  synchronous: Synchronous,
): void {
  db.exec(`PRAGMA synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
}

/**
 * Open (creating if needed) an event store database at `path`.
 *
 * Journal mode is WAL, so readers never block the writer and a commit is
 * one sequential append. `synchronous` `"full"` fsyncs the WAL on every
 * commit, so a committed event survives power loss; `"normal"` only syncs
 * at checkpoints, surviving a process crash but possibly losing the last
 * commits on power loss.
 *
 * @param path File path, or `":memory:"`.
 * @param synchronous Durability of a commit.
 * @returns The open database.
 * @throws {StoreError} When the file holds an unknown schema version
 *   (older ones are migrated).
 */
export function openDatabase(
  path: string,
  synchronous: Synchronous,
): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    // A no-op ("memory") for in-memory databases.
    db.exec("PRAGMA journal_mode = WAL");
    setSynchronous(db, synchronous);
    const { user_version: version } = db.prepare("PRAGMA user_version")
      .get() as { user_version: number };
    if (version > SCHEMA_VERSION || version < 0) {
      throw new StoreError(
        `unsupported event store schema version ${version} in ${path}`,
      );
    }
    if (version < SCHEMA_VERSION) {
      db.exec("BEGIN IMMEDIATE");
      try {
        if (version === 0) {
          db.exec(SCHEMA);
        } else {
          for (let v = version; v < SCHEMA_VERSION; v++) {
            db.exec(MIGRATIONS[v]);
          }
        }
        db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
        db.exec("COMMIT");
      } catch (e) {
        if (db.isTransaction) db.exec("ROLLBACK");
        throw e;
      }
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * A statement returning its rows as arrays, in column order: node:sqlite's
 * row objects are slow to read (a property costs some 100 ns, 20 times an
 * array element), which a result of 100,000 events pays for every column.
 * (`setReturnArrays` is Node 24's; Deno has it, its types not yet.)
 *
 * @param db Database.
 * @param sql The statement.
 * @returns The prepared statement.
 */
export function prepareArrays(db: DatabaseSync, sql: string): StatementSync {
  const statement = db.prepare(sql) as StatementSync & {
    setReturnArrays(enabled: boolean): void;
  };
  statement.setReturnArrays(true);
  return statement;
}
