/**
 * A large query result encoded a slice at a time, sharing the event loop.
 *
 * @module
 */

import { turnSpent, yieldToEventLoop } from "../async/mod.ts";
import type { Event } from "../event/mod.ts";
import { Writer } from "../sbs/mod.ts";
import { writeEvent } from "./event.ts";

/**
 * Results of more events than this are encoded by
 * {@linkcode encodeQueryResultInTurns}; fewer take well under a turn
 * (some 0.5 µs an event) and are encoded in place.
 */
export const IN_TURNS_EVENTS = 2048;

/**
 * MsgQueryRes of `res` (the bytes of `writeQueryResult`), encoded into a
 * buffer of its own with a yield to the event loop whenever the turn is
 * spent: a 16 MiB result takes 60-90 ms to encode, which in one go would
 * hold up every other client for as long.
 */
export async function encodeQueryResultInTurns(
  res: { readonly events: readonly Event[]; readonly moreFollows: boolean },
): Promise<Uint8Array> {
  const { events } = res;
  const w = new Writer(64 * events.length);
  w.int(events.length);
  for (let i = 0; i < events.length; i++) {
    if (turnSpent()) await yieldToEventLoop();
    writeEvent(w, events[i]);
  }
  w.bool(res.moreFollows);
  return w.bytes();
}
