/**
 * Retention of timeseries partitions (`TimeseriesPartition.limit`), by
 * the reference's (LMDB backend) rules, a bounded step at a time.
 *
 * A step takes the oldest entries of each limited partition, in the
 * partition's order, as long as more than `minEntries` remain and either
 * more than `maxEntries` (or than `size` bytes' worth, by the database's
 * average bytes per event) remain or the entry is older than `duration`
 * before now; it clears their bits in the events' `partitions` masks,
 * which takes them out of the partition's index. Then it deletes events
 * no partition keeps that are no type's latest event, as the reference
 * drops an event once nothing refers to it. SQLite reuses the freed
 * pages, so a database under retention stops growing.
 *
 * Before anything else, events stored before the configuration of today
 * get their masks (see _partitions.ts), a step of at most as many events
 * as a step takes out, so that counts are of the masks of today. With
 * partitions configured there is retention even when none has a limit:
 * events no partition keeps are still deleted.
 *
 * Entry counts are kept in memory: counted once by sequence ranges (a
 * bounded number of events a step) and kept up as events come and go.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { Timestamp } from "../common/event/mod.ts";
import { addSeconds, timestampToBytes } from "../common/event/mod.ts";
import type { RetentionLimit } from "./storage_rules.ts";
import type { PartitionScan } from "./_partitions.ts";

/** Events whose counts a step catches up with, at most. */
const COUNT_ROWS = 16_384;

/** A partition under retention. */
export interface LimitedPartition {
  /** Its bit in the events' `partitions` masks. */
  readonly bit: number;
  /** Its index. */
  readonly index: string;
  /** The condition of its index. */
  readonly condition: string;
  /** Its ordering column. */
  readonly key: "t" | "source_t";
  /** Its limit. */
  readonly limit: RetentionLimit;
}

/**
 * Events stored without configured partitions (no mask): their index, and
 * the mask each gets (`Partitions.remask`).
 */
export interface StaleMasks extends PartitionScan {
  /**
   * The mask of an event of type `typeId`.
   *
   * @param typeId Its type's id.
   * @param hasSourceTimestamp Whether it has a source timestamp.
   */
  remask(typeId: number, hasSourceTimestamp: boolean): number;
}

interface State {
  readonly partition: LimitedPartition;
  // Entries of events with seq up to `countedTo`.
  count: number;
}

/** Retention of the limited partitions of one database. */
export class Retention {
  readonly #db: DatabaseSync;
  readonly #states: State[];
  readonly #statements = new Map<string, StatementSync>();
  // Events counted: those with seq up to it.
  #countedTo = 0;
  #events = 0;
  // Where the search for events no partition keeps goes on.
  #unkeptAfter = 0;
  readonly #stale: StaleMasks | null;
  // No stale masks left (as of the last commit).
  #masksSet = false;

  /**
   * @param db Database with the store schema.
   * @param partitions The partitions that have a limit.
   * @param stale The events whose masks are to set again; null: no
   *   configured partitions (nothing to do).
   */
  constructor(
    db: DatabaseSync,
    partitions: readonly LimitedPartition[],
    stale: StaleMasks | null,
  ) {
    this.#db = db;
    this.#states = partitions.map((partition) => ({ partition, count: 0 }));
    this.#stale = stale;
  }

  /**
   * Whether there is anything to do: partitions are configured (events
   * no partition keeps are deleted, limits enforced).
   */
  get active(): boolean {
    return this.#stale !== null;
  }

  /** Start counting again (events may have been rolled back). */
  reset(): void {
    this.#masksSet = false;
    this.#countedTo = 0;
    this.#events = 0;
    for (const state of this.#states) state.count = 0;
  }

  /**
   * One step, inside the caller's transaction: the masks of at most
   * `maxEntries` events set, or at most `maxEntries` entries taken out of
   * partitions, or some counting.
   *
   * @param now The time `duration` counts back from.
   * @param lastSeq The last event's sequence number.
   * @param maxEntries Entries a step takes out at most.
   * @returns Events whose masks were set, entries taken out and events
   *   deleted, and whether more is to do (a step should follow soon).
   */
  step(
    now: Timestamp,
    lastSeq: number,
    maxEntries: number,
  ): { remasked: number; removed: number; deleted: number; more: boolean } {
    // Masks first, so that counts are of the masks of today.
    if (!this.#masksSet && this.#stale !== null) {
      const remasked = this.#remask(this.#stale, maxEntries);
      if (remasked < maxEntries) this.#masksSet = true;
      return { remasked, removed: 0, deleted: 0, more: true };
    }
    if (this.#countedTo < lastSeq) {
      this.#count(Math.min(lastSeq, this.#countedTo + COUNT_ROWS));
      return { remasked: 0, removed: 0, deleted: 0, more: true };
    }
    let budget = maxEntries;
    let removed = 0;
    const events = this.#events;
    for (const state of this.#states) {
      if (budget <= 0) break;
      const n = this.#trim(state, now, budget);
      removed += n;
      budget -= n;
    }
    const unkept = this.#deleteUnkept(maxEntries);
    return {
      remasked: 0,
      removed,
      deleted: events - this.#events,
      more: budget <= 0 || unkept >= maxEntries,
    };
  }

  // Set the masks of some events stored before this configuration:
  // their index shrinks a step at a time, each step committed, so that a
  // restart goes on where it stopped.
  #remask(stale: StaleMasks, maxEntries: number): number {
    const rows = this.#all<[number, number, number | null, number]>(
      `SELECT seq, type_id, partitions, source_t IS NOT NULL
       FROM events INDEXED BY ${stale.index}
       WHERE ${stale.condition} ORDER BY seq LIMIT ?`,
      maxEntries,
    );
    if (rows.length === 0) return 0;
    const masks = rows.map(([seq, typeId, , hasSource]) => [
      seq,
      stale.remask(typeId, hasSource === 1),
    ]);
    this.#run(
      `UPDATE events SET partitions = j.value ->> 1
       FROM json_each(?) AS j WHERE events.seq = j.value ->> 0`,
      JSON.stringify(masks),
    );
    return rows.length;
  }

  // Count the events with seq in (countedTo, to].
  #count(to: number): void {
    const from = this.#countedTo;
    this.#events += this.#get<[number]>(
      "SELECT count(*) FROM events WHERE seq > ? AND seq <= ?",
      from,
      to,
    )[0];
    for (const state of this.#states) {
      state.count += this.#get<[number]>(
        `SELECT count(*) FROM events WHERE seq > ? AND seq <= ?
         AND ${state.partition.condition}`,
        from,
        to,
      )[0];
    }
    this.#countedTo = to;
  }

  // Take the oldest entries of a partition past its limit out of it.
  #trim(state: State, now: Timestamp, budget: number): number {
    const { partition } = state;
    const limit = partition.limit;
    const min = limit.minEntries ?? 0;
    let max = limit.maxEntries ?? null;
    if (limit.size !== undefined && this.#events > 0) {
      const [pages, free, pageSize] = this.#get<[number, number, number]>(
        `SELECT (SELECT page_count FROM pragma_page_count()),
           (SELECT freelist_count FROM pragma_freelist_count()),
           (SELECT page_size FROM pragma_page_size())`,
      );
      const perEvent = (pages - free) * pageSize / this.#events;
      const bySize = Math.floor(limit.size / perEvent);
      max = max === null ? bySize : Math.min(max, bySize);
    }
    const cut = limit.duration === undefined
      ? null
      : timestampToBytes(addSeconds(now, -limit.duration / 1000));
    const n = Math.min(budget, state.count - min);
    if (n <= 0 || (max === null && cut === null)) return 0;
    const key = partition.key;
    const rows = this.#all<[number, Uint8Array]>(
      `SELECT seq, ${key} FROM events INDEXED BY ${partition.index}
       WHERE ${partition.condition}
       ORDER BY ${key}, server, session, instance LIMIT ?`,
      n,
    );
    const seqs: number[] = [];
    for (const [seq, t] of rows) {
      const left = state.count - seqs.length;
      const overMax = max !== null && left > max;
      if (!overMax && !(cut !== null && before(t, cut))) break;
      seqs.push(seq);
    }
    if (seqs.length === 0) return 0;
    // Those only this partition keeps, and no type has as its latest, are
    // deleted at once; the others lose the partition's bit.
    const json = JSON.stringify(seqs);
    this.#events -= this.#run(
      `DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))
       AND partitions = ${partition.bit} AND seq != coalesce(
         (SELECT latest FROM event_types WHERE id = events.type_id), 0)`,
      json,
    );
    this.#run(
      `UPDATE events SET partitions = partitions - ${partition.bit}
       WHERE seq IN (SELECT value FROM json_each(?))`,
      json,
    );
    state.count -= seqs.length;
    return seqs.length;
  }

  // Delete some events no partition keeps and no type has as its latest.
  #deleteUnkept(maxEntries: number): number {
    const rows = this.#all<[number, number]>(
      `SELECT e.seq, e.seq = coalesce(et.latest, 0)
       FROM events AS e INDEXED BY events_unkept
       JOIN event_types AS et ON et.id = e.type_id
       WHERE e.partitions = 0 AND e.seq > ? ORDER BY e.seq LIMIT ?`,
      this.#unkeptAfter,
      maxEntries,
    );
    this.#unkeptAfter = rows.length < maxEntries ? 0 : rows.at(-1)![0];
    const seqs = rows.filter(([, latest]) => !latest).map(([seq]) => seq);
    if (seqs.length === 0) return 0;
    const deleted = this.#run(
      "DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))",
      JSON.stringify(seqs),
    );
    this.#events -= deleted;
    return deleted;
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql) as StatementSync & {
        setReturnArrays(enabled: boolean): void;
      };
      (statement as unknown as { setReturnArrays(e: boolean): void })
        .setReturnArrays(true);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #all<T>(sql: string, ...args: (number | string)[]): T[] {
    return this.#statement(sql).all(...args) as unknown as T[];
  }

  #get<T>(sql: string, ...args: (number | string)[]): T {
    return this.#all<T>(sql, ...args)[0];
  }

  // Rows changed.
  #run(sql: string, ...args: (number | string)[]): number {
    return Number(this.#statement(sql).run(...args).changes);
  }
}

// Whether the timestamp bytes `a` come before `b`.
function before(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 12; i++) {
    if (a[i] !== b[i]) return a[i] < b[i];
  }
  return false;
}
