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
 * Resolving query types to ids reads the table a bounded number of types
 * at a time ({@linkcode TypeMatch}), so that a query over many types can
 * let other work run meanwhile.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { EventType } from "../common/event/mod.ts";
import { Subscription } from "../common/event/mod.ts";
import { prepareArrays } from "./_schema.ts";
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

/** Types read by one {@linkcode TypeMatch.step}: about 0.3 ms of work. */
export const MATCH_STEP_TYPES = 128;

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
  // Ascending; types added later are appended (their ids are larger).
  ids: number[];
  // Highest type id the resolution covers.
  upTo: number;
  // Whether it is in the cache (and its ids count against its bound).
  kept: boolean;
}

/**
 * The types matching some query types, resolved a bounded number of
 * types at a time: call {@linkcode TypeMatch.step} until
 * {@linkcode TypeMatch.done}.
 */
export interface TypeMatch {
  /** True once resolved: `ids` is then set. */
  readonly done: boolean;
  /**
   * Ids of the matching types that existed when the resolution was done,
   * ascending; `null` when every type matches. Must not be modified.
   */
  readonly ids: readonly number[] | null;
  /**
   * Resolve some more: reads at most {@linkcode MATCH_STEP_TYPES} types.
   * Types added meanwhile are caught up with before it is done.
   */
  step(): void;
  /** Whether the type with this id matches (types added later included). */
  has(id: number): boolean;
}

/** Every type matches. */
const ALL_TYPES: TypeMatch = {
  done: true,
  ids: null,
  step() {},
  has: () => true,
};

/** Where the resolution of query types is: which one it scans, how far. */
interface Scan {
  subscription: Subscription;
  normalized: EventType[];
  // Index in `normalized`; its scan goes on after `after` (a type's
  // JSON text for a prefix, a type id for a full scan; null: not begun).
  next: number;
  after: string | number | null;
  found: Set<number>;
  upTo: number;
  key: string;
}

/** Distinct event types and their ids. */
export class EventTypeTable {
  #insert: StatementSync;
  #selectId: StatementSync;
  #selectType: StatementSync;
  #selectTypes: StatementSync;
  #selectRangeFrom: StatementSync;
  #selectRangeAfter: StatementSync;
  #selectAfter: StatementSync;
  #selectMaxId: StatementSync;
  #ids: Generations<string, number>;
  // Ids of frozen type arrays (which the Eventer decoder hands out again
  // for the types it decodes often): found without making the type's
  // text. Bounded by the arrays alive, held by their users.
  #frozenIds = new WeakMap<EventType, number>();
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
    this.#selectTypes = prepareArrays(
      db,
      "SELECT id, type FROM event_types WHERE id IN (SELECT value FROM json_each(?))",
    );
    this.#selectRangeFrom = prepareArrays(
      db,
      "SELECT id, type FROM event_types WHERE type >= ? AND type < ? ORDER BY type LIMIT ?",
    );
    this.#selectRangeAfter = prepareArrays(
      db,
      "SELECT id, type FROM event_types WHERE type > ? AND type < ? ORDER BY type LIMIT ?",
    );
    this.#selectAfter = prepareArrays(
      db,
      "SELECT id, type FROM event_types WHERE id > ? ORDER BY id LIMIT ?",
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
    this.#frozenIds = new WeakMap();
    this.#types.clear();
    for (const m of this.#matches.values()) m.kept = false;
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

  /**
   * Read the types of `ids` missing from memory, in one statement (one
   * each would cost some 5 µs a type).
   */
  load(ids: Iterable<number>): void {
    const missing = new Set<number>();
    for (const id of ids) {
      if (this.#types.get(id) === undefined) missing.add(id);
    }
    if (missing.size === 0) return;
    const rows = this.#selectTypes.all(
      JSON.stringify([...missing]),
    ) as unknown as [number, string][];
    for (const [id, text] of rows) this.#cached(id, text);
  }

  /** Id of `type`, inserting it when new (inside the caller's transaction). */
  ensure(type: EventType): number {
    return this.#id(type, true)!;
  }

  /** Id of `type`; undefined when the table does not hold it. */
  find(type: EventType): number | undefined {
    return this.#id(type, false);
  }

  #id(type: EventType, insert: boolean): number | undefined {
    const frozen = Object.isFrozen(type);
    if (frozen) {
      const id = this.#frozenIds.get(type);
      if (id !== undefined) return id;
    }
    const key = JSON.stringify(type);
    let id = this.#ids.get(key);
    if (id !== undefined) {
      if (frozen) this.#frozenIds.set(type, id);
      return id;
    }
    id = (this.#selectId.get(key) as { id: number } | undefined)?.id;
    if (id === undefined) {
      if (!insert) return undefined;
      id = (this.#insert.get(key) as { id: number }).id;
      this.#lastId = Math.max(this.#lastId, id);
    }
    this.#ids.set(key, id);
    if (frozen) this.#frozenIds.set(type, id);
    this.#types.set(id, {
      type: Object.freeze([...type]),
      bytes: utf8Length(key, Infinity),
    });
    return id;
  }

  /** Id of the last type added (or read at the last reset). */
  get lastId(): number {
    return this.#lastId;
  }

  /**
   * The types matching `queryTypes`, to be resolved with
   * {@linkcode TypeMatch.step} (at once when resolved before: resolutions
   * are kept, within bounds, and caught up with new types when used).
   *
   * @throws {InvalidQueryTypeError} For a `*` before the last segment.
   */
  match(queryTypes: Iterable<EventType> | null | undefined): TypeMatch {
    if (queryTypes == null) return ALL_TYPES;
    const key = JSON.stringify([...queryTypes]);
    const cached = this.#matches.get(key);
    if (cached) {
      this.#matches.delete(key);
      this.#matches.set(key, cached);
      return new Resolution(this, null, cached);
    }
    const subscription = new Subscription(JSON.parse(key));
    const normalized = subscription.getQueryTypes();
    if (normalized.some((q) => q.length === 1 && q[0] === "*")) {
      return ALL_TYPES;
    }
    const scan: Scan = {
      subscription,
      normalized,
      next: 0,
      after: null,
      found: new Set(),
      upTo: this.#lastId,
      key,
    };
    return new Resolution(this, scan, null);
  }

  /**
   * Go on with the scans of `scan`, reading at most MATCH_STEP_TYPES
   * types; true once every one is done. Types added meanwhile (ids above
   * `scan.upTo`) are left to {@linkcode EventTypeTable.catchUp}.
   */
  scanStep(scan: Scan): boolean {
    let budget = MATCH_STEP_TYPES;
    while (budget > 0 && scan.next < scan.normalized.length) {
      const q = scan.normalized[scan.next];
      const wild = q.findIndex((s) => s === "?" || s === "*");
      if (wild === -1) {
        // An exact type: one lookup.
        const key = JSON.stringify(q);
        const id = this.#ids.get(key) ??
          (this.#selectId.get(key) as { id: number } | undefined)?.id;
        if (id !== undefined && id <= scan.upTo) scan.found.add(id);
        budget--;
        scan.next++;
        continue;
      }
      // Types under the literal prefix: `["a","b"` then `,` or `]`.
      const prefix = JSON.stringify(q.slice(0, wild)).slice(0, -1);
      if (scan.after === null && wild > 0) {
        const exact = this.#selectId.get(prefix + "]") as
          | { id: number }
          | undefined;
        if (
          exact && exact.id <= scan.upTo &&
          scan.subscription.matches(q.slice(0, wild))
        ) scan.found.add(exact.id);
      }
      const asked = budget;
      const rows = (wild === 0
        ? this.#selectAfter.all(scan.after ?? 0, asked)
        : scan.after === null
        ? this.#selectRangeFrom.all(prefix + ",", prefix + "-", asked)
        : this.#selectRangeAfter.all(
          scan.after,
          prefix + "-",
          asked,
        )) as unknown as [number, string][];
      for (const [id, type] of rows) {
        if (
          id <= scan.upTo && !scan.found.has(id) &&
          scan.subscription.matches(JSON.parse(type))
        ) {
          scan.found.add(id);
        }
      }
      budget -= rows.length;
      const last = rows.at(-1);
      // A full scan ends at the last type it covers.
      if (
        last === undefined || rows.length < asked ||
        (wild === 0 && last[0] >= scan.upTo)
      ) {
        scan.next++;
        scan.after = null;
      } else {
        scan.after = last[wild === 0 ? 0 : 1];
      }
    }
    return scan.next === scan.normalized.length;
  }

  /** The resolution `scan` found, kept when within the cache's bounds. */
  keep(scan: Scan): Match {
    const match = {
      subscription: scan.subscription,
      ids: [...scan.found].sort((a, b) => a - b),
      upTo: scan.upTo,
      kept: false,
    };
    if (
      scan.key.length <= MATCH_CACHE_KEY_LENGTH &&
      match.ids.length <= MATCH_CACHE_IDS
    ) {
      match.kept = true;
      this.#matches.set(scan.key, match);
      this.#matchIds += match.ids.length;
      for (const [k, m] of this.#matches) {
        if (
          this.#matches.size <= MATCH_CACHE_SIZE &&
          this.#matchIds <= MATCH_CACHE_IDS
        ) break;
        this.#matches.delete(k);
        this.#matchIds -= m.ids.length;
        m.kept = false;
      }
    }
    return match;
  }

  /**
   * Add to `match` the types added since it was resolved, reading at most
   * MATCH_STEP_TYPES of them; true once it is up to date.
   */
  catchUp(match: Match): boolean {
    if (match.upTo >= this.#lastId) return true;
    const rows = this.#selectAfter.all(
      match.upTo,
      MATCH_STEP_TYPES,
    ) as unknown as [number, string][];
    for (const [id, type] of rows) {
      if (match.subscription.matches(JSON.parse(type))) {
        match.ids.push(id);
        if (match.kept) this.#matchIds++;
      }
      match.upTo = id;
    }
    if (rows.length === MATCH_STEP_TYPES) return false;
    match.upTo = Math.max(match.upTo, this.#lastId);
    return true;
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

/** A {@linkcode TypeMatch} of an {@linkcode EventTypeTable}. */
class Resolution implements TypeMatch {
  readonly #table: EventTypeTable;
  #scan: Scan | null;
  #match: Match | null;
  // Once done, the match as of then: ids added later by another use of
  // the same kept resolution are above `upTo`, past `count`.
  #ids: readonly number[] | null = null;
  #count = 0;
  #upTo = 0;

  constructor(table: EventTypeTable, scan: Scan | null, match: Match | null) {
    this.#table = table;
    this.#scan = scan;
    this.#match = match;
  }

  get done(): boolean {
    return this.#ids !== null;
  }

  get ids(): readonly number[] | null {
    return this.#ids;
  }

  step(): void {
    if (this.#ids !== null) return;
    if (this.#match === null) {
      if (this.#table.scanStep(this.#scan!)) {
        this.#match = this.#table.keep(this.#scan!);
        this.#scan = null;
      }
      return;
    }
    if (!this.#table.catchUp(this.#match)) return;
    this.#ids = this.#match.ids;
    this.#count = this.#ids.length;
    this.#upTo = this.#match.upTo;
  }

  has(id: number): boolean {
    const ids = this.#ids;
    if (ids === null) throw new Error("type match not resolved");
    if (id > this.#upTo) {
      return this.#match!.subscription.matches(this.#table.typeOf(id));
    }
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.#count && ids[lo] === id;
  }
}
