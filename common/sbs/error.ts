/**
 * The error of malformed SBS input.
 *
 * @module
 */

/** Error raised for truncated or malformed SBS input. */
export class SbsError extends Error {
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
   */
  constructor(message: string, offset: number) {
    super(`${message} (at byte ${offset})`);
    this.name = "SbsError";
    this.offset = offset;
  }
}
