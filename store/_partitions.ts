/**
 * Timeseries partitions of a store (`StorageRules.timeseries`): which
 * partitions keep an event, the index of each, and the partition a
 * timeseries query reads, by the reference's (LMDB backend) rules.
 *
 * Without configured partitions the store keeps every event in two
 * implicit ones, every type by timestamp (`runs_t`: the runs of events
 * sharing a timestamp, see _schema.ts) and every type with a source
 * timestamp by source timestamp (`events_source_t`), and a query reads
 * the one of its `orderBy`.
 *
 * With partitions, each has an id for good (the `partitions` table, by
 * `orderBy` and subscriptions, as the reference keeps them) and an index
 * `events_p<id>` of the shape of `events_source_t`, partial over the events whose
 * `partitions` mask has the partition's bit: appended to as the events
 * come, whatever the spread of types. An event's mask is set when it is
 * registered (an event registered before a partition existed is not in
 * it, as in the reference). The implicit indexes go: a query reads the
 * first configured partition of its `orderBy` that shares a type with its
 * query types (all of them when it has none), and answers nothing when
 * there is no such partition.
 *
 * When partitions are configured on a store that ran without, the events
 * stored before (no mask) get their masks from retention, a bounded step
 * at a time (`events_stale_<bits>` indexes those left, so a restart goes
 * on where it stopped): each joins every partition configured now that
 * matches it, as if configured from the start (the implicit partitions
 * are this store's default, not a configuration the reference could have
 * had), and one left in no partition is deleted once it is no type's
 * latest, as one registered in none. A partition no longer configured
 * keeps its entries, as the reference's: out of every timeseries query's
 * reach (its index is dropped), answered by server queries, and shown
 * again should the partition come back (the open that drops it logs a
 * warning saying so).
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { EventType, QueryTimeseriesParams } from "../common/event/mod.ts";
import { Subscription } from "../common/event/mod.ts";
import type { RetentionLimit, TimeseriesPartition } from "./storage_rules.ts";
import type { LimitedPartition } from "./_retention.ts";
import { log } from "../common/log.ts";
import { StoreError } from "./errors.ts";
import { TIME_INDEXES } from "./_schema.ts";

/**
 * Most partition ids a database gives over its life (a partition's bit
 * must stay an exact JavaScript number).
 */
export const MAX_PARTITION_IDS = 52;

/** What a timeseries query scans. */
export interface PartitionScan {
  /** Index to scan, forced with `INDEXED BY`. */
  readonly index: string;
  /**
   * Condition every entry of the index meets (SQLite uses a partial
   * index only for a query that states it); "" for a full index.
   */
  readonly condition: string;
}

interface Partition extends PartitionScan {
  readonly bit: number;
  readonly bySource: boolean;
  readonly subscription: Subscription;
  readonly limit?: RetentionLimit;
}

/**
 * The index of the implicit partition by timestamp: of runs, not events
 * (a timeseries query joins each run's events, see _query_timeseries.ts).
 */
export const RUNS_T_INDEX = "runs_t";

const IMPLICIT: Record<"t" | "source_t", PartitionScan> = {
  t: { index: RUNS_T_INDEX, condition: "" },
  source_t: { index: "events_source_t", condition: "" },
};

/** The partitions of an open store. */
export class Partitions {
  // Configured, in configuration order; null: the implicit two.
  readonly #list: readonly Partition[] | null;
  // Mask of the partitions whose subscriptions match a type, by type id.
  readonly #masks = new Map<number, number>();
  readonly #maxMasks: number;

  readonly #stale: PartitionScan | null;

  private constructor(
    list: Partition[] | null,
    maxMasks: number,
    stale: PartitionScan | null = null,
  ) {
    this.#list = list;
    this.#maxMasks = Math.max(1, maxMasks);
    this.#stale = stale;
  }

  /**
   * Set the database up for `partitions` (inside the caller's
   * transaction): ids for new partitions, their indexes built, the
   * indexes of partitions no longer configured dropped.
   *
   * @param db Database with the store schema.
   * @param partitions Configured partitions; undefined: the implicit two.
   * @param maxMasks Types whose masks are kept in memory.
   * @throws {StoreError} When the database would need more than
   *   {@linkcode MAX_PARTITION_IDS} partition ids.
   */
  static open(
    db: DatabaseSync,
    partitions: readonly TimeseriesPartition[] | undefined,
    maxMasks: number,
  ): Partitions {
    const existing = db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'events\\_p%' ESCAPE '\\'",
    ).all().map((row) => row.name as string);
    const stale = db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'events\\_stale\\_%' ESCAPE '\\'",
    ).all().map((row) => row.name as string);
    if (partitions === undefined) {
      for (const name of [...existing, ...stale]) db.exec(`DROP INDEX ${name}`);
      db.exec("DROP INDEX IF EXISTS events_unkept");
      db.exec(
        TIME_INDEXES.replaceAll("CREATE INDEX", "CREATE INDEX IF NOT EXISTS"),
      );
      return new Partitions(null, maxMasks);
    }
    const select = db.prepare(
      "SELECT id FROM partitions WHERE order_by = ? AND subscriptions = ?",
    );
    const insert = db.prepare(
      "INSERT INTO partitions (order_by, subscriptions) VALUES (?, ?) RETURNING id",
    );
    const list: Partition[] = [];
    for (const p of partitions) {
      const subscription = new Subscription(p.subscriptions);
      const key = JSON.stringify(
        subscription.getQueryTypes().map((t) => JSON.stringify(t)).sort(),
      );
      let id = (select.get(p.orderBy, key) as { id: number } | undefined)?.id;
      if (id === undefined) {
        id = (insert.get(p.orderBy, key) as { id: number }).id;
      }
      if (id > MAX_PARTITION_IDS) {
        throw new StoreError(
          `the database has had more than ${MAX_PARTITION_IDS} timeseries partitions`,
        );
      }
      const bit = 2 ** (id - 1);
      const bySource = p.orderBy === "sourceTimestamp";
      const index = `events_p${id}`;
      const condition = `(partitions & ${bit}) != 0`;
      db.exec(
        `CREATE INDEX IF NOT EXISTS ${index} ON events (${
          bySource ? "source_t" : "t"
        }, server, session, instance, type_id) WHERE ${condition}`,
      );
      list.push({
        index,
        condition,
        bit,
        bySource,
        subscription,
        limit: p.limit,
      });
    }
    const kept = new Set(list.map((p) => p.index));
    const selectById = db.prepare(
      "SELECT order_by, subscriptions FROM partitions WHERE id = ?",
    );
    for (const name of existing) {
      if (kept.has(name)) continue;
      db.exec(`DROP INDEX ${name}`);
      const row = selectById.get(Number(name.slice("events_p".length))) as
        | { order_by: string; subscriptions: string }
        | undefined;
      const types = row === undefined ? "?" : JSON.stringify(
        (JSON.parse(row.subscriptions) as string[]).map((t) => JSON.parse(t)),
      );
      log.warn(
        `timeseries partition ${row?.order_by} ${types} is no longer configured: its events stay in the database, out of timeseries queries' reach, until it is configured again`,
      );
    }
    db.exec(
      "DROP INDEX IF EXISTS events_t; DROP INDEX IF EXISTS events_source_t",
    );
    // Events no partition keeps, for retention to delete once they are
    // no type's latest.
    db.exec(
      "CREATE INDEX IF NOT EXISTS events_unkept ON events (seq) WHERE partitions = 0",
    );
    // Events stored without configured partitions (no mask): built over
    // the whole table when the set of partitions changes; retention
    // empties it in steps. (Bits go up to 2 ** 51: sums, not JavaScript's
    // 32-bit `|`.)
    const all = [...new Set(list.map((p) => p.bit))].reduce((a, b) => a + b, 0);
    const staleIndex = `events_stale_${all}`;
    for (const name of stale) {
      if (name !== staleIndex) db.exec(`DROP INDEX ${name}`);
    }
    const staleCondition = "partitions IS NULL";
    db.exec(
      `CREATE INDEX IF NOT EXISTS ${staleIndex} ON events (seq) WHERE ${staleCondition}`,
    );
    return new Partitions(list, maxMasks, {
      index: staleIndex,
      condition: staleCondition,
    });
  }

  /**
   * The index of the events whose masks retention must set again (see
   * {@linkcode Partitions.remask}); null without configured partitions.
   */
  get stale(): PartitionScan | null {
    return this.#stale;
  }

  /**
   * The mask an event stored without configured partitions gets: the
   * partitions that would keep it now.
   *
   * @param typeId Its type's id.
   * @param type Its type.
   * @param hasSourceTimestamp Whether it has a source timestamp.
   */
  remask(
    typeId: number,
    type: () => EventType,
    hasSourceTimestamp: boolean,
  ): number {
    return this.mask(typeId, type(), hasSourceTimestamp) ?? 0;
  }

  /** True when partitions are configured (events get a mask). */
  get configured(): boolean {
    return this.#list !== null;
  }

  /**
   * The `partitions` mask of an event: the partitions that keep it (null
   * without configured partitions).
   *
   * @param typeId Its type's id.
   * @param type Its type.
   * @param hasSourceTimestamp Whether it has a source timestamp (a
   *   partition by source timestamp keeps only those).
   */
  mask(
    typeId: number,
    type: EventType,
    hasSourceTimestamp: boolean,
  ): number | null {
    const list = this.#list;
    if (list === null) return null;
    let mask = this.#masks.get(typeId);
    if (mask === undefined) {
      mask = 0;
      for (const p of list) {
        if (p.subscription.matches(type)) mask += p.bit;
      }
      if (this.#masks.size >= this.#maxMasks) this.#masks.clear();
      this.#masks.set(typeId, mask);
    }
    if (hasSourceTimestamp || mask === 0) return mask;
    for (const p of list) {
      if (p.bySource && Math.floor(mask / p.bit) % 2 === 1) mask -= p.bit;
    }
    return mask;
  }

  /** The partitions that have a retention limit. */
  limited(): LimitedPartition[] {
    return (this.#list ?? []).filter((p) => p.limit !== undefined).map((
      p,
    ) => ({
      bit: p.bit,
      index: p.index,
      condition: p.condition,
      key: p.bySource ? "source_t" : "t",
      limit: p.limit!,
    }));
  }

  /** Forget the masks (type ids may have been rolled back). */
  reset(): void {
    this.#masks.clear();
  }

  /**
   * What a timeseries query scans: the implicit partition of its
   * `orderBy`, or the first configured partition of its `orderBy` sharing
   * a type with its query types; null when none does (the result is
   * empty).
   */
  route(params: QueryTimeseriesParams): PartitionScan | null {
    const bySource = params.orderBy === "sourceTimestamp";
    if (this.#list === null) return IMPLICIT[bySource ? "source_t" : "t"];
    const types = params.eventTypes == null
      ? null
      : new Subscription(params.eventTypes);
    for (const p of this.#list) {
      if (p.bySource !== bySource) continue;
      if (types !== null && types.isDisjoint(p.subscription)) continue;
      return p;
    }
    return null;
  }
}
