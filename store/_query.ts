/**
 * The three Eventer queries (latest, timeseries, server) as SQL over the
 * `events` table, with the reference's (hat-event 0.9 LMDB backend)
 * semantics, run a bounded step at a time.
 *
 * A result is read in phases: the query types resolved to type ids, the
 * candidate events in result order with their sizes (as many as the
 * count and byte caps can take, plus one to tell whether more follow),
 * then the chosen events themselves. Every statement runs to its end
 * within a step and reads a bounded number of rows: candidates are read
 * by key ranges (index entries, type ids, sequence numbers), never by a
 * statement left open across steps, since registrations write through the
 * same connection meanwhile.
 *
 * The result is the one a query run in one go would give at the last
 * step. The candidates' scan reads the events registered before the
 * query began (`seq` up to `snapshot`); before answering, a run reads the
 * events registered since (few, and read again until none is new) and
 * merges them in: for a latest query a newer event of a type replaces the
 * older one, for a timeseries query an event takes its place in the
 * order. Server query results grow only at their end (new ids, newly
 * committed sessions), so their scan simply goes on. Events are never
 * changed or deleted, except when a commit fails and takes the pending
 * ones with it; a run that sees that starts again and finishes at once.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type {
  Event,
  QueryLatestParams,
  QueryServerParams,
  QueryTimeseriesParams,
} from "../common/event/mod.ts";
import { EVENT_COLUMNS, eventFromRow, type EventRow } from "./_event_row.ts";
import type { EventTypeTable } from "./_event_types.ts";
import type { Partitions } from "./_partitions.ts";
import type { SteppedQuery } from "./event_store.ts";
import { prepareArrays } from "./_schema.ts";
import type { Param, Run } from "./_query_run.ts";
import { LatestRun } from "./_query_latest.ts";
import { TimeseriesRun } from "./_query_timeseries.ts";
import { ServerRun } from "./_query_server.ts";

// Events by `seq`, in the order of a JSON array of them (with their
// type's JSON text).
const FETCH_EVENTS = `SELECT ${prefixed("e", EVENT_COLUMNS)}
  FROM json_each(?) AS j CROSS JOIN events AS e ON e.seq = j.value
  ORDER BY j.key`;
const FETCH_EVENTS_WITH_TYPES = `SELECT ${prefixed("e", EVENT_COLUMNS)},
  et.type FROM json_each(?) AS j CROSS JOIN events AS e ON e.seq = j.value
  CROSS JOIN event_types AS et ON et.id = e.type_id ORDER BY j.key`;

/** Runs queries against one database; statements are prepared once. */
export class EventQueries {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  /** Event types of the database. */
  readonly types: EventTypeTable;
  /** Cap on the estimated encoded bytes of a result's events. */
  readonly maxBytes: number;
  /** Timeseries partitions: what a timeseries query scans. */
  readonly partitions: Partitions;
  /**
   * Bumped when events a running query may have read are gone (a failed
   * commit rolled back the pending ones): such a query starts again.
   */
  generation = 0;

  /**
   * @param db Database with the store schema.
   * @param types Event types of `db`.
   * @param maxBytes Cap on the estimated encoded bytes of a result's
   *   events (a single event larger than it is still returned alone).
   * @param partitions Timeseries partitions of `db`.
   */
  constructor(
    db: DatabaseSync,
    types: EventTypeTable,
    maxBytes: number,
    partitions: Partitions,
  ) {
    this.#db = db;
    this.types = types;
    this.maxBytes = maxBytes;
    this.partitions = partitions;
  }

  /**
   * Latest event of each matching type, in the order the types were first
   * registered, as many as fit in the byte cap: `moreFollows` says some
   * were left out (the reference answers all, always with `false`).
   *
   * @throws {InvalidQueryTypeError} For an invalid query type.
   */
  latest(params: QueryLatestParams): SteppedQuery {
    return this.#restarting(() => new LatestRun(this, params));
  }

  /**
   * Events filtered by type and time, ordered by `timestamp` or
   * `sourceTimestamp` (ties by event id), at most `limit` of them and as
   * many as fit in the byte cap.
   *
   * As in the reference: bounds are inclusive; a `sourceTFrom`/`sourceTTo`
   * bound, or ordering by `sourceTimestamp`, excludes events without one;
   * `lastEventId` names the event to continue after, by position in this
   * order, whether or not that event passes the type and other-timestamp
   * filters, but it must lie within the range of the ordering timestamp
   * (and have one): otherwise the result is empty.
   *
   * @param params Query.
   * @param limit Effective maximum number of results (already capped).
   * @throws {TypeError} For an invalid timestamp bound.
   * @throws {InvalidQueryTypeError} For an invalid query type.
   */
  timeseries(params: QueryTimeseriesParams, limit: number): SteppedQuery {
    return this.#restarting(() => new TimeseriesRun(this, params, limit));
  }

  /**
   * Events of one server in id order, after `lastEventId` (which need not
   * exist), at most `limit` of them and as many as fit in the byte cap.
   *
   * @param params Query.
   * @param limit Effective maximum number of results (already capped).
   * @param lastCommittedSession When `params.persisted`, gives the last
   *   session committed for `params.serverId` (later ones are left out).
   * @throws {RangeError} When `lastEventId.server` differs from `serverId`
   *   (the reference raises too).
   */
  server(
    params: QueryServerParams,
    limit: number,
    lastCommittedSession: () => number,
  ): SteppedQuery {
    const last = params.lastEventId;
    if (last != null && last.server !== params.serverId) {
      throw new RangeError(
        `lastEventId.server ${last.server} is not serverId ${params.serverId}`,
      );
    }
    return this.#restarting(() =>
      new ServerRun(this, params, limit, lastCommittedSession)
    );
  }

  /** A prepared statement returning rows as arrays. */
  statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = prepareArrays(this.#db, sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Rows of `sql` with `args`. */
  all<T extends readonly unknown[]>(
    sql: string,
    args: Record<string, Param>,
  ): T[] {
    return this.statement(sql).all(args) as unknown as T[];
  }

  /** Sequence number of the last event registered (0: none). */
  lastSeq(): number {
    return this.all<[number]>(
      "SELECT coalesce(max(seq), 0) FROM events",
      {},
    )[0][0];
  }

  /**
   * The events of `seqs`, in that order; with `withTypes`, their types are
   * read with them (saving a statement for each not in memory).
   */
  fetch(seqs: readonly number[], withTypes: boolean): Event[] {
    const rows = this.statement(
      withTypes ? FETCH_EVENTS_WITH_TYPES : FETCH_EVENTS,
    ).all(JSON.stringify(seqs)) as unknown as (EventRow & { 9?: string })[];
    if (rows.length !== seqs.length) {
      throw new Error("events of a running query are gone");
    }
    return rows.map((row) => eventFromRow(row, this.types, row[9]));
  }

  // A run that starts again, and finishes in that step, when events it
  // may have read were rolled back: failing commits (a full disk) cannot
  // keep it from ending.
  #restarting(start: () => Run): SteppedQuery {
    let generation = this.generation;
    let run = start();
    return {
      step: () => {
        if (generation === this.generation) return run.step();
        generation = this.generation;
        run = start();
        for (;;) {
          const result = run.step();
          if (result !== undefined) return result;
        }
      },
    };
  }
}

function prefixed(table: string, columns: string): string {
  return columns.split(", ").map((c) => `${table}.${c}`).join(", ");
}
