/**
 * Natural order of events, as used by latest and server queries.
 *
 * @module
 */

import { compareTimestamps } from "./timestamp.ts";
import type { Event, EventId } from "./types.ts";

/**
 * Compares two events in natural order, assuming `a` was registered before
 * `b`: events of one server by session, then instance; events of different
 * servers by timestamp.
 *
 * Equal timestamps across servers give -1 whichever operand comes first
 * (the reference's `Event.__lt__` is true both ways), so this is not a
 * consistent sort comparator for such pairs: it answers "does `b` replace
 * `a`", and `Array.prototype.sort` may order such pairs either way.
 *
 * @param a The event registered (or seen) first.
 * @param b The event registered (or seen) second.
 * @returns -1 if `a` comes before `b`, 1 if after, 0 if they have the same id.
 * @example
 * ```ts
 * import { compareEvents } from "@hat/eventer";
 * import assert from "node:assert/strict";
 * const event = (server: number, session: number, instance: number, s: number) => ({
 *   id: { server, session, instance },
 *   type: ["a"],
 *   timestamp: { s, us: 0 },
 *   sourceTimestamp: null,
 *   payload: null,
 * });
 * assert.equal(compareEvents(event(1, 2, 1, 9), event(1, 1, 5, 0)), 1);
 * assert.equal(compareEvents(event(1, 1, 1, 9), event(2, 1, 1, 0)), 1);
 * assert.equal(compareEvents(event(2, 1, 1, 0), event(1, 1, 1, 0)), -1);
 * ```
 */
export function compareEvents(a: Event, b: Event): number {
  if (a.id.server === b.id.server) {
    if (a.id.session !== b.id.session) {
      return a.id.session < b.id.session ? -1 : 1;
    }
    return a.id.instance < b.id.instance
      ? -1
      : a.id.instance > b.id.instance
      ? 1
      : 0;
  }
  return compareTimestamps(a.timestamp, b.timestamp) || -1;
}

/**
 * Compares two event ids as the tuple (server, session, instance), the
 * reference's `EventId` order.
 *
 * @returns A negative number if `a` comes first, positive if `b` does, 0
 *   if they are equal.
 */
export function compareEventIds(a: EventId, b: EventId): number {
  return a.server - b.server || a.session - b.session ||
    a.instance - b.instance;
}
