/**
 * Errors raised by the event store.
 *
 * @module
 */

import { EventerError, type EventerErrorOptions } from "../common/errors.ts";

/**
 * Error of the event store itself: closed (code `CLOSED`), or an unusable
 * database file (`STORE`, the default).
 */
export class StoreError extends EventerError {
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options The code (default `STORE`) and `cause`.
   */
  constructor(message: string, options?: EventerErrorOptions) {
    super(message, { ...options, code: options?.code ?? "STORE" });
    this.name = "StoreError";
  }
}

/**
 * The database file is open in another store, in this process or another
 * one, through whatever path: two stores on one file would give the same
 * ids to different events. Code `DATABASE_IN_USE`.
 */
export class DatabaseInUseError extends StoreError {
  /** The path that was asked for. */
  readonly path: string;

  /**
   * Creates the error.
   *
   * @param path The path that was asked for.
   */
  constructor(path: string) {
    super(`database ${path} is in use by another event store`, {
      code: "DATABASE_IN_USE",
    });
    this.name = "DatabaseInUseError";
    this.path = path;
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

/** Which limit an {@linkcode EventLimitError} is about. */
export type EventLimit =
  | "maxEventTypeSegments"
  | "maxEventTypeBytes"
  | "maxPayloadBytes";

/**
 * A register request holds an event beyond one of the store's limits on
 * what a client may make it keep: segments or bytes of its type, bytes of
 * its payload. The whole request is refused; no id is assigned.
 */
export class EventLimitError extends RangeError {
  /** The limit exceeded (its option name). */
  readonly limit: EventLimit;
  /** The limit's value. */
  readonly max: number;

  /**
   * Creates the error.
   *
   * @param limit The limit exceeded (its option name).
   * @param max The limit's value.
   * @param what What exceeds it, for the message.
   */
  constructor(limit: EventLimit, max: number, what: string) {
    super(`${what} exceeds ${limit} (${max})`);
    this.name = "EventLimitError";
    this.limit = limit;
    this.max = max;
  }
}
