/**
 * The `event_types` table: each distinct event type gets a small integer
 * id, and query types are resolved to ids in JavaScript so SQL filters by
 * `type_id` only.
 *
 * Types live in SQLite; memory holds a bounded cache of them. Holding the
 * whole table cost ~700 bytes of RSS per type and a full read at every
 * start (a million types: 720 MiB and 6 s), and any client able to
 * register new types could grow it for good.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { EventType } from "../common/event/mod.ts";
import { Subscription } from "../common/event/mod.ts";
import { utf8Length } from "./_event_row.ts";

/**
 * Default of {@linkcode EventTypeTable}'s cache size, in types.
 */
export const DEFAULT_EVENT_TYPE_CACHE_SIZE = 16_384;

// Query type resolutions kept, and the ids they may hold together.
const MATCH_CACHE_SIZE = 256;
const MATCH_CACHE_IDS = 1 << 20;
// Longer query type lists are resolved but not kept.
const MATCH_CACHE_KEY_LENGTH = 4096;

/** A type as held in memory, with its size in a result. */
interface Cached {
  type: EventType;
  // UTF-8 bytes of its JSON text.
  bytes: number;
}

/**
 * Bounded map keeping what is used: two generations, the older dropped
 * whole when the newer fills, a hit in the older moving to the newer.
 * Cheaper per hit than a strict LRU (no reordering), which matters when
 * every row of a query result looks its type up.
 */
class Generations<K, V> {
  #size: number;
  #young = new Map<K, V>();
  #old = new Map<K, V>();

  constructor(size: number) {
    this.#size = Math.max(1, Math.ceil(size / 2));
  }

  get count(): number {
    return this.#young.size + this.#old.size;
  }

  get(key: K): V | undefined {
    const value = this.#young.get(key);
    if (value !== undefined) return value;
    const old = this.#old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: K, value: V): void {
    if (this.#young.size >= this.#size) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }

  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }
}

interface Match {
  subscription: Subscription;
  ids: number[];
  // Highest type id the resolution covers.
  upTo: number;
}

/** Distinct event types and their ids. */
export class EventTypeTable {
  #insert: StatementSync;
  #selectId: StatementSync;
  #selectType: StatementSync;
  #selectRange: StatementSync;
  #selectAll: StatementSync;
  #selectAfter: StatementSync;
  #selectMaxId: StatementSync;
  #ids: Generations<string, number>;
  #types: Generations<number, Cached>;
  // Query types (as JSON) to the ids matching them, extended as types come.
  #matches = new Map<string, Match>();
  #matchIds = 0;
  #lastId = 0;

  /**
   * @param db Database holding the `event_types` table.
   * @param cacheSize Types kept in memory.
   */
  constructor(db: DatabaseSync, cacheSize = DEFAULT_EVENT_TYPE_CACHE_SIZE) {
    this.#ids = new Generations(cacheSize);
    this.#types = new Generations(cacheSize);
    this.#insert = db.prepare(
      "INSERT INTO event_types (type) VALUES (?) RETURNING id",
    );
    this.#selectId = db.prepare("SELECT id FROM event_types WHERE type = ?");
    this.#selectType = db.prepare("SELECT type FROM event_types WHERE id = ?");
    // The JSON text of every type under a prefix sorts within a range.
    this.#selectRange = db.prepare(
      "SELECT id, type FROM event_types WHERE type >= ? AND type < ?",
    );
    this.#selectAll = db.prepare("SELECT id, type FROM event_types");
    this.#selectAfter = db.prepare(
      "SELECT id, type FROM event_types WHERE id > ? ORDER BY id",
    );
    this.#selectMaxId = db.prepare(
      "SELECT coalesce(max(id), 0) AS id FROM event_types",
    );
    this.reset();
  }

  /** Types held in memory now (at most the cache size). */
  get cached(): number {
    return this.#types.count;
  }

  /**
   * Forget what memory holds, after a rollback may have dropped types
   * added since the last commit: from now on ids are read again from the
   * table.
   */
  reset(): void {
    this.#ids.clear();
    this.#types.clear();
    this.#matches.clear();
    this.#matchIds = 0;
    this.#lastId = (this.#selectMaxId.get() as { id: number }).id;
  }

  /**
   * Event type of an id read from the `events` table.
   *
   * @param id Type id.
   * @param text The type's JSON text, when the caller read it already.
   * @throws {Error} When the id is unknown (a corrupt database).
   */
  typeOf(id: number, text?: string): EventType {
    return this.#cached(id, text).type;
  }

  /**
   * UTF-8 bytes of the JSON text of the type with this id: more than its
   * segments take in a message.
   *
   * @throws {Error} When the id is unknown (a corrupt database).
   */
  bytesOf(id: number): number {
    return this.#cached(id).bytes;
  }

  /** Id of `type`, inserting it when new (inside the caller's transaction). */
  ensure(type: EventType): number {
    const key = JSON.stringify(type);
    let id = this.#ids.get(key);
    if (id !== undefined) return id;
    id = (this.#selectId.get(key) as { id: number } | undefined)?.id;
    if (id === undefined) {
      id = (this.#insert.get(key) as { id: number }).id;
      this.#lastId = Math.max(this.#lastId, id);
    }
    this.#ids.set(key, id);
    this.#types.set(id, {
      type: Object.freeze([...type]),
      bytes: utf8Length(key, Infinity),
    });
    return id;
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
    const key = JSON.stringify([...queryTypes]);
    const cached = this.#matches.get(key);
    if (cached) {
      this.#matches.delete(key);
      this.#matches.set(key, cached);
      this.#extend(cached);
      return cached.ids;
    }
    const subscription = new Subscription(JSON.parse(key));
    const normalized = subscription.getQueryTypes();
    if (normalized.some((q) => q.length === 1 && q[0] === "*")) return null;
    const upTo = this.#lastId;
    const ids = this.#match(subscription, normalized);
    if (
      key.length <= MATCH_CACHE_KEY_LENGTH && ids.length <= MATCH_CACHE_IDS
    ) {
      this.#matches.set(key, { subscription, ids, upTo });
      this.#matchIds += ids.length;
      for (const [k, m] of this.#matches) {
        if (
          this.#matches.size <= MATCH_CACHE_SIZE &&
          this.#matchIds <= MATCH_CACHE_IDS
        ) break;
        this.#matches.delete(k);
        this.#matchIds -= m.ids.length;
      }
    }
    return ids;
  }

  #match(subscription: Subscription, normalized: EventType[]): number[] {
    const ids = new Set<number>();
    for (const q of normalized) {
      const wild = q.findIndex((s) => s === "?" || s === "*");
      if (wild === -1) {
        // An exact type: one lookup.
        const key = JSON.stringify(q);
        const id = this.#ids.get(key) ??
          (this.#selectId.get(key) as { id: number } | undefined)?.id;
        if (id !== undefined) ids.add(id);
        continue;
      }
      // Types under the literal prefix: `["a","b"` then `,` or `]`.
      const prefix = JSON.stringify(q.slice(0, wild)).slice(0, -1);
      if (wild > 0) {
        const exact = this.#selectId.get(prefix + "]") as
          | { id: number }
          | undefined;
        if (exact && subscription.matches(q.slice(0, wild))) ids.add(exact.id);
      }
      const rows = wild === 0
        ? this.#selectAll.iterate()
        : this.#selectRange.iterate(prefix + ",", prefix + "-");
      for (const row of rows as Iterable<{ id: number; type: string }>) {
        if (!ids.has(row.id) && subscription.matches(JSON.parse(row.type))) {
          ids.add(row.id);
        }
      }
    }
    return [...ids].sort((a, b) => a - b);
  }

  // Types added since a resolution: test only those.
  #extend(match: Match): void {
    if (match.upTo >= this.#lastId) return;
    const rows = this.#selectAfter.all(match.upTo) as {
      id: number;
      type: string;
    }[];
    for (const { id, type } of rows) {
      if (match.subscription.matches(JSON.parse(type))) {
        match.ids.push(id);
        this.#matchIds++;
      }
    }
    match.upTo = this.#lastId;
  }

  #cached(id: number, text?: string): Cached {
    let cached = this.#types.get(id);
    if (cached !== undefined) return cached;
    text ??= (this.#selectType.get(id) as { type: string } | undefined)?.type;
    if (text === undefined) throw new Error(`unknown event type id ${id}`);
    cached = {
      type: Object.freeze(JSON.parse(text)) as EventType,
      bytes: utf8Length(text, Infinity),
    };
    this.#types.set(id, cached);
    return cached;
  }
}
