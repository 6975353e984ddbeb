/**
 * A JSON payload kept as the text it arrived in: parsed only when its
 * `data` is read, and written back as that very text.
 *
 * @module
 */

import { isJsonText, type JsonValue, parseJsonText } from "../json/mod.ts";
import type { JsonPayload } from "./types.ts";

/**
 * A JSON payload that keeps its JSON text: written to the wire and to a
 * store as exactly that text (key order, `2.0`, escapes and spacing kept),
 * while `data` parses it on first read.
 *
 * A server made with `listen({ keepJsonText: true })` (the Event Server
 * is one) decodes the JSON payloads of register requests as these, and the
 * Event Server's store reads its stored payloads back as these: a
 * reference client gets back the bytes it sent, and a payload only stored
 * and forwarded is never parsed.
 *
 * The text is what is written: changing the value `data` returned does
 * not change the payload. For another value make a plain payload,
 * `{ kind: "json", data: other }` (a spread `{ ...payload }` copies `kind`
 * and `text` only: `data` is a getter). Two of these are deep-equal when
 * their texts are; `JSON.stringify` gives `{"kind":"json","data":...}`.
 *
 * @example Send a text as it is (a Python peer reads the keys in this order)
 * ```ts
 * import { JsonTextPayload } from "@hat/eventer";
 *
 * const payload = new JsonTextPayload('{"10": 1, "2": 2, "x": 2.0}');
 * console.log(payload.text); // {"10": 1, "2": 2, "x": 2.0}
 * console.log(payload.data); // { "2": 2, "10": 1, x: 2 }
 * ```
 */
export class JsonTextPayload implements JsonPayload {
  /** Discriminator. */
  readonly kind = "json";
  /** The JSON text, as it arrived: what is written. */
  readonly text: string;
  #data: JsonValue | undefined = undefined;

  /**
   * A payload of the JSON text `text`.
   *
   * @param text JSON text (one value, any white space).
   * @throws {SyntaxError} When `text` is not JSON, or holds a number
   * beyond the float range.
   */
  constructor(text: string) {
    if (unchecked) {
      unchecked = false;
    } else if (typeof text !== "string" || !isJsonText(text)) {
      throw new SyntaxError(
        `not a JSON text: ${String(text).slice(0, 64)}`,
      );
    }
    this.text = text;
  }

  /** The JSON value of the text, parsed on first read. */
  get data(): JsonValue {
    if (this.#data === undefined) this.#data = parseJsonText(this.text);
    return this.#data;
  }

  /** Shown by `console.log` and `Deno.inspect`: the text. */
  [Symbol.for("Deno.customInspect")](): string {
    return `JsonTextPayload ${this.text}`;
  }

  /** `{ kind: "json", data }`, for `JSON.stringify`. */
  toJSON(): { kind: "json"; data: JsonValue } {
    return { kind: "json", data: this.data };
  }
}

// Set for one construction by jsonTextPayloadUnchecked.
let unchecked = false;

/**
 * A {@linkcode JsonTextPayload} of a text the caller knows to be JSON (a
 * decoder that checked it, a store that wrote it): no second check.
 *
 * @param text JSON text, already checked.
 * @returns The payload.
 */
export function jsonTextPayloadUnchecked(text: string): JsonTextPayload {
  unchecked = true;
  return new JsonTextPayload(text);
}
