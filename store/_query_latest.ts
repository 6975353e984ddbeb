/**
 * The latest query: the latest event of each matching type, in type id
 * order.
 *
 * @module
 */

import type { QueryLatestParams } from "../common/event/mod.ts";
import type { TypeMatch } from "./_event_types.ts";
import type { EventQueries } from "./_query.ts";
import {
  CATCH_UP_ROWS,
  EVENT_OVERHEAD,
  type Fresh,
  PAYLOAD_SIZE,
  Run,
  SCAN_ROWS,
} from "./_query_run.ts";

// An event's size in a result, with its type `et` (read anyway).
const SIZE = `${PAYLOAD_SIZE} + octet_length(et.type) + ${EVENT_OVERHEAD}`;
// A latest candidate: type id, seq and size of the type's latest event.
const LATEST_CANDIDATE = `et.id, e.seq, ${SIZE}`;
// Of the types with ids in (from, to], as of the snapshot.
const LATEST_OF_ALL = `SELECT ${LATEST_CANDIDATE}
  FROM event_types AS et JOIN events AS e ON e.seq = et.latest
  WHERE et.id > :from AND et.id <= :to AND e.seq <= :snapshot
  ORDER BY et.id`;
// Of the types of a JSON array of ids, in that order.
const LATEST_OF_LISTED = `SELECT ${LATEST_CANDIDATE}
  FROM json_each(:ids) AS j CROSS JOIN event_types AS et ON et.id = j.value
  JOIN events AS e ON e.seq = et.latest
  WHERE e.seq <= :snapshot ORDER BY j.key`;
// Seq, type id and size of the events with seq in (from, to] of types
// with a latest entry (those the latest rule keeps).
const LATEST_REGISTERED = `SELECT e.seq, e.type_id, ${SIZE}
  FROM events AS e NOT INDEXED
  CROSS JOIN event_types AS et ON et.id = e.type_id
  WHERE e.seq > :from AND e.seq <= :to AND et.latest IS NOT NULL
  ORDER BY e.seq`;

/** A latest query: candidates by type id. */
export class LatestRun extends Run {
  readonly #match: TypeMatch;
  // Type ids of the main candidates.
  readonly #typeIds: number[] = [];
  // Scan position: the last type id examined (every type), or the index
  // of the next id in the match's list.
  #position = 0;
  // Types added after the snapshot have only fresh events.
  readonly #lastTypeId: number;
  #caughtUp: number;

  constructor(q: EventQueries, params: QueryLatestParams) {
    // Every event of another type: read the types with them.
    super(q, Infinity, true);
    this.#match = q.types.match(params.eventTypes);
    this.#lastTypeId = q.types.lastId;
    this.#caughtUp = this.snapshot;
  }

  protected override prepare(): boolean {
    if (this.#match.done) return true;
    this.#match.step();
    return false;
  }

  protected scan(): void {
    const ids = this.#match.ids;
    const from = this.#position;
    let rows: [number, number, number][];
    if (ids === null) {
      const to = Math.min(from + SCAN_ROWS, this.#lastTypeId);
      rows = this.q.all(LATEST_OF_ALL, { from, to, snapshot: this.snapshot });
      this.#position = to;
      this.exhausted = to >= this.#lastTypeId;
    } else {
      const to = Math.min(from + SCAN_ROWS, ids.length);
      rows = this.q.all(LATEST_OF_LISTED, {
        ids: JSON.stringify(ids.slice(from, to)),
        snapshot: this.snapshot,
      });
      this.#position = to;
      this.exhausted = to >= ids.length;
    }
    for (const [typeId, seq, size] of rows) {
      this.#typeIds.push(typeId);
      this.add(seq, size);
    }
  }

  protected refresh(): boolean {
    const last = this.q.lastSeq();
    if (this.#caughtUp >= last) return true;
    const to = Math.min(last, this.#caughtUp + CATCH_UP_ROWS);
    const rows = this.q.all<[number, number, number]>(LATEST_REGISTERED, {
      from: this.#caughtUp,
      to,
    });
    for (const [seq, typeId, size] of rows) {
      // In registration order: a later event of a type replaces it.
      if (this.#match.has(typeId)) this.addFresh({ seq, size, typeId });
    }
    this.#caughtUp = to;
    return to >= last;
  }

  protected compareMain(f: Fresh, i: number): number {
    return f.typeId - this.#typeIds[i];
  }

  protected compareFresh(a: Fresh, b: Fresh): number {
    return a.typeId - b.typeId;
  }
}
