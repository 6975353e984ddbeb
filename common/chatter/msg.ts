/**
 * Conversations, and the application messages a connection receives.
 *
 * @module
 */

import { Reader } from "../sbs/mod.ts";

/** A conversation, seen from this side. */
export interface Conversation {
  /** True when this side started the conversation. */
  owner: boolean;
  /** Id of the conversation's first message. */
  firstId: number;
}

/** Numeric key of a conversation, for maps. */
export function convKey(conv: Conversation): number {
  return conv.firstId * 2 + (conv.owner ? 1 : 0);
}

/**
 * A received application message. Its payload is `buf[start, end)` in the
 * connection's receive buffer (decode before the next `receive`, or
 * `release` it when no view into it is kept).
 */
export class Msg {
  /**
   * @param conv The conversation, from this side's point of view.
   * @param first True when this message started the conversation.
   * @param last True when this message ended the conversation.
   * @param token True when the peer passed the turn.
   * @param type Payload type name.
   * @param buf The receive buffer holding the payload.
   * @param start Where the payload's SBS bytes start in `buf`.
   * @param end Where they end (exclusive).
   */
  constructor(
    readonly conv: Conversation,
    readonly first: boolean,
    readonly last: boolean,
    readonly token: boolean,
    readonly type: string,
    readonly buf: Uint8Array,
    readonly start: number,
    readonly end: number,
  ) {}

  /** Payload SBS bytes: a view into `buf`. */
  get data(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }

  /** A reader of the payload, where it lies in `buf`. */
  reader(): Reader {
    return new Reader(this.buf, this.start, this.end);
  }
}
