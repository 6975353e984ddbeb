/**
 * Typed errors of Chatter connections, which the Eventer layer above
 * raises too.
 *
 * @module
 */

/** The connection is closed, or closed while a request was pending. */
export class ConnectionError extends Error {
  /**
   * Create the error.
   *
   * @param message Why the connection is unusable.
   * @param options Standard error options (`cause`).
   */
  constructor(message = "connection closed", options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/** The peer sent something the protocol does not allow. */
export class ProtocolError extends Error {
  /**
   * Create the error.
   *
   * @param message What the peer did wrong.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/** A send queue is full: the peer is not reading fast enough. */
export class BackpressureError extends ConnectionError {
  /**
   * Create the error.
   *
   * @param message Which queue is full.
   */
  constructor(message = "send queue full") {
    super(message);
    this.name = "BackpressureError";
  }
}
