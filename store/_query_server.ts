/**
 * The server query: one server's events in id order.
 *
 * @module
 */

import type { QueryServerParams } from "../common/event/mod.ts";
import type { EventQueries } from "./_query.ts";
import { EVENT_OVERHEAD, PAYLOAD_SIZE, Run, SCAN_ROWS } from "./_query_run.ts";

/** A server query: candidates in id order, new ones only at the end. */
export class ServerRun extends Run {
  readonly #params: QueryServerParams;
  readonly #lastCommittedSession: () => number;
  readonly #sql: string;
  #session: number;
  #instance: number;
  // Sequence number of the last event read.
  #seq = 0;

  constructor(
    q: EventQueries,
    params: QueryServerParams,
    limit: number,
    lastCommittedSession: () => number,
  ) {
    super(q, limit);
    this.#params = params;
    this.#lastCommittedSession = lastCommittedSession;
    this.#session = params.lastEventId?.session ?? 0;
    this.#instance = params.lastEventId?.instance ?? 0;
    // The server's runs in (session, first_seq) order, each in sequence
    // order: its events in id order (see _schema.ts), which is also
    // their sequence order: a step goes on after the last one read.
    this.#sql = `SELECT e.seq, e.type_id, ${PAYLOAD_SIZE}, e.session, e.instance
      FROM runs AS r INDEXED BY runs_id
      CROSS JOIN events AS e ON e.seq BETWEEN r.first_seq AND r.last_seq
      WHERE r.server = :server AND r.session >= :session
      AND e.server = :server AND e.session = r.session
      AND (e.session, e.instance) > (:session, :instance) AND e.seq > :seq
      ${params.persisted ? "AND r.session <= :lastCommittedSession" : ""}
      ORDER BY r.session, r.first_seq, e.seq LIMIT ${SCAN_ROWS}`;
  }

  protected scan(): void {
    const persisted = this.#params.persisted;
    const rows = this.q.all<[number, number, number, number, number]>(
      this.#sql,
      {
        server: this.#params.serverId,
        session: this.#session,
        instance: this.#instance,
        seq: this.#seq,
        ...(persisted
          ? { lastCommittedSession: this.#lastCommittedSession() }
          : {}),
      },
    );
    const types = this.q.types;
    types.load(rows.map((row) => row[1]));
    for (const [seq, typeId, size, session, instance] of rows) {
      this.add(seq, EVENT_OVERHEAD + size + types.bytesOf(typeId));
      this.#session = session;
      this.#instance = instance;
      this.#seq = seq;
    }
    this.exhausted = rows.length < SCAN_ROWS;
  }

  // Registered or committed since: after every candidate, read by the
  // scan going on.
  protected refresh(): boolean {
    if (this.cut) return true;
    const read = this.seqs.length;
    this.scan();
    return this.seqs.length === read;
  }

  protected compareMain(): number {
    return 1;
  }

  protected compareFresh(): number {
    return 1;
  }
}
