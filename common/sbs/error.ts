/**
 * The error of malformed SBS input.
 *
 * @module
 */

import { EventerError, type EventerErrorOptions } from "../errors.ts";

/**
 * Error raised for truncated or malformed SBS input: code `PROTOCOL`
 * (`FRAME_TOO_LARGE` for a Chatter frame header announcing more than the
 * limit). A connection closing for one raises a `ProtocolError` with it
 * as `cause`.
 */
export class SbsError extends EventerError {
  /**
   * Byte offset at which decoding failed, counted from the start of the
   * input (for a {@linkcode Reader}, from where it started).
   */
  readonly offset: number;

  /**
   * Create the error.
   *
   * @param message What is wrong.
   * @param offset Byte offset at which decoding failed.
   * @param options The code (default `PROTOCOL`).
   */
  constructor(message: string, offset: number, options?: EventerErrorOptions) {
    super(`${message} (at byte ${offset})`, {
      ...options,
      code: options?.code ?? "PROTOCOL",
    });
    this.name = "SbsError";
    this.offset = offset;
  }
}
