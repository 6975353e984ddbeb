/**
 * Chatter framing and the `HatChatter.Msg` record (SPEC §2).
 *
 * A frame is `[m][k: m bytes, big-endian][body: k bytes]`; the body is one
 * SBS `HatChatter.Msg`.
 *
 * @module
 */

import { intWidth, Reader, SbsError, type Writer } from "../sbs/mod.ts";

/**
 * Decoded `HatChatter.Msg`. Its payload is `buf[dataStart, dataEnd)`, in
 * the frame's buffer: read it there, or take the view `data`.
 */
export class ChatterMsg {
  /**
   * @param id Sender's message counter.
   * @param first Id of the first message of the conversation.
   * @param owner True when the sender owns the conversation.
   * @param token True when the sender passes the turn.
   * @param last True when this message ends the conversation.
   * @param type Payload type name, e.g. `HatEventer.MsgQueryReq`.
   * @param buf The frame's buffer.
   * @param dataStart Where the payload's SBS bytes start in `buf`.
   * @param dataEnd Where they end (exclusive).
   */
  constructor(
    readonly id: number,
    readonly first: number,
    readonly owner: boolean,
    readonly token: boolean,
    readonly last: boolean,
    readonly type: string,
    readonly buf: Uint8Array,
    readonly dataStart: number,
    readonly dataEnd: number,
  ) {}

  /** Payload SBS bytes: a view into `buf`. */
  get data(): Uint8Array {
    return this.buf.subarray(this.dataStart, this.dataEnd);
  }

  /** The header fields as a plain object, to compare or record. */
  header(): ChatterHeader {
    const { id, first, owner, token, last, type } = this;
    return { id, first, owner, token, last, type };
  }
}

/** The fields of a `HatChatter.Msg` other than its payload. */
export type ChatterHeader = Pick<
  ChatterMsg,
  "id" | "first" | "owner" | "token" | "last" | "type"
>;

/** Payload of a message to send: bytes, a function writing them, or nothing. */
export type Payload = Uint8Array | ((w: Writer) => void) | null;

/**
 * Append one whole frame to `w`.
 *
 * A written payload is encoded in place, after room for the header and the
 * payload's length guessed from `sizeHint` (e.g. the size of the previous
 * frame); a wrong guess moves the payload once.
 */
export function writeFrame(
  w: Writer,
  id: number,
  first: number,
  owner: boolean,
  token: boolean,
  last: boolean,
  type: string,
  payload: Payload,
  sizeHint = 0,
): void {
  if (payload instanceof Uint8Array) {
    writeFrameHead(w, id, first, owner, token, last, type, payload.length);
    w.raw(payload);
    return;
  }
  const guess = headerWidth(sizeHint);
  const start = beginFrame(w, guess, id, first, owner, token, last, type);
  if (payload === null) {
    w.byte(0x80);
  } else {
    const mark = w.beginLength(sizeHint);
    payload(w);
    w.endLength(mark);
  }
  const len = w.pos - start - 1 - guess;
  const m = headerWidth(len);
  if (m !== guess) {
    if (m > guess) w.ensure(m - guess);
    w.buf.copyWithin(start + 1 + m, start + 1 + guess, w.pos);
    w.pos += m - guess;
  }
  writeHeader(w.buf, start, m, len);
}

/**
 * Append a frame whose payload is `dataLength` bytes, all but those bytes:
 * the caller sends them after what this wrote (Chatter writes large shared
 * payloads from their own buffer instead of copying them per connection).
 */
export function writeFrameHead(
  w: Writer,
  id: number,
  first: number,
  owner: boolean,
  token: boolean,
  last: boolean,
  type: string,
  dataLength: number,
): void {
  finishHead(
    w,
    beginFrame(w, 1, id, first, owner, token, last, type),
    dataLength,
  );
}

// Reserve a header for a `lengthBytes`-byte length and write the fields
// before `data`; returns where the frame starts.
function beginFrame(
  w: Writer,
  lengthBytes: number,
  id: number,
  first: number,
  owner: boolean,
  token: boolean,
  last: boolean,
  type: string,
): number {
  const start = w.pos;
  w.ensure(1 + lengthBytes);
  w.pos += 1 + lengthBytes;
  w.int(id);
  w.int(first);
  w.ensure(3);
  const buf = w.buf;
  buf[w.pos++] = owner ? 1 : 0;
  buf[w.pos++] = token ? 1 : 0;
  buf[w.pos++] = last ? 1 : 0;
  w.string(type);
  return start;
}

// The frame at `start` has its fields written; add the payload's length
// prefix and the frame header, now that the frame's length is known (only
// the few bytes of fields move to make room for a wider header).
function finishHead(w: Writer, start: number, dataLength: number): void {
  const len = w.pos - start - 2 + intWidth(dataLength) + dataLength;
  const m = headerWidth(len);
  if (m > 1) {
    w.ensure(m - 1);
    w.buf.copyWithin(start + 1 + m, start + 2, w.pos);
    w.pos += m - 1;
  }
  w.int(dataLength);
  writeHeader(w.buf, start, m, len);
}

// Bytes of the big-endian frame length.
function headerWidth(len: number): number {
  let m = 1;
  for (let l = len; l > 255; l = Math.floor(l / 256)) m++;
  return m;
}

function writeHeader(
  out: Uint8Array,
  start: number,
  m: number,
  len: number,
): void {
  out[start] = m;
  for (let i = start + m; i > start; i--) {
    out[i] = len & 0xff;
    len = Math.floor(len / 256);
  }
}

/**
 * Length of the frame body announced by the header at `buf[pos]`, or -1
 * when the header is not complete yet.
 *
 * @throws {SbsError} When the announced length exceeds `maxSize` (code
 * `FRAME_TOO_LARGE`; its offset is `pos`).
 */
export function frameBodyLength(
  buf: Uint8Array,
  pos: number,
  end: number,
  maxSize: number,
): number {
  if (pos >= end) return -1;
  const m = buf[pos];
  if (end - pos < 1 + m) return -1;
  let k = 0;
  for (let i = pos + 1; i <= pos + m; i++) {
    k = k * 256 + buf[i];
    // Checked per byte so a 255-byte length cannot overflow first.
    if (k > maxSize) {
      throw new SbsError(
        `frame announces more than the ${maxSize}-byte maximum`,
        pos,
        { code: "FRAME_TOO_LARGE" },
      );
    }
  }
  return k;
}

/**
 * Decode one `HatChatter.Msg` body occupying `buf[start, end)`.
 *
 * @throws {SbsError} When the body is malformed or has trailing bytes.
 */
export function readChatterMsg(
  buf: Uint8Array,
  start: number,
  end: number,
): ChatterMsg {
  const r = new Reader(buf, start, end);
  const id = r.safeInt();
  const first = r.safeInt();
  const owner = r.bool();
  const token = r.bool();
  const last = r.bool();
  const type = r.string();
  const dataStart = r.skipBytes();
  r.done();
  return new ChatterMsg(
    id,
    first,
    owner,
    token,
    last,
    type,
    buf,
    dataStart,
    r.pos,
  );
}
