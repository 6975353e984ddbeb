/**
 * The `event_types` table, mirrored in memory: each distinct event type
 * gets a small integer id, and query types are resolved to ids in
 * JavaScript so SQL filters by `type_id` only.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { EventType } from "../common/event/mod.ts";
import { Subscription } from "../common/event/mod.ts";

const MATCH_CACHE_SIZE = 256;

/** Distinct event types and their ids. */
export class EventTypeTable {
  #db: DatabaseSync;
  #insert: StatementSync;
  #ids = new Map<string, number>();
  #types = new Map<number, EventType>();
  // Query types (as JSON) to matching ids; cleared when a type is added.
  #matches = new Map<string, readonly number[] | null>();

  /** @param db Database holding the `event_types` table. */
  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#insert = db.prepare(
      "INSERT INTO event_types (type) VALUES (?) RETURNING id",
    );
    this.reload();
  }

  /** Read the table again (after a rollback dropped types added in memory). */
  reload(): void {
    this.#ids.clear();
    this.#types.clear();
    this.#matches.clear();
    const rows = this.#db.prepare(
      "SELECT id, type FROM event_types ORDER BY id",
    )
      .all() as { id: number; type: string }[];
    for (const { id, type } of rows) this.#add(id, type);
  }

  /**
   * Event type of an id read from the `events` table.
   *
   * @throws {Error} When the id is unknown (a corrupt database).
   */
  typeOf(id: number): EventType {
    const type = this.#types.get(id);
    if (type === undefined) throw new Error(`unknown event type id ${id}`);
    return type;
  }

  /** Id of `type`, inserting it when new (inside the caller's transaction). */
  ensure(type: EventType): number {
    const key = JSON.stringify(type);
    const id = this.#ids.get(key);
    if (id !== undefined) return id;
    const row = this.#insert.get(key) as { id: number };
    this.#add(row.id, key);
    return row.id;
  }

  /**
   * Ids of the types matching `queryTypes`, ascending; `null` when every
   * type matches (no filter needed). The result must not be modified.
   *
   * @throws {InvalidQueryTypeError} For a `*` before the last segment.
   */
  matching(
    queryTypes: Iterable<EventType> | null | undefined,
  ): readonly number[] | null {
    if (queryTypes == null) return null;
    const cacheKey = JSON.stringify([...queryTypes]);
    let ids = this.#matches.get(cacheKey);
    if (ids === undefined) {
      ids = this.#match(new Subscription(JSON.parse(cacheKey)));
      if (this.#matches.size >= MATCH_CACHE_SIZE) this.#matches.clear();
      this.#matches.set(cacheKey, ids);
    }
    return ids;
  }

  #match(subscription: Subscription): number[] | null {
    const normalized = subscription.getQueryTypes();
    if (normalized.some((q) => q.length === 1 && q[0] === "*")) return null;
    const ids: number[] = [];
    if (normalized.every((q) => !q.includes("*") && !q.includes("?"))) {
      // Exact types only: look them up instead of testing every type.
      for (const q of normalized) {
        const id = this.#ids.get(JSON.stringify(q));
        if (id !== undefined) ids.push(id);
      }
      return ids.sort((a, b) => a - b);
    }
    for (const [id, type] of this.#types) {
      if (subscription.matches(type)) ids.push(id);
    }
    return ids;
  }

  #add(id: number, key: string): void {
    this.#matches.clear();
    this.#ids.set(key, id);
    this.#types.set(id, Object.freeze(JSON.parse(key)) as EventType);
  }
}
