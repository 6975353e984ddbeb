/**
 * Storage rules of an event store: which events are stored, which types
 * keep a latest entry, how timeseries are partitioned and how long they
 * are kept. They are the rules of the reference's LMDB backend
 * (`conditions`, `latest`, `timeseries`, `cleanup_period` of its
 * configuration), with names in camelCase and durations in milliseconds.
 *
 * @example
 * ```ts
 * import type { StorageRules } from "./storage_rules.ts";
 *
 * const rules: StorageRules = {
 *   // Events of these types are stored only when their payload says so.
 *   conditions: [{
 *     subscriptions: [["gateway", "*"]],
 *     condition: { type: "json", dataPath: "quality", dataValue: "GOOD" },
 *   }],
 *   latest: { subscriptions: [["*"]] },
 *   timeseries: [{
 *     orderBy: "timestamp",
 *     subscriptions: [["*"]],
 *     // A week, and never fewer than 1,000 events.
 *     limit: { duration: 7 * 24 * 3600 * 1000, minEntries: 1000 },
 *   }],
 *   cleanupPeriod: 60_000,
 * };
 * ```
 *
 * @module
 */

import type { EventType } from "../common/event/mod.ts";

/** Storage rules of an event store; every member is optional. */
export interface StorageRules {
  /**
   * Conditions an event must meet to be stored, each for the types of its
   * `subscriptions`; an event is stored when it meets every condition
   * whose subscriptions match its type (none match: stored). An event not
   * stored is still registered (it has an id) and notified.
   * Default: none.
   */
  readonly conditions?: readonly StorageCondition[];
  /**
   * The types that keep a latest entry, which a latest query answers
   * (for other types it answers nothing). Default: every type
   * (`[["*"]]`).
   */
  readonly latest?: { readonly subscriptions: readonly EventType[] };
  /**
   * Timeseries partitions: an event is kept in each partition whose
   * subscriptions match its type, ordered by the partition's `orderBy`;
   * one no partition keeps is deleted by a cleanup once it is no type's
   * latest. Events stored before a change of partitions: see
   * `SqliteStoreOptions.storage`. Default: every type by timestamp, and
   * every type with a source timestamp by source timestamp, kept for
   * ever.
   */
  readonly timeseries?: readonly TimeseriesPartition[];
  /**
   * Milliseconds between two cleanups enforcing the partitions' limits.
   * Default: 1,000 (the reference's configurations commonly use 1 s).
   * Without `timeseries` there is no cleanup.
   */
  readonly cleanupPeriod?: number;
}

/** A condition on the events of the types of `subscriptions`. */
export interface StorageCondition {
  /** Event types the condition applies to (query types, `*` and `?`). */
  readonly subscriptions: readonly EventType[];
  /** What such an event must meet to be stored. */
  readonly condition: Condition;
}

/**
 * A condition on an event: all of several, any of several, or one on its
 * JSON payload (the reference's `all`, `any` and `json`).
 */
export type Condition =
  | { readonly type: "all"; readonly conditions: readonly Condition[] }
  | { readonly type: "any"; readonly conditions: readonly Condition[] }
  | JsonCondition;

/**
 * A condition on an event's JSON payload: the value at `dataPath` (the
 * whole payload when absent) has JSON type `dataType` and equals
 * `dataValue`, each when given, as the reference's `json` condition
 * decides: an event without a JSON payload does not meet it; a path that
 * leads nowhere gives `null` (which type `"null"` and value `null` meet);
 * `"number"` is any number but not a boolean; values compare as Python's
 * `==` does (`1` equals `1.0`, and also `true`; objects in any key
 * order).
 */
export interface JsonCondition {
  /** Discriminator. */
  readonly type: "json";
  /**
   * Path into the payload: a key (into an object), an integer index
   * (into an array; negative ones count from its end), or a list of
   * paths, flattened.
   */
  readonly dataPath?: JsonPath;
  /** JSON type the value must have. */
  readonly dataType?:
    | "null"
    | "boolean"
    | "string"
    | "number"
    | "array"
    | "object";
  /** JSON value the value must equal. */
  readonly dataValue?: unknown;
}

/** A path into a JSON value: a key, an index, or a list of paths. */
export type JsonPath = string | number | readonly JsonPath[];

/** A timeseries partition. */
export interface TimeseriesPartition {
  /** The timestamp the partition orders its events by. */
  readonly orderBy: "timestamp" | "sourceTimestamp";
  /** Event types kept in the partition (query types, `*` and `?`). */
  readonly subscriptions: readonly EventType[];
  /** Retention: what a cleanup removes. Default: nothing. */
  readonly limit?: RetentionLimit;
}

/**
 * Retention of a partition, as the reference's `limit`: a cleanup
 * removes the oldest entries past `maxEntries`, older than `duration`,
 * or (by the partition's average entry size) past `size` bytes, but
 * never leaves fewer than `minEntries`.
 */
export interface RetentionLimit {
  /** Entries kept whatever the other limits say. */
  readonly minEntries?: number;
  /** Most entries kept. */
  readonly maxEntries?: number;
  /** Milliseconds of history kept, by the partition's `orderBy`. */
  readonly duration?: number;
  /** Bytes of entries kept, by their average size. */
  readonly size?: number;
}
