/**
 * Event types (and query types) as one line of text: `a/b/c`.
 *
 * The text is exact both ways: every event type has one text, and
 * `parseEventType(formatEventType(t))` gives `t` back.
 *
 * - Segments are separated by `/`. Inside a segment, `\/` is a `/` and
 *   `\\` a `\`; any other `\` is an error.
 * - The empty text `""` is the empty event type `[]` (which only the empty
 *   query type matches), not `[""]`.
 * - A text starting with `[` is a JSON array of strings
 *   (`["a", "b/c"]`): the only way to write `[""]`, and handy for segments
 *   full of `/`. A first segment that itself starts with `[` is written
 *   `\[`.
 * - `?` and `*` are ordinary characters here: whether they are wildcards
 *   depends on where the type is used (a query type or an event type).
 *
 * @module
 */

import type { EventType } from "./types.ts";

/**
 * Parses the text of an event type or query type: segments separated by
 * `/`, with `\/` for a `/` and `\\` for a `\` inside a segment, `""` for
 * the empty type `[]`, or a JSON array of strings when the text starts
 * with `[`.
 *
 * @param text The text, e.g. `"gateway/device1/*"`.
 * @returns A new array of the segments.
 * @throws {SyntaxError} For a `\` not followed by `/`, `\` or `[`, and for
 *   a text starting with `[` that is not a JSON array of strings.
 * @example
 * ```ts
 * import { parseEventType } from "@hat/eventer";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseEventType("a/b/c"), ["a", "b", "c"]);
 * assert.deepEqual(parseEventType("unit/m\\/s"), ["unit", "m/s"]);
 * assert.deepEqual(parseEventType(""), []);
 * assert.deepEqual(parseEventType('[""]'), [""]);
 * ```
 */
export function parseEventType(text: string): string[] {
  if (text === "") return [];
  if (text[0] === "[") return parseJsonType(text);
  if (!text.includes("\\")) return text.split("/");
  const segments: string[] = [];
  let segment = "";
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "/") {
      segments.push(segment + text.slice(start, i));
      segment = "";
      start = i + 1;
    } else if (c === "\\") {
      const next = text[i + 1];
      if (next !== "/" && next !== "\\" && next !== "[") {
        throw new SyntaxError(
          `invalid escape ${
            next === undefined ? "\\ at the end" : JSON.stringify(`\\${next}`)
          } in event type ${
            JSON.stringify(text)
          } (only \\/, \\\\ and \\[ are escapes)`,
        );
      }
      segment += text.slice(start, i) + next;
      start = i + 2;
      i++;
    }
  }
  segments.push(segment + text.slice(start));
  return segments;
}

function parseJsonType(text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || !value.every((s) => typeof s === "string")) {
    throw new SyntaxError(
      `invalid event type ${
        JSON.stringify(text)
      }: a type starting with [ must be a JSON array of strings`,
    );
  }
  return value;
}

/**
 * Writes an event type or query type as text: the segments joined by `/`,
 * with `/` and `\` inside a segment escaped as `\/` and `\\` (and a first
 * segment starting with `[` as `\[`). `[]` is `""`; `[""]`, which has no
 * such text, is written as JSON: `[""]`. {@linkcode parseEventType} reads
 * every result back to the same type.
 *
 * @param type The event type.
 * @returns Its text.
 * @example
 * ```ts
 * import { formatEventType } from "@hat/eventer";
 * import assert from "node:assert/strict";
 * assert.equal(formatEventType(["a", "b", "c"]), "a/b/c");
 * assert.equal(formatEventType(["unit", "m/s"]), "unit/m\\/s");
 * assert.equal(formatEventType([]), "");
 * ```
 */
export function formatEventType(type: EventType): string {
  if (type.length === 1 && type[0] === "") return '[""]';
  let text = "";
  for (let i = 0; i < type.length; i++) {
    const segment = type[i];
    if (i > 0) text += "/";
    text += segment.includes("/") || segment.includes("\\")
      ? segment.replaceAll(/[/\\]/g, "\\$&")
      : segment;
  }
  return text[0] === "[" ? `\\${text}` : text;
}
