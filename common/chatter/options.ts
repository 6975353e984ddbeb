/**
 * Options of Chatter connections, their defaults, and the options of a
 * single send.
 *
 * @module
 */

import { checkDuration } from "../async/mod.ts";
import type { Conversation } from "./msg.ts";

/**
 * Milliseconds without incoming data before a Ping, by default (20 s,
 * SPEC §2).
 */
export const DEFAULT_PING_DELAY = 20_000;
/** Milliseconds to wait for data after a Ping, by default (20 s, SPEC §2). */
export const DEFAULT_PING_TIMEOUT = 20_000;
/** Received messages buffered before reading pauses, by default. */
export const DEFAULT_RECEIVE_QUEUE_SIZE = 1024;
/** Messages queued for the socket before senders wait, by default. */
export const DEFAULT_SEND_QUEUE_SIZE = 1024;
/**
 * Bytes queued for the socket before senders wait, by default (64 MiB,
 * nats-server's `max_pending`).
 */
export const DEFAULT_SEND_QUEUE_BYTES = 64 * 1024 * 1024;
/**
 * Largest accepted frame body in bytes, by default (32 MiB). Decoded
 * messages take up to ~20 times their size on the heap (minimal events),
 * so no frame accepted under the defaults takes a process past ~1 GiB.
 */
export const DEFAULT_MAX_FRAME_SIZE = 32 * 1024 * 1024;

/**
 * Options of every Eventer connection, client or server side: keepalive,
 * queue bounds and the frame limit. Part of the options of `connect`,
 * `listen`, `connectReconnecting` and `startEventServer`.
 */
export interface ChatterOptions {
  /**
   * Milliseconds without incoming data before sending a Ping (default
   * 20000; 0 or null: never). Incoming data is noticed by a check every
   * eighth of this delay, so a Ping goes out up to about a sixth of it
   * later.
   */
  pingDelay?: number | null;
  /**
   * Milliseconds to wait for any data after a Ping before closing (default
   * 20000).
   */
  pingTimeout?: number;
  /** Received messages buffered before reading pauses (default 1024). */
  receiveQueueSize?: number;
  /**
   * Messages queued for the socket, and not yet written, before senders
   * wait (default 1024). Replies, acks, Ping and Pong are never refused.
   */
  sendQueueSize?: number;
  /**
   * Bytes queued for the socket, and not yet written, before senders wait
   * (default 64 MiB): a payload shared with other connections counts in
   * full for each. One message may take the queue past it.
   */
  sendQueueBytes?: number;
  /**
   * Largest accepted frame body in bytes (default 32 MiB); a peer that
   * announces a larger one is disconnected. Decoded messages take up to
   * ~20 times their wire size.
   */
  maxFrameSize?: number;
}

/** TLS options when connecting. */
export interface ConnectTlsOptions {
  /** PEM CA certificates to trust besides the system's. */
  caCerts?: string[];
}

/** TLS options when listening. */
export interface ListenTlsOptions {
  /** PEM certificate chain. */
  cert: string;
  /** PEM private key. */
  key: string;
}

/**
 * The connection's part of the options of `connect`: TLS and an abort
 * signal, and the fields of {@linkcode ChatterOptions}.
 */
export interface ConnectOptions extends ChatterOptions {
  /** Connect over TLS. */
  tls?: ConnectTlsOptions;
  /** Abort connecting. */
  signal?: AbortSignal;
}

/**
 * The connections' part of the options of `listen`: TLS and an abort
 * signal, and the fields of {@linkcode ChatterOptions}.
 */
export interface ListenOptions extends ChatterOptions {
  /** Listen with TLS. */
  tls?: ListenTlsOptions;
  /**
   * Closes the server when it aborts, as `close()` does. Already aborted,
   * `listen` rejects with its reason without binding.
   */
  signal?: AbortSignal;
}

/** Options of a single send. */
export interface SendOptions {
  /** Reply within this conversation (default: start a new one). */
  conv?: Conversation;
  /** End the conversation (default true). */
  last?: boolean;
  /** Pass the turn (default true). */
  token?: boolean;
  /**
   * Queue even past the send queue's bounds (default false): for replies,
   * acks and keepalive, whose number the peer bounds by what it sends.
   */
  reserved?: boolean;
}

/**
 * Checks the durations of Chatter options (`pingDelay`, `pingTimeout`).
 *
 * @param options The options.
 * @throws {TypeError} Naming the option, for a duration that is not a
 * finite number of milliseconds >= 0.
 */
export function checkChatterOptions(options: ChatterOptions): void {
  checkDuration("pingDelay", options.pingDelay, true);
  checkDuration("pingTimeout", options.pingTimeout);
}
