/**
 * Events as JSON lines, for people and for `jq`.
 *
 * @module
 */

import type { Event, Timestamp } from "../common/event/mod.ts";
import type { JsonValue } from "../common/json/mod.ts";

/** How binary payload bytes are written. */
export type BinaryEncoding = "base64" | "hex";

/**
 * A timestamp as `{"iso", "s", "us"}`: the ISO-8601 UTC text with
 * microseconds (null outside the range of `Date`), plus the exact wire
 * value, with `s` a string when it is beyond 2^53.
 */
function renderTimestamp(t: Timestamp): Record<string, unknown> {
  return { iso: isoText(t), s: t.s, us: t.us };
}

function isoText(t: Timestamp): string | null {
  const ms = Number(t.s) * 1000;
  if (!(Math.abs(ms) <= 8.64e15)) return null;
  const text = new Date(ms).toISOString();
  return `${text.slice(0, -5)}.${String(t.us).padStart(6, "0")}Z`;
}

/**
 * One event as one line of JSON. JSON payload integers beyond 2^53 are
 * written exactly, as in the payload's own text.
 *
 * @param event The event.
 * @param binary Encoding of binary payload data (field `base64` or `hex`).
 * @returns The line, without a newline.
 */
export function renderEvent(event: Event, binary: BinaryEncoding): string {
  const payload = event.payload;
  return stringify({
    id: event.id,
    type: event.type,
    timestamp: renderTimestamp(event.timestamp),
    sourceTimestamp: event.sourceTimestamp &&
      renderTimestamp(event.sourceTimestamp),
    payload: payload === null
      ? null
      : payload.kind === "json"
      ? { kind: "json", data: exact(payload.data) }
      : {
        kind: "binary",
        type: payload.type,
        [binary]: binary === "hex"
          ? payload.data.toHex()
          : payload.data.toBase64(),
      },
  });
}

const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown })
  .rawJSON;

/** `value` with every bigint replaced by its exact JSON number. */
function exact(value: JsonValue): unknown {
  if (typeof value === "bigint") return rawJSON(value.toString());
  if (Array.isArray(value)) return value.map(exact);
  if (value !== null && typeof value === "object") {
    // No prototype: a "__proto__" key stays an ordinary key.
    const copy: Record<string, unknown> = Object.create(null);
    for (const [k, v] of Object.entries(value)) copy[k] = exact(v);
    return copy;
  }
  return value;
}

// Bigints left are timestamp seconds beyond 2^53: strings.
function stringify(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) => typeof v === "bigint" ? v.toString() : v,
  );
}
