/**
 * The `latest` storage rule: which event types keep a latest entry, as
 * the reference's LMDB backend's `latest.subscriptions`
 * (`hat/event/backends/lmdb/latestdb.py`).
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { type EventType, Subscription } from "../common/event/mod.ts";
import type { StorageConditions } from "./_conditions.ts";
import { eventFromRow, type EventRow } from "./_event_row.ts";
import type { EventTypeTable } from "./_event_types.ts";
import { prepareArrays } from "./_schema.ts";

// Latest entries looked at by one statement when the rules are applied.
const APPLY_ROWS = 4096;

/** Which types keep a latest entry (default: every type). */
export class LatestRule {
  // Null: every type.
  readonly #subscription: Subscription | null;

  /** The rule of `subscriptions` (absent: every type). */
  constructor(subscriptions: readonly EventType[] | undefined) {
    const everything = subscriptions === undefined ||
      subscriptions.some((t) => t.length === 1 && t[0] === "*");
    this.#subscription = everything ? null : new Subscription(subscriptions);
  }

  /** True when every type keeps a latest entry. */
  get all(): boolean {
    return this.#subscription === null;
  }

  /** Whether events of `type` keep a latest entry. */
  keeps(type: EventType): boolean {
    return this.#subscription === null || this.#subscription.matches(type);
  }
}

/**
 * Drop the latest entries the rules no longer allow, as the reference
 * does when it opens its database: those of types `latest` does not keep,
 * and those whose event `conditions` would not store. A type without an
 * entry gets one with its next stored event.
 *
 * @returns The number of entries dropped.
 */
export function applyLatestRules(
  db: DatabaseSync,
  types: EventTypeTable,
  latest: LatestRule,
  conditions: StorageConditions,
): number {
  if (latest.all && conditions.empty) return 0;
  const select = prepareArrays(
    db,
    `SELECT et.id, et.type, e.server, e.session, e.instance, e.type_id, e.t,
       e.source_t, e.payload_kind, e.payload_type, e.payload_data
     FROM event_types AS et JOIN events AS e ON e.seq = et.latest
     WHERE et.id > ? ORDER BY et.id LIMIT ${APPLY_ROWS}`,
  );
  const clear = db.prepare("UPDATE event_types SET latest = NULL WHERE id = ?");
  let dropped = 0;
  let from = 0;
  for (;;) {
    const rows = select.all(from) as unknown as [
      number,
      string,
      ...EventRow,
    ][];
    if (rows.length === 0) return dropped;
    for (const [id, typeText, ...row] of rows) {
      from = id;
      const type = JSON.parse(typeText) as EventType;
      const keep = latest.keeps(type) &&
        (!conditions.concerns(type) ||
          conditions.matches(type, eventFromRow(row, types, typeText).payload));
      if (!keep) {
        clear.run(id);
        dropped++;
      }
    }
  }
}
