/**
 * Events as JSON lines, for people and for `jq`: the library's
 * {@linkcode eventToJson} format.
 *
 * @module
 */

import {
  type BinaryEncoding,
  type Event,
  eventToJson,
} from "../common/event/mod.ts";

export type { BinaryEncoding };

/**
 * One event as one line of JSON (see {@linkcode eventToJson}).
 *
 * @param event The event.
 * @param binary Encoding of binary payload data (field `base64` or `hex`).
 * @returns The line, without a newline.
 */
export function renderEvent(event: Event, binary: BinaryEncoding): string {
  return eventToJson(event, { binaryEncoding: binary });
}
