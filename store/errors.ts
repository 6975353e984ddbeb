/**
 * Errors raised by the event store.
 *
 * @module
 */

/** Error of the event store itself: closed, or an unusable database file. */
export class StoreError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "StoreError";
  }
}

/**
 * A register request holds an event type that cannot be registered: one
 * with a `?` or `*` segment (those only make sense in query types).
 * The whole request is refused; no id is assigned.
 */
export class InvalidEventTypeError extends TypeError {
  /** The offending event type. */
  readonly eventType: readonly string[];

  /**
   * Creates the error for one event type.
   *
   * @param eventType The offending event type.
   * @param message What is wrong.
   */
  constructor(eventType: readonly string[], message: string) {
    super(message);
    this.name = "InvalidEventTypeError";
    this.eventType = eventType;
  }
}
