/**
 * The event store of an Event Server: the {@linkcode EventStore} seam the
 * server depends on, and {@linkcode SqliteStore}, its implementation on
 * SQLite through Deno's built-in `node:sqlite`.
 *
 * @example
 * ```ts
 * import { type EventStore, SqliteStore } from "./mod.ts";
 *
 * using store: EventStore = SqliteStore.open({
 *   path: ":memory:",
 *   serverId: 1,
 * });
 * const events = store.register([{ type: ["a", "b"] }]);
 * // ...notify non-persisted subscribers of `events`...
 * const { committed, failed } = store.flush();
 * // ...notify persisted subscribers of `committed.flat()`, answer the
 * // requests in `failed` failure...
 * ```
 *
 * @module
 */

export type { EventStore, FlushResult, SteppedQuery } from "./event_store.ts";
export {
  type CleanupResult,
  DEFAULT_CLEANUP_ENTRIES,
  DEFAULT_CLEANUP_PERIOD,
  DEFAULT_EVENT_TYPE_CACHE_SIZE,
  DEFAULT_MAX_EVENT_TYPE_BYTES,
  DEFAULT_MAX_EVENT_TYPE_SEGMENTS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_MAX_RESULTS,
  DEFAULT_MAX_WRITER_BATCH_BYTES,
  DEFAULT_SESSION_BLOCK,
  SqliteStore,
  type SqliteStoreOptions,
} from "./sqlite.ts";
export type { Synchronous } from "./_schema.ts";
export type {
  Condition,
  JsonCondition,
  JsonPath,
  RetentionLimit,
  StorageCondition,
  StorageRules,
  TimeseriesPartition,
} from "./storage_rules.ts";
export { checkStorageRules } from "./_check_storage_rules.ts";
export {
  DatabaseInUseError,
  type EventLimit,
  EventLimitError,
  InvalidEventTypeError,
  StoreError,
} from "./errors.ts";
