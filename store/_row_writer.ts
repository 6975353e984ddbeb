/**
 * The statements writing a registration: its events' rows, their runs
 * (see _schema.ts), the latest event of their types and the server's last
 * id. Shared by the store's
 * own connection and its writer thread (_writer_thread.ts), so both write
 * exactly the same rows.
 *
 * @module
 */

import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { INSERT_RUN, UPSERT_SERVER } from "./_schema.ts";

/**
 * Columns of one event's row, in the order {@linkcode RowWriter.insert}
 * takes them: seq, server, session, instance, type_id, t, source_t,
 * payload_kind, payload_type, payload_data, partitions.
 */
export const ROW_COLUMNS = 11;

/**
 * Values of a run: first and last sequence number, server, session,
 * timestamp.
 */
export const RUN_COLUMNS = 5;

/** Rows one statement inserts at most (a statement costs more to run than a row to write). */
export const ROWS_PER_STATEMENT = 64;

// Rows inserted by one statement, largest first.
const INSERT_ROWS = [ROWS_PER_STATEMENT, 16, 4, 1];

function insertEventsSql(rows: number): string {
  return `INSERT INTO events (seq, server, session, instance, type_id, t,
      source_t, payload_kind, payload_type, payload_data, partitions)
    VALUES ${Array(rows).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`;
}

/** The prepared statements of a registration on one connection. */
export class RowWriter {
  #insert: StatementSync[];
  #insertRun: StatementSync;
  #updateLatest: StatementSync;
  #upsertServer: StatementSync;

  /** @param db The connection written to (in the caller's transaction). */
  constructor(db: DatabaseSync) {
    this.#insert = INSERT_ROWS.map((n) => db.prepare(insertEventsSql(n)));
    this.#insertRun = db.prepare(INSERT_RUN);
    this.#updateLatest = db.prepare(
      `UPDATE event_types SET latest = j.value ->> 1
       FROM json_each(?) AS j WHERE event_types.id = j.value ->> 0`,
    );
    this.#upsertServer = db.prepare(UPSERT_SERVER);
  }

  /**
   * Insert the rows of `values` ({@linkcode ROW_COLUMNS} values a row),
   * as few statements as the sizes allow.
   */
  insert(values: readonly SQLInputValue[]): void {
    for (let i = 0, k = 0; i < values.length; k++) {
      const n = INSERT_ROWS[k] * ROW_COLUMNS;
      for (; values.length - i >= n; i += n) {
        this.#insert[k].run(...values.slice(i, i + n));
      }
    }
  }

  /**
   * Insert runs: `RUN_COLUMNS` values each (first and last sequence
   * number, server, session, timestamp).
   */
  runs(values: readonly SQLInputValue[]): void {
    for (let i = 0; i < values.length; i += RUN_COLUMNS) {
      this.#insertRun.run(
        values[i],
        values[i + 1],
        values[i + 2],
        values[i + 3],
        values[i + 4],
      );
    }
  }

  /**
   * Point types at their latest events.
   *
   * @param latest JSON text of `[typeId, seq]` pairs.
   */
  latest(latest: string): void {
    this.#updateLatest.run(latest);
  }

  /** Record a server's last event id and timestamp. */
  server(server: number, session: number, instance: number, t: Uint8Array) {
    this.#upsertServer.run(server, session, instance, t);
  }
}
