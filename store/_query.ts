/**
 * The three Eventer queries (latest, timeseries, server) as SQL over the
 * `events` table, with the reference's (hat-event 0.9 LMDB backend)
 * semantics.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type {
  Event,
  EventId,
  QueryLatestParams,
  QueryResult,
  QueryServerParams,
  QueryTimeseriesParams,
  Timestamp,
} from "../common/event/mod.ts";
import { timestampToBytes } from "../common/event/mod.ts";
import { EVENT_COLUMNS, eventFromRow } from "./_event_row.ts";
import type { EventRow } from "./_event_row.ts";
import type { EventTypeTable } from "./_event_types.ts";

type Param = number | string | Uint8Array | null;

/** Most matched types queried one ordered index scan each, then merged. */
const MERGE_MAX_TYPES = 8;

/** Runs queries against one database; statements are prepared once. */
export class EventQueries {
  #db: DatabaseSync;
  #types: EventTypeTable;
  #statements = new Map<string, StatementSync>();

  /**
   * @param db Database with the store schema.
   * @param types Event types of `db`.
   */
  constructor(db: DatabaseSync, types: EventTypeTable) {
    this.#db = db;
    this.#types = types;
  }

  /**
   * Latest event of each matching type, in the order the types were first
   * registered; `moreFollows` is always false.
   */
  latest(params: QueryLatestParams): QueryResult {
    const typeIds = this.#types.matching(params.eventTypes);
    if (typeIds?.length === 0) return { events: [], moreFollows: false };
    const filter = typeIds === null
      ? ""
      : "WHERE et.id IN (SELECT value FROM json_each(:typeIds))";
    const rows = this.#all(
      `SELECT ${prefixed("e", EVENT_COLUMNS)} FROM event_types et
       JOIN events e ON e.seq = et.latest ${filter} ORDER BY et.id`,
      typeIds === null ? {} : { typeIds: JSON.stringify(typeIds) },
    );
    return {
      events: rows.map((r) => eventFromRow(r, this.#types)),
      moreFollows: false,
    };
  }

  /**
   * Events filtered by type and time, ordered by `timestamp` or
   * `sourceTimestamp` (ties by event id), at most `limit` of them.
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
   */
  timeseries(params: QueryTimeseriesParams, limit: number): QueryResult {
    const typeIds = this.#types.matching(params.eventTypes);
    if (typeIds?.length === 0) return { events: [], moreFollows: false };

    const bySource = params.orderBy === "sourceTimestamp";
    const key = bySource ? "source_t" as const : "t" as const;
    const ascending = params.order === "ascending";
    const where: string[] = [];
    const args: Record<string, Param> = {};
    const bound = (column: string, op: string, t?: Timestamp | null) => {
      if (t == null) return;
      const name = `${column}${op === ">=" ? "From" : "To"}`;
      where.push(`${column} ${op} :${name}`);
      args[name] = timestampToBytes(t);
    };

    // A few types: one ordered range scan of `events_type_*` per type,
    // merged here. Many types: one scan of the time index, filtering by
    // type. The index is forced: left alone, SQLite would rather read
    // every event of the types and sort them, which is unbounded.
    const perType = typeIds !== null && typeIds.length <= MERGE_MAX_TYPES;
    if (bySource) where.push("source_t IS NOT NULL");
    if (perType) {
      where.push("type_id = :typeId");
    } else if (typeIds !== null) {
      where.push("type_id IN (SELECT value FROM json_each(:typeIds))");
      args.typeIds = JSON.stringify(typeIds);
    }
    bound("t", ">=", params.tFrom);
    bound("t", "<=", params.tTo);
    bound("source_t", ">=", params.sourceTFrom);
    bound("source_t", "<=", params.sourceTTo);

    if (params.lastEventId != null) {
      const from = bySource ? params.sourceTFrom : params.tFrom;
      const to = bySource ? params.sourceTTo : params.tTo;
      const last = this.#position(key, params.lastEventId, from, to);
      if (last === undefined) return { events: [], moreFollows: false };
      where.push(
        `(${key}, server, session, instance) ${ascending ? ">" : "<"}
         (:lastKey, :lastServer, :lastSession, :lastInstance)`,
      );
      Object.assign(args, last);
    }

    const dir = ascending ? "ASC" : "DESC";
    const index = typeIds === null
      ? ""
      : `INDEXED BY events_${perType ? "type_" : ""}${key}`;
    args.limit = limit + 1;
    const sql = `SELECT ${EVENT_COLUMNS} FROM events ${index}
       ${where.length ? "WHERE " + where.join(" AND ") : ""}
       ORDER BY ${key} ${dir}, server ${dir}, session ${dir}, instance ${dir}
       LIMIT :limit`;
    if (!perType) return this.#result(this.#all(sql, args), limit);

    const rows: EventRow[] = [];
    for (const typeId of typeIds) {
      rows.push(...this.#all(sql, { ...args, typeId }));
    }
    if (typeIds.length > 1) {
      const sign = ascending ? 1 : -1;
      rows.sort((a, b) => sign * compareRows(a, b, key));
    }
    return this.#result(rows, limit);
  }

  /**
   * Events of one server in id order, after `lastEventId` (which need not
   * exist), at most `limit` of them.
   *
   * @param params Query.
   * @param limit Effective maximum number of results (already capped).
   * @param lastCommittedSession When `params.persisted`, the last session
   *   committed for `params.serverId`; later ones are left out.
   * @throws {RangeError} When `lastEventId.server` differs from `serverId`
   *   (the reference raises too).
   */
  server(
    params: QueryServerParams,
    limit: number,
    lastCommittedSession: number,
  ): QueryResult {
    const last = params.lastEventId;
    if (last != null && last.server !== params.serverId) {
      throw new RangeError(
        `lastEventId.server ${last.server} is not serverId ${params.serverId}`,
      );
    }
    const persisted = params.persisted
      ? "AND session <= :lastCommittedSession"
      : "";
    const rows = this.#all(
      `SELECT ${EVENT_COLUMNS} FROM events
       WHERE server = :server AND (session, instance) > (:session, :instance)
       ${persisted} ORDER BY session, instance LIMIT :limit`,
      {
        server: params.serverId,
        session: last?.session ?? 0,
        instance: last?.instance ?? 0,
        limit: limit + 1,
        ...(params.persisted ? { lastCommittedSession } : {}),
      },
    );
    return this.#result(rows, limit);
  }

  /** Ordering key and id of the `lastEventId` event, if within [from, to]. */
  #position(
    key: string,
    id: EventId,
    from?: Timestamp | null,
    to?: Timestamp | null,
  ): Record<string, Param> | undefined {
    const args: Record<string, Param> = {
      server: id.server,
      session: id.session,
      instance: id.instance,
    };
    let range = "";
    if (from != null) {
      range += ` AND ${key} >= :from`;
      args.from = timestampToBytes(from);
    }
    if (to != null) {
      range += ` AND ${key} <= :to`;
      args.to = timestampToBytes(to);
    }
    const row = this.#statement(
      `SELECT ${key} AS key FROM events WHERE server = :server
       AND session = :session AND instance = :instance
       AND ${key} IS NOT NULL${range}`,
    ).get(args) as { key: Uint8Array } | undefined;
    if (row === undefined) return undefined;
    return {
      lastKey: row.key,
      lastServer: id.server,
      lastSession: id.session,
      lastInstance: id.instance,
    };
  }

  #result(rows: EventRow[], limit: number): QueryResult {
    const moreFollows = rows.length > limit;
    const events: Event[] = [];
    for (let i = 0; i < rows.length && i < limit; i++) {
      events.push(eventFromRow(rows[i], this.#types));
    }
    return { events, moreFollows };
  }

  #all(sql: string, args: Record<string, Param>): EventRow[] {
    return this.#statement(sql).all(args) as unknown as EventRow[];
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/** Order of rows by `key` (a timestamp column), then event id. */
function compareRows(a: EventRow, b: EventRow, key: "t" | "source_t"): number {
  const x = a[key]!;
  const y = b[key]!;
  for (let i = 0; i < 12; i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return a.server - b.server || a.session - b.session ||
    a.instance - b.instance;
}

function prefixed(table: string, columns: string): string {
  return columns.split(", ").map((c) => `${table}.${c}`).join(", ");
}
