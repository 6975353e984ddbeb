/**
 * Codec of `EventType = Array(String)` (SPEC §3), the most repeated value
 * on the wire, with a cache for each direction: types decoded before
 * ({@linkcode eventTypeCache}, `_event_type_cache.ts`) and the bytes of
 * types and segments written before ({@linkcode eventTypeWriteSlots},
 * `_event_type_slots.ts`).
 *
 * @module
 */

import type { Reader, Writer } from "../sbs/mod.ts";
import type { EventType } from "../event/mod.ts";
import { encodingOf, readCachedEventType } from "./_event_type_cache.ts";
import { writeTypeFromSlots } from "./_event_type_slots.ts";

export { eventTypeCache } from "./_event_type_cache.ts";
export { eventTypeWriteSlots } from "./_event_type_slots.ts";

/** Write an EventType. */
export function writeEventType(w: Writer, type: EventType): void {
  const known = encodingOf(type);
  if (known !== undefined) {
    // Decoded here before: its bytes, copied.
    w.raw(known);
    return;
  }
  writeTypeFromSlots(w, type);
}

/**
 * Read an EventType. The result is frozen and may be shared by every
 * event of the same type decoded in this process.
 */
export function readEventType(r: Reader): EventType {
  return readCachedEventType(r);
}

/** Write an Array(EventType). */
export function writeEventTypes(w: Writer, types: readonly EventType[]): void {
  w.int(types.length);
  for (const t of types) writeEventType(w, t);
}

/** Read an Array(EventType). */
export function readEventTypes(r: Reader): EventType[] {
  const n = r.length();
  const types: EventType[] = [];
  for (let i = 0; i < n; i++) types.push(readEventType(r));
  return types;
}
