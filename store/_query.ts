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

/**
 * Bytes an event takes in a result besides its type's segments and its
 * payload's type and data: at most 24 for the id, 13 + 12 for the
 * timestamps, 2 for the segment count, 12 for the payload's choice and
 * length prefixes; the JSON text of a type (quotes, commas) outgrows
 * the length prefixes of its segments.
 */
const EVENT_OVERHEAD = 96;

/** Events read from the table at a time, once a result is chosen. */
const FETCH_CHUNK = 512;

/** A row of a result's second phase. */
type FetchedRow = EventRow & { seq: number; type_text?: string };

/** What a result's first phase reads of each candidate event. */
interface Candidate {
  seq: number;
  type_id: number;
  // Bytes of the payload's type and data (JSON text).
  size: number;
  // Bytes of the type's JSON text, when read with it.
  type_size?: number;
}

// The payload's bytes, read without building the payload.
const PAYLOAD_SIZE = `coalesce(octet_length(payload_type), 0) +
  coalesce(octet_length(payload_data), 0)`;

/** Runs queries against one database; statements are prepared once. */
export class EventQueries {
  #db: DatabaseSync;
  #types: EventTypeTable;
  #maxBytes: number;
  // Most events that can fit in maxBytes.
  #maxEvents: number;
  #statements = new Map<string, StatementSync>();

  /**
   * @param db Database with the store schema.
   * @param types Event types of `db`.
   * @param maxBytes Cap on the estimated encoded bytes of a result's
   *   events (a single event larger than it is still returned alone).
   */
  constructor(db: DatabaseSync, types: EventTypeTable, maxBytes: number) {
    this.#db = db;
    this.#types = types;
    this.#maxBytes = maxBytes;
    this.#maxEvents = Math.max(1, Math.floor(maxBytes / EVENT_OVERHEAD));
  }

  /**
   * Latest event of each matching type, in the order the types were first
   * registered, as many as fit in the byte cap: `moreFollows` says some
   * were left out (the reference answers all, always with `false`).
   */
  latest(params: QueryLatestParams): QueryResult {
    const typeIds = this.#types.matching(params.eventTypes);
    if (typeIds?.length === 0) return { events: [], moreFollows: false };
    const filter = typeIds === null
      ? ""
      : "WHERE et.id IN (SELECT value FROM json_each(:typeIds))";
    const candidates = this.#all<Candidate>(
      `SELECT e.seq AS seq, e.type_id AS type_id,
         ${prefixedSize("e")} AS size, octet_length(et.type) AS type_size
       FROM event_types et
       JOIN events e ON e.seq = et.latest ${filter} ORDER BY et.id
       LIMIT :limit`,
      {
        limit: this.#maxEvents + 1,
        ...(typeIds === null ? {} : { typeIds: JSON.stringify(typeIds) }),
      },
    );
    // Every event of another type: read the types with them.
    return this.#result(candidates, Infinity, true);
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
    args.limit = Math.min(limit, this.#maxEvents) + 1;
    const columns = `seq, type_id, ${PAYLOAD_SIZE} AS size`;
    const sql = (columns: string) =>
      `SELECT ${columns} FROM events ${index}
       ${where.length ? "WHERE " + where.join(" AND ") : ""}
       ORDER BY ${key} ${dir}, server ${dir}, session ${dir}, instance ${dir}
       LIMIT :limit`;
    if (!perType) {
      return this.#result(this.#all<Candidate>(sql(columns), args), limit);
    }

    const rows: (Candidate & SortKey)[] = [];
    for (const typeId of typeIds) {
      rows.push(
        ...this.#all<Candidate & SortKey>(
          sql(`${columns}, ${key} AS key, server, session, instance`),
          { ...args, typeId },
        ),
      );
    }
    if (typeIds.length > 1) {
      const sign = ascending ? 1 : -1;
      rows.sort((a, b) => sign * compareKeys(a, b));
    }
    return this.#result(rows, limit);
  }

  /**
   * Events of one server in id order, after `lastEventId` (which need not
   * exist), at most `limit` of them and as many as fit in the byte cap.
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
    const candidates = this.#all<Candidate>(
      `SELECT seq, type_id, ${PAYLOAD_SIZE} AS size FROM events
       WHERE server = :server AND (session, instance) > (:session, :instance)
       ${persisted} ORDER BY session, instance LIMIT :limit`,
      {
        server: params.serverId,
        session: last?.session ?? 0,
        instance: last?.instance ?? 0,
        limit: Math.min(limit, this.#maxEvents) + 1,
        ...(params.persisted ? { lastCommittedSession } : {}),
      },
    );
    return this.#result(candidates, limit);
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

  // The result of candidate events in result order: as many as `limit`
  // and the byte cap allow (at least one), read in chunks so only one
  // copy of each payload is held; more follow when a candidate is left.
  #result(
    candidates: Candidate[],
    limit: number,
    withTypes = false,
  ): QueryResult {
    let n = 0;
    let bytes = 0;
    for (; n < candidates.length && n < limit; n++) {
      const c = candidates[n];
      bytes += EVENT_OVERHEAD + c.size +
        (c.type_size ?? this.#types.bytesOf(c.type_id));
      if (bytes > this.#maxBytes && n > 0) break;
    }
    const events: Event[] = [];
    const select = this.#statement(
      withTypes
        ? `SELECT e.seq AS seq, ${prefixed("e", EVENT_COLUMNS)},
             et.type AS type_text
           FROM events e JOIN event_types et ON et.id = e.type_id
           WHERE e.seq IN (SELECT value FROM json_each(?))`
        : `SELECT seq, ${EVENT_COLUMNS} FROM events
           WHERE seq IN (SELECT value FROM json_each(?))`,
    );
    for (let i = 0; i < n; i += FETCH_CHUNK) {
      const chunk = candidates.slice(i, Math.min(n, i + FETCH_CHUNK));
      const rows = new Map<number, FetchedRow>();
      const read = select.all(JSON.stringify(chunk.map((c) => c.seq)));
      for (const row of read as unknown as FetchedRow[]) {
        rows.set(row.seq, row);
      }
      for (const c of chunk) {
        const row = rows.get(c.seq)!;
        events.push(eventFromRow(row, this.#types, row.type_text));
      }
    }
    return { events, moreFollows: n < candidates.length };
  }

  #all<T>(sql: string, args: Record<string, Param>): T[] {
    return this.#statement(sql).all(args) as unknown as T[];
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

/** Ordering key and id of a timeseries candidate. */
interface SortKey {
  key: Uint8Array;
  server: number;
  session: number;
  instance: number;
}

/** Order by `key` (a timestamp column), then event id. */
function compareKeys(a: SortKey, b: SortKey): number {
  const x = a.key;
  const y = b.key;
  for (let i = 0; i < 12; i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return a.server - b.server || a.session - b.session ||
    a.instance - b.instance;
}

function prefixed(table: string, columns: string): string {
  return columns.split(", ").map((c) => `${table}.${c}`).join(", ");
}

function prefixedSize(table: string): string {
  return `coalesce(octet_length(${table}.payload_type), 0) +
    coalesce(octet_length(${table}.payload_data), 0)`;
}
