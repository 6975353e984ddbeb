/**
 * What a JSON payload holds, and the error for what it cannot hold.
 *
 * @module
 */

/**
 * A JSON value. Integers beyond 2^53 - 1 received from peers are `bigint`
 * rather than silently rounded numbers; `bigint` values are written as
 * plain JSON integers.
 */
export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** Error for a value that has no JSON text (NaN, Infinity, a cycle, a function). */
export class JsonPayloadError extends TypeError {
  /**
   * Create the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "JsonPayloadError";
  }
}
