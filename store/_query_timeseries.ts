/**
 * The timeseries query: events in (timestamp, id) order, read by an
 * ordered scan of a time index, its entries filtered by type. The index
 * of the implicit partition by timestamp is of runs (`runs_t`, see
 * _schema.ts): each run's events are read in sequence order, joined.
 *
 * @module
 */

import type {
  EventId,
  QueryTimeseriesParams,
  Timestamp,
} from "../common/event/mod.ts";
import { timestampToBytes } from "../common/event/mod.ts";
import type { TypeMatch } from "./_event_types.ts";
import type { EventQueries } from "./_query.ts";
import { type PartitionScan, RUNS_T_INDEX } from "./_partitions.ts";
import {
  CATCH_UP_ROWS,
  EVENT_OVERHEAD,
  type Fresh,
  type Param,
  PAYLOAD_SIZE,
  Run,
  SCAN_ROWS,
  type SortKey,
} from "./_query_run.ts";

/**
 * Most matched types filtered in SQL; with more, SQLite's building of
 * the list (some 0.3 µs a type, at every statement) costs more than
 * filtering the rows here.
 */
const SQL_LIST_MAX_TYPES = 256;

/**
 * Index entries examined by a step of a scan whose entries are filtered
 * by type (SCAN_ROWS when each is a candidate): the type is in the
 * index, so an entry of another type costs no read of its event. (Through
 * runs, it does, a read in sequence order of rows of some 100 bytes: a
 * step of 2,048 of them takes a millisecond or two here.)
 */
const FILTERED_SCAN_ROWS = 4 * SCAN_ROWS;

/** The ordered index scan. */
interface Stream {
  // Last entry examined, or the lastEventId position.
  position: SortKey | null;
  exhausted: boolean;
}

/**
 * A candidate as scanned (its payload's size, made its size in a result),
 * its sort key when read with it.
 */
type TimeseriesRow = [
  seq: number,
  typeId: number,
  size: number,
  key?: Uint8Array,
  server?: number,
  session?: number,
  instance?: number,
];

/** A timeseries query: candidates in (timestamp, id) order. */
export class TimeseriesRun extends Run {
  readonly #params: QueryTimeseriesParams;
  readonly #match: TypeMatch;
  readonly #bySource: boolean;
  readonly #key: "t" | "source_t";
  readonly #ascending: boolean;
  // Conditions and arguments every candidate meets, fresh ones included
  // (the type's aside).
  readonly #where: string[] = [];
  readonly #args: Record<string, Param> = {};
  // Sort keys of the main candidates, once fresh candidates are to be
  // merged.
  readonly #keys: SortKey[] = [];
  #stream: Stream | null = null;
  // How matching types are told: one in SQL, several in SQL, or here.
  #typeFilter: "one" | "sql" | "here" | "none" = "none";
  // Statements of a scan, by shape (position or not, end or not).
  readonly #sql = new Map<string, [string, string]>();
  // The matching type's id, or the matching types' ids as JSON, when
  // filtered in SQL.
  #typeIds: number | string | null = null;
  #caughtUp: number;
  #empty = false;
  // The partition read: its index and the condition its entries meet;
  // null when no partition serves the query.
  readonly #scan: PartitionScan | null;
  // Whether it is read through runs (runs_t): the events' columns are
  // then named with their table's alias, `e.`.
  readonly #byRuns: boolean;
  readonly #e: "" | "e.";

  constructor(q: EventQueries, params: QueryTimeseriesParams, limit: number) {
    super(q, limit);
    this.#params = params;
    this.#bySource = params.orderBy === "sourceTimestamp";
    this.#key = this.#bySource ? "source_t" : "t";
    this.#ascending = params.order === "ascending";
    this.#caughtUp = this.snapshot;
    this.#scan = q.partitions.route(params);
    this.#byRuns = this.#scan?.index === RUNS_T_INDEX;
    const e = this.#e = this.#byRuns ? "e." : "";
    const bound = (column: string, op: string, t?: Timestamp | null) => {
      if (t == null) return;
      const name = `${column}${op === ">=" ? "From" : "To"}`;
      this.#where.push(`${e}${column} ${op} :${name}`);
      this.#args[name] = timestampToBytes(t);
    };
    if (this.#bySource) this.#where.push("source_t IS NOT NULL");
    bound("t", ">=", params.tFrom);
    bound("t", "<=", params.tTo);
    bound("source_t", ">=", params.sourceTFrom);
    bound("source_t", "<=", params.sourceTTo);
    this.#match = q.types.match(params.eventTypes);
    if (this.#scan !== null && this.#scan.condition !== "") {
      this.#where.push(this.#scan.condition);
    }
  }

  protected override prepare(): boolean {
    if (this.#stream !== null) return true;
    if (!this.#match.done) {
      this.#match.step();
      return false;
    }
    const params = this.#params;
    if (this.#scan === null) {
      this.#empty = this.exhausted = true;
      this.#stream = { position: null, exhausted: true };
      return true;
    }
    let position: SortKey | null = null;
    if (params.lastEventId != null) {
      // In the step that answers when there is no such event.
      const from = this.#bySource ? params.sourceTFrom : params.tFrom;
      const to = this.#bySource ? params.sourceTTo : params.tTo;
      position = this.#position(params.lastEventId, from, to) ?? null;
      if (position === null) {
        this.#empty = this.exhausted = true;
        this.#stream = { position: null, exhausted: true };
        return true;
      }
      this.#where.push(this.#after("last"));
      // (Its sequence number is the scan's, which starts there.)
      Object.assign(
        this.#args,
        prefixKeys("last", { ...position, seq: undefined }),
      );
    }
    // One scan of the time index, filtering its entries by type (the
    // index has it). The index is forced: left alone, SQLite would
    // rather read every event of the types and sort them, which is
    // unbounded.
    const ids = this.#match.ids;
    this.#stream = { position, exhausted: false };
    if (ids !== null) {
      if (ids.length === 0) {
        this.exhausted = true;
        this.#stream.exhausted = true;
      } else if (ids.length === 1) {
        this.#typeFilter = "one";
        this.#typeIds = ids[0];
      } else if (ids.length <= SQL_LIST_MAX_TYPES) {
        this.#typeFilter = "sql";
        this.#typeIds = JSON.stringify(ids);
      } else {
        this.#typeFilter = "here";
      }
    }
    return true;
  }

  // `(key, id)` beyond the position `<prefix>*` in the query's order.
  #after(prefix: string): string {
    const e = this.#e;
    return `(${e}${this.#key}, ${e}server, ${e}session, ${e}instance) ${
      this.#ascending ? ">" : "<"
    } (:${prefix}Key, :${prefix}Server, :${prefix}Session, :${prefix}Instance)`;
  }

  // Up to and including the position `<prefix>*`.
  #upTo(prefix: string): string {
    const e = this.#e;
    return `(${e}${this.#key}, ${e}server, ${e}session, ${e}instance) ${
      this.#ascending ? "<=" : ">="
    } (:${prefix}Key, :${prefix}Server, :${prefix}Session, :${prefix}Instance)`;
  }

  // The statements of #scanSql reading runs_t: the runs in order, each
  // run's events in sequence order (the events are read by sequence
  // number, their type filtered after: left alone, SQLite would rather
  // build an index of the types).
  #runsScanSql(from: boolean, to: boolean, rows: number): [string, string] {
    const asc = this.#ascending;
    const dir = asc ? "ASC" : "DESC";
    const order = `ORDER BY r.t ${dir}, r.server ${dir}, r.session ${dir},
      r.first_seq ${dir}, e.seq ${dir}`;
    // The run of the position `<prefix>*` (its sequence number too).
    const runOf = (p: string) =>
      `(r.t, r.server, r.session) = (:${p}Key, :${p}Server, :${p}Session)`;
    // Each run's events; in the run of the position, those after it, and
    // in the run of the end, those up to it: the scan seeks the event,
    // not only its run (a run may hold a whole request).
    const join = (pos: boolean, end: boolean) => {
      let lo = "r.first_seq";
      let hi = "r.last_seq";
      const last = (p: string, bound: string) =>
        `CASE WHEN ${
          runOf(p)
        } THEN min(r.last_seq, ${bound}) ELSE r.last_seq END`;
      const first = (p: string, bound: string) =>
        `CASE WHEN ${
          runOf(p)
        } THEN max(r.first_seq, ${bound}) ELSE r.first_seq END`;
      if (pos && asc) lo = first("pos", ":posSeq + 1");
      if (pos && !asc) hi = last("pos", ":posSeq - 1");
      if (end && asc) hi = last("end", ":endSeq");
      if (end && !asc) lo = first("end", ":endSeq");
      return `runs AS r INDEXED BY ${RUNS_T_INDEX}
        CROSS JOIN events AS e NOT INDEXED ON e.seq BETWEEN ${lo} AND ${hi}`;
    };
    const [after, upTo] = asc ? [">=", "<="] : ["<=", ">="];
    const range: string[] = [];
    for (const [op, name] of [[">=", "From"], ["<=", "To"]]) {
      if (`t${name}` in this.#args) range.push(`r.t ${op} :t${name}`);
    }
    if (from) {
      range.push(
        `(r.t, r.server, r.session) ${after} (:posKey, :posServer, :posSession)`,
        this.#after("pos"),
      );
    }
    const where = [...this.#where, ...range];
    if (to) {
      where.push(
        `(r.t, r.server, r.session) ${upTo} (:endKey, :endServer, :endSession)`,
        this.#upTo("end"),
      );
    }
    if (this.#typeFilter === "one") where.push("+e.type_id = :typeIds");
    if (this.#typeFilter === "sql") {
      where.push("+e.type_id IN (SELECT value FROM json_each(:typeIds))");
    }
    where.push("e.seq <= :snapshot");
    return [
      `SELECT r.t, r.server, r.session, e.instance, e.seq
       FROM ${join(from, false)}
       ${range.length ? "WHERE " + range.join(" AND ") : ""}
       ${order} LIMIT 1 OFFSET ${rows - 1}`,
      `SELECT e.seq, e.type_id, ${PAYLOAD_SIZE} FROM ${join(from, to)}
       WHERE ${where.join(" AND ")} ${order}`,
    ];
  }

  // The statements scanning the index: the entry `rows` on from the
  // position (if any), and the candidates up to it.
  #scanSql(from: boolean, to: boolean, rows: number): [string, string] {
    const shape = `${from} ${to}`;
    let sql = this.#sql.get(shape);
    if (sql !== undefined) return sql;
    if (this.#byRuns) {
      sql = this.#runsScanSql(from, to, rows);
      this.#sql.set(shape, sql);
      return sql;
    }
    const key = this.#key;
    const dir = this.#ascending ? "ASC" : "DESC";
    const order =
      `ORDER BY ${key} ${dir}, server ${dir}, session ${dir}, instance ${dir}`;
    const index = `INDEXED BY ${this.#scan!.index}`;
    // The range of the ordering key holds the candidates; other
    // conditions filter them.
    const range: string[] = this.#bySource ? ["source_t IS NOT NULL"] : [];
    for (const [op, name] of [[">=", "From"], ["<=", "To"]]) {
      if (`${key}${name}` in this.#args) {
        range.push(`${key} ${op} :${key}${name}`);
      }
    }
    if (this.#scan!.condition !== "") range.push(this.#scan!.condition);
    if (from) range.push(this.#after("pos"));
    const where = [...this.#where, ...range.slice(this.#bySource ? 1 : 0)];
    if (to) where.push(this.#upTo("end"));
    if (this.#typeFilter === "one") where.push("type_id = :typeIds");
    if (this.#typeFilter === "sql") {
      where.push("type_id IN (SELECT value FROM json_each(:typeIds))");
    }
    where.push("seq <= :snapshot");
    sql = [
      `SELECT ${key}, server, session, instance FROM events ${index}
       ${range.length ? "WHERE " + range.join(" AND ") : ""}
       ${order} LIMIT 1 OFFSET ${rows - 1}`,
      `SELECT seq, type_id, ${PAYLOAD_SIZE} FROM events AS e ${index}
       WHERE ${where.join(" AND ")} ${order}`,
    ];
    this.#sql.set(shape, sql);
    return sql;
  }

  // A bounded part of the scan: the next entries of the index, those that
  // match as candidates.
  protected scan(): void {
    const stream = this.#stream!;
    const from = stream.position;
    const filtered = this.#typeFilter === "one" ||
      this.#typeFilter === "sql";
    const [endSql] = this.#scanSql(
      from !== null,
      false,
      filtered ? FILTERED_SCAN_ROWS : SCAN_ROWS,
    );
    const args: Record<string, Param> = {};
    for (const name of [`${this.#key}From`, `${this.#key}To`]) {
      if (name in this.#args) args[name] = this.#args[name];
    }
    if (from !== null) Object.assign(args, prefixKeys("pos", from));
    const row = this.q.all<[Uint8Array, number, number, number, number?]>(
      endSql,
      args,
    )[0];
    const end = row === undefined ? null : sortKey(row);
    if (end !== null && this.#byRuns) end.seq = row![4];
    const sql = this.#scanSql(
      from !== null,
      end !== null,
      filtered ? FILTERED_SCAN_ROWS : SCAN_ROWS,
    )[1];
    const rows = this.q.all<TimeseriesRow>(sql, {
      ...this.#args,
      ...args,
      ...(end === null ? {} : prefixKeys("end", end)),
      ...(this.#typeIds === null ? {} : { typeIds: this.#typeIds }),
      snapshot: this.snapshot,
    });
    this.#sized(rows);
    stream.position = end;
    stream.exhausted = end === null;
    const filter = this.#typeFilter === "here" ? this.#match : null;
    for (const row of rows) {
      if (filter === null || filter.has(row[1])) {
        this.add(row[0], row[2]);
      }
    }
    this.exhausted = stream.exhausted;
  }

  // Each row's payload size made its size in a result.
  #sized(rows: TimeseriesRow[]): void {
    const types = this.q.types;
    types.load(rows.map((row) => row[1]));
    for (const row of rows) {
      row[2] = EVENT_OVERHEAD + row[2] + types.bytesOf(row[1]);
    }
  }

  protected refresh(): boolean {
    if (this.#empty) return true;
    const last = this.q.lastSeq();
    if (this.#caughtUp >= last) return true;
    const to = Math.min(last, this.#caughtUp + CATCH_UP_ROWS);
    const rows = this.q.all<Required<TimeseriesRow>>(
      `SELECT seq, type_id, ${PAYLOAD_SIZE}, ${this.#key}, server, session,
         instance FROM events AS e NOT INDEXED
       WHERE seq > :from AND seq <= :to
       ${this.#where.map((w) => `AND ${w}`).join(" ")}`,
      { ...this.#args, from: this.#caughtUp, to },
    );
    this.#sized(rows);
    for (const row of rows) {
      if (!this.#match.has(row[1])) continue;
      this.addFresh({
        seq: row[0],
        size: row[2],
        typeId: row[1],
        key: sortKey(row, 3),
      });
    }
    this.#caughtUp = to;
    return to >= last;
  }

  // The main candidates' sort keys, read SCAN_ROWS at a time.
  protected override readyToMerge(): boolean {
    const from = this.#keys.length;
    if (from === this.seqs.length) return true;
    const seqs = this.seqs.slice(from, from + SCAN_ROWS);
    const rows = this.q.all<[Uint8Array, number, number, number]>(
      `SELECT e.${this.#key}, e.server, e.session, e.instance
       FROM json_each(:seqs) AS j CROSS JOIN events AS e ON e.seq = j.value
       ORDER BY j.key`,
      { seqs: JSON.stringify(seqs) },
    );
    if (rows.length !== seqs.length) {
      throw new Error("events of a running query are gone");
    }
    for (const row of rows) this.#keys.push(sortKey(row));
    return this.#keys.length === this.seqs.length;
  }

  protected compareMain(f: Fresh, i: number): number {
    return (this.#ascending ? 1 : -1) * compareKeys(f.key!, this.#keys[i]) ||
      1;
  }

  protected compareFresh(a: Fresh, b: Fresh): number {
    return (this.#ascending ? 1 : -1) * compareKeys(a.key!, b.key!);
  }

  /** Ordering key and id of the `lastEventId` event, if within [from, to]. */
  #position(
    id: EventId,
    from?: Timestamp | null,
    to?: Timestamp | null,
  ): SortKey | undefined {
    const key = this.#key;
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
    const row = this.q.all<[Uint8Array, number]>(
      `SELECT e.${key}, e.seq FROM runs AS r INDEXED BY runs_id
       CROSS JOIN events AS e ON e.seq BETWEEN r.first_seq AND r.last_seq
       WHERE r.server = :server AND r.session = :session
       AND e.server = :server AND e.session = :session
       AND e.instance = :instance AND e.${key} IS NOT NULL${
        range.replaceAll(` ${key} `, ` e.${key} `)
      }`,
      args,
    )[0];
    if (row === undefined) return undefined;
    return this.#byRuns
      ? { key: row[0], ...id, seq: row[1] }
      : { key: row[0], ...id };
  }
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

function sortKey(
  row: readonly unknown[],
  from = 0,
): SortKey {
  return {
    key: row[from] as Uint8Array,
    server: row[from + 1] as number,
    session: row[from + 2] as number,
    instance: row[from + 3] as number,
  };
}

function prefixKeys(prefix: string, k: SortKey): Record<string, Param> {
  const keys: Record<string, Param> = {
    [`${prefix}Key`]: k.key,
    [`${prefix}Server`]: k.server,
    [`${prefix}Session`]: k.session,
    [`${prefix}Instance`]: k.instance,
  };
  if (k.seq !== undefined) keys[`${prefix}Seq`] = k.seq;
  return keys;
}
