/**
 * Chatter (SPEC §2): framed `HatChatter.Msg` messages over TCP or TLS,
 * conversations, Ping/Pong keepalive and bounded queues. The layer above
 * SBS and below the Eventer messages.
 *
 * The hot path, top to bottom: `connection.ts` (read loop, frame parser,
 * delivery), `frame.ts` (frame and `HatChatter.Msg` codec), then the
 * connection's parts: `_receive_buffer.ts`, `_inbox.ts`,
 * `_send_queue.ts`, `_keepalive.ts`.
 *
 * @module
 */

export { type Address, toAddress } from "./address.ts";
export { connect } from "./connect.ts";
export { Connection } from "./connection.ts";
export { BackpressureError, ConnectionError, ProtocolError } from "./errors.ts";
export {
  type ChatterHeader,
  ChatterMsg,
  frameBodyLength,
  type Payload,
  readChatterMsg,
  writeFrame,
  writeFrameHead,
} from "./frame.ts";
export { ChatterServer, type ConnectionHandler, listen } from "./listen.ts";
export { type Conversation, convKey, Msg } from "./msg.ts";
export {
  type ChatterOptions,
  checkChatterOptions,
  type ConnectOptions,
  type ConnectTlsOptions,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_PING_DELAY,
  DEFAULT_PING_TIMEOUT,
  DEFAULT_RECEIVE_QUEUE_SIZE,
  DEFAULT_SEND_QUEUE_BYTES,
  DEFAULT_SEND_QUEUE_SIZE,
  type ListenOptions,
  type ListenTlsOptions,
  type SendOptions,
} from "./options.ts";
