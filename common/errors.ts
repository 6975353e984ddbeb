/**
 * The codes of the library's errors, and {@linkcode EventerError}, the
 * base of every error class of the library that carries one (as
 * nats.deno's `NatsError`). The class says what failed (a connection,
 * the server's init, decoding); the code says why, so that one
 * `switch (e.code)` covers them all.
 *
 * @module
 */

/**
 * Why an {@linkcode EventerError} was thrown, one stable string each.
 * Compare `e.code` with these (`e.code === ErrorCode.PING_TIMEOUT`) or
 * with the string itself (`"PING_TIMEOUT"`); the texts of messages may
 * change between versions, the codes do not.
 *
 * @example
 * ```ts
 * import { ErrorCode, EventerError } from "@hat/eventer";
 *
 * function advice(e: unknown): string {
 *   if (!(e instanceof EventerError)) return "a bug: see the stack";
 *   switch (e.code) {
 *     case ErrorCode.CONNECTION_REFUSED:
 *     case ErrorCode.CONNECT_TIMEOUT:
 *       return "retry later";
 *     case ErrorCode.INIT_REFUSED:
 *       return "fix the token or the subscriptions";
 *     default:
 *       return e.message;
 *   }
 * }
 * console.log(advice(new EventerError("no", { code: "INIT_REFUSED" })));
 * ```
 */
export const ErrorCode = {
  /**
   * Connecting failed: the port refused, the host is unreachable, or its
   * name does not resolve. Check that the Event Server runs and listens
   * on that address and port (Hat's default is 23012), then retry.
   */
  CONNECTION_REFUSED: "CONNECTION_REFUSED",
  /**
   * `connectTimeout` passed before the TCP connection, the TLS handshake
   * and the server's init reply were all done. The host may be
   * unreachable (packets dropped) or the server stuck; retry, or raise
   * `connectTimeout`.
   */
  CONNECT_TIMEOUT: "CONNECT_TIMEOUT",
  /**
   * TLS failed: a certificate that is not trusted or does not name the
   * host (give its CA in `tls.caCerts`), TLS on one side only (the
   * message says which side speaks it: use `tls` on both or on neither),
   * or a certificate and key that `listen` cannot use.
   */
  TLS: "TLS",
  /**
   * The peer is not speaking Chatter: it sent text (HTTP, a banner) or
   * bytes no Hat peer sends first. The address most likely points at
   * another service: is this a Hat Event Server port?
   */
  NOT_EVENTER: "NOT_EVENTER",
  /**
   * The server refused the client's init; the message is the server's
   * text (e.g. `invalid client token`). Redialing does not help until
   * the token or the subscriptions change.
   */
  INIT_REFUSED: "INIT_REFUSED",
  /**
   * The connection or client is closed: closed by this side, or by the
   * peer with no error, or lost (reset). Requests made after closing
   * fail with it. Reconnect if it was not you who closed it.
   */
  CLOSED: "CLOSED",
  /**
   * Nothing arrived within `pingTimeout` after a Ping: the peer or the
   * network is down or stuck, so the connection was closed. Reconnect
   * (the reconnecting client does).
   */
  PING_TIMEOUT: "PING_TIMEOUT",
  /**
   * The peer sent what the protocol does not allow: a malformed frame or
   * message, an unexpected message type, a stream ending inside a frame.
   * The connection was closed; a bug or a version mismatch in the peer.
   */
  PROTOCOL: "PROTOCOL",
  /**
   * The peer announced a frame larger than `maxFrameSize` (on a server,
   * `initMaxFrameSize` before the init), and the connection was closed
   * before reading it. Raise the limit if the peer is legitimate.
   */
  FRAME_TOO_LARGE: "FRAME_TOO_LARGE",
  /**
   * Server side: a client that stopped reading was disconnected because
   * what waited for it reached `sendQueueSize` messages or
   * `sendQueueBytes` bytes. Make the client read faster (a slow
   * `eventsCb`), or raise the limits if it is only bursty.
   */
  SLOW_CONSUMER: "SLOW_CONSUMER",
  /**
   * A message was refused at once because the send queue is full: the
   * peer is not reading fast enough. Wait, and send again.
   */
  BACKPRESSURE: "BACKPRESSURE",
  /**
   * The reconnecting client already holds `maxPending` requests while
   * disconnected and refused one more at once. Back off until it
   * reconnects (see `status()`), or raise `maxPending`.
   */
  QUEUE_FULL: "QUEUE_FULL",
  /**
   * The reconnecting client gave up (a refused init, a bad option, or
   * `maxReconnectAttempts` failed rounds) and closed; `cause` is the last
   * failure. Fix that cause, then make a new client.
   */
  GAVE_UP: "GAVE_UP",
  /**
   * Server side: a new connection sent no MsgInitReq within
   * `initTimeout` and was closed: a client that is not an Eventer client,
   * or one too slow to start.
   */
  INIT_TIMEOUT: "INIT_TIMEOUT",
  /**
   * `listen` or `startEventServer`: another socket already listens on
   * that address and port. Stop it (another Event Server?), or choose
   * another port (0 picks a free one).
   */
  ADDRESS_IN_USE: "ADDRESS_IN_USE",
  /**
   * `listen` or `startEventServer` could not bind for another reason than
   * a port in use: an address that is not this host's, a port below 1024
   * without the privilege, no `--allow-net`. The message has the system's
   * reason.
   */
  LISTEN_FAILED: "LISTEN_FAILED",
  /**
   * Server side: your `registerCb` or `queryCb` threw or rejected (or
   * returned what cannot be sent), and the client's connection was
   * closed; `cause` is the error. Return `null` from `registerCb` to
   * answer failure instead.
   */
  CALLBACK_FAILED: "CALLBACK_FAILED",
  /**
   * A query type has a `*` that is not its last segment
   * (`InvalidQueryTypeError`). Move the `*` to the end, or use
   * `?` for one segment.
   */
  INVALID_QUERY_TYPE: "INVALID_QUERY_TYPE",
  /**
   * The Event Server's database is open in another Event Server (in this
   * process or another): stop that one, or give this one another `db`.
   */
  DATABASE_IN_USE: "DATABASE_IN_USE",
  /**
   * The Event Server's database cannot be opened or used: a path that
   * cannot be created, a file that is not one of its databases, a schema
   * from a newer version. The message has the reason.
   */
  STORE: "STORE",
  /**
   * An Event Server's engine module could not be created: its `create`
   * threw, rejected or returned no module. The message names the module.
   */
  MODULE: "MODULE",
} as const;

/** One of the strings of {@linkcode ErrorCode}. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** Options of an {@linkcode EventerError}: the standard `cause`, and a code. */
export interface EventerErrorOptions extends ErrorOptions {
  /** Why (each subclass has a default). */
  code?: ErrorCode;
}

/**
 * An error of the library, with a stable {@linkcode ErrorCode} saying why
 * and, where there is one, the underlying error as `cause` (Deno's error
 * for a socket, an `SbsError` for a malformed message, the
 * connection's reason for a request that failed because it closed).
 *
 * Every error the library throws, rejects with or closes a connection for
 * is one, except the checks of arguments and options: those are the
 * built-in `TypeError` and `RangeError` (and `SyntaxError` from the text
 * parsers), as in Deno's own APIs, with a message naming the argument;
 * `JsonPayloadError` is such a `TypeError`. They mean the call
 * itself is wrong, and have no code.
 *
 * @example
 * ```ts
 * import { ErrorCode, EventerError } from "@hat/eventer";
 *
 * const e = new EventerError("cannot listen on 127.0.0.1:23012", {
 *   code: ErrorCode.ADDRESS_IN_USE,
 * });
 * console.log(e.code, e instanceof Error); // ADDRESS_IN_USE true
 * ```
 */
export class EventerError extends Error {
  /** Why, as a stable string: see {@linkcode ErrorCode}. */
  readonly code: ErrorCode;

  /**
   * Create the error.
   *
   * @param message What failed and what to do about it.
   * @param options The code, and the underlying error as `cause`.
   */
  constructor(
    message: string,
    options: EventerErrorOptions & { code: ErrorCode },
  ) {
    super(message, options);
    this.name = "EventerError";
    this.code = options.code;
  }
}
