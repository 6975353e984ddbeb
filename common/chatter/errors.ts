/**
 * Typed errors of Chatter connections, which the Eventer layer above
 * raises too. Each is an {@linkcode EventerError}: its `code` says why.
 *
 * @module
 */

import { EventerError, type EventerErrorOptions } from "../errors.ts";

/**
 * The connection is unusable: it could not be made, it is closed, or it
 * closed while a request was pending. `code` says why (`CLOSED` by
 * default; `CONNECTION_REFUSED`, `CONNECT_TIMEOUT`, `TLS`, `PING_TIMEOUT`,
 * or the code of the reason the connection closed for, which is then the
 * `cause`).
 */
export class ConnectionError extends EventerError {
  /**
   * Create the error.
   *
   * @param message Why the connection is unusable.
   * @param options The code (default `CLOSED`) and `cause`.
   */
  constructor(message = "connection closed", options?: EventerErrorOptions) {
    super(message, { ...options, code: options?.code ?? "CLOSED" });
    this.name = "ConnectionError";
  }
}

/**
 * The peer sent something the protocol does not allow. `code` says what:
 * `PROTOCOL` by default, `FRAME_TOO_LARGE`, `NOT_EVENTER` (the peer is not
 * speaking Chatter at all), `INIT_TIMEOUT` (a server's client sent no
 * init in time).
 */
export class ProtocolError extends EventerError {
  /**
   * Create the error.
   *
   * @param message What the peer did wrong.
   * @param options The code (default `PROTOCOL`) and `cause`.
   */
  constructor(message: string, options?: EventerErrorOptions) {
    super(message, { ...options, code: options?.code ?? "PROTOCOL" });
    this.name = "ProtocolError";
  }
}

/**
 * A send queue is full: the peer is not reading fast enough. `code` is
 * `BACKPRESSURE` (a message refused), `SLOW_CONSUMER` (a server cut the
 * client for it) or `QUEUE_FULL` (a `ReconnectingQueueFullError`).
 */
export class BackpressureError extends ConnectionError {
  /**
   * Create the error.
   *
   * @param message Which queue is full.
   * @param options The code (default `BACKPRESSURE`) and `cause`.
   */
  constructor(message = "send queue full", options?: EventerErrorOptions) {
    super(message, { ...options, code: options?.code ?? "BACKPRESSURE" });
    this.name = "BackpressureError";
  }
}
