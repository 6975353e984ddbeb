/**
 * The SBS decoder: a bounds-checked cursor {@linkcode Reader} over a
 * `Uint8Array` (SPEC §1). Malformed input throws {@linkcode SbsError}.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { SbsError } from "./error.ts";
import { cachedAscii, makeAscii, MAX_CACHED_LENGTH } from "./string_cache.ts";

// 2^46: below this a number can take one more 7-bit group and stay exact.
const NUMBER_GROUP_LIMIT = 70368744177664;
/**
 * Widest Integer accepted by the decoder, in bytes (7,168 bits). SBS is
 * unbounded, but a hostile megabyte-long integer would cost quadratic time.
 */
export const MAX_INT_BYTES = 1024;

// ignoreBOM: a leading U+FEFF is a character of the string, as Python
// decodes it, not a byte order mark to drop.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// A DataView per ArrayBuffer, shared by every Reader over it.
const views = new WeakMap<ArrayBufferLike, DataView>();

function viewOf(buffer: ArrayBufferLike): DataView {
  let view = views.get(buffer);
  if (view === undefined) {
    view = new DataView(buffer);
    views.set(buffer, view);
  }
  return view;
}

// A node Buffer per ArrayBuffer, for decoding ASCII text: its latin1
// decoder is native, several times faster than String.fromCharCode over
// the bytes for texts of tens of bytes and more.
const nodeBuffers = new WeakMap<ArrayBufferLike, Buffer>();

function nodeBufferOf(buffer: ArrayBufferLike): Buffer {
  let b = nodeBuffers.get(buffer);
  if (b === undefined) {
    b = Buffer.from(buffer);
    nodeBuffers.set(buffer, b);
  }
  return b;
}

/** Cursor over SBS bytes; every read is bounds-checked. */
export class Reader {
  /** Input bytes. */
  readonly buf: Uint8Array;
  /** Current offset. */
  pos: number;
  /** End offset (exclusive). */
  readonly end: number;
  /** Where the input starts: error offsets count from here. */
  readonly start: number;
  #view: DataView | null = null;
  #nodeBuffer: Buffer | null = null;
  /** Whether {@linkcode Reader.bytesView} handed out a view into `buf`. */
  viewed = false;

  /**
   * @param buf Input bytes.
   * @param pos Start offset.
   * @param end End offset (exclusive).
   */
  constructor(buf: Uint8Array, pos = 0, end: number = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.start = pos;
  }

  /**
   * Throw an {@linkcode SbsError} for the input at `buf[at]`; its offset
   * counts from where this reader started.
   */
  fail(message: string, at: number): never {
    throw new SbsError(message, at - this.start);
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throw unless everything was consumed. */
  done(): void {
    if (this.pos !== this.end) {
      this.fail(`${this.end - this.pos} trailing bytes`, this.pos);
    }
  }

  /** One raw byte. */
  byte(): number {
    if (this.pos >= this.end) this.fail("truncated input", this.pos);
    return this.buf[this.pos++];
  }

  /** SBS Boolean (any non-zero byte is true). */
  bool(): boolean {
    return this.byte() !== 0;
  }

  /**
   * SBS Choice index, checked against the number of entries `count`;
   * the caller reads the chosen entry's value next.
   */
  choice(count: number): number {
    const at = this.pos;
    const b = this.byte();
    // Minimal encodings of small indices are one byte; anything else is
    // either a non-minimal encoding (accepted) or out of range.
    if (b >= 0x80 && b - 0x80 < count) return b - 0x80;
    this.pos = at;
    const i = this.int();
    if (typeof i !== "number" || i < 0 || i >= count) {
      this.fail(`invalid choice index ${i}`, at);
    }
    return i;
  }

  /**
   * SBS Optional: true when a value follows (`Choice { none, value }`).
   */
  optional(): boolean {
    return this.choice(2) === 1;
  }

  /**
   * SBS Integer: a `number` when it is a safe integer, else a `bigint`
   * (never a rounded number).
   */
  int(): number | bigint {
    const v = this.#shortInt();
    // NaN (the only value not equal to itself): wider than 5 bytes or
    // near the end of the input.
    return v === v ? v : this.#multiByteInt();
  }

  // Integers of up to 5 bytes (35 bits: ids, counts, timestamps until
  // 2514) when 5 bytes remain, unrolled; else NaN, and `pos` unchanged.
  #shortInt(): number {
    const pos = this.pos;
    if (pos + 4 >= this.end) return NaN;
    const buf = this.buf;
    let b = buf[pos];
    // The first group's 7 bits, sign-extended from its bit 6.
    let v = (b << 25) >> 25;
    if (b & 0x80) {
      this.pos = pos + 1;
      return v;
    }
    b = buf[pos + 1];
    v = (v << 7) | (b & 0x7f);
    if (b & 0x80) {
      this.pos = pos + 2;
      return v;
    }
    b = buf[pos + 2];
    v = (v << 7) | (b & 0x7f);
    if (b & 0x80) {
      this.pos = pos + 3;
      return v;
    }
    b = buf[pos + 3];
    v = (v << 7) | (b & 0x7f);
    if (b & 0x80) {
      this.pos = pos + 4;
      return v;
    }
    b = buf[pos + 4];
    if (b & 0x80) {
      this.pos = pos + 5;
      // 28 bits and the sign times 128: exact as a float.
      return v * 128 + (b & 0x7f);
    }
    return NaN;
  }

  #multiByteInt(): number | bigint {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    if (pos >= end) this.fail("truncated integer", pos);
    let b = buf[pos++];
    // Reached for integers wider than 5 bytes, or with fewer than 5 bytes
    // left (#shortInt takes the rest): float arithmetic, exact to 2^53.
    let v = b & 0x40 ? -1 : 0;
    for (;;) {
      v = v * 128 + (b & 0x7f);
      if (b & 0x80) {
        this.pos = pos;
        // -2^53 is the one unsafe value this loop can produce exactly.
        return v < -Number.MAX_SAFE_INTEGER ? BigInt(v) : v;
      }
      if (pos >= end) this.fail("truncated integer", pos);
      if (v >= NUMBER_GROUP_LIMIT || v < -NUMBER_GROUP_LIMIT) break;
      b = buf[pos++];
    }
    // Too wide for exact float arithmetic: continue in bigint.
    const start = this.pos;
    let big = BigInt(v);
    for (;;) {
      b = buf[pos++];
      big = (big << 7n) | BigInt(b & 0x7f);
      if (b & 0x80) break;
      if (pos >= end) this.fail("truncated integer", pos);
      if (pos - start >= MAX_INT_BYTES) {
        this.fail(`integer wider than ${MAX_INT_BYTES} bytes`, start);
      }
    }
    this.pos = pos;
    const n = Number(big);
    return Number.isSafeInteger(n) ? n : big;
  }

  /** SBS Integer that must be a safe integer (ids, counters). */
  safeInt(): number {
    const short = this.#shortInt();
    if (short === short) return short;
    const at = this.pos;
    const v = this.#multiByteInt();
    if (typeof v !== "number") {
      this.fail(`integer ${v} exceeds 2^53 - 1`, at);
    }
    return v;
  }

  /** SBS Integer used as a count or length: non-negative and at most `remaining` (or `limit`). */
  length(limit: number = this.end - this.pos): number {
    const at = this.pos;
    const v = this.int();
    if (typeof v !== "number" || v < 0 || v > limit) {
      this.fail(`invalid length ${v}`, at);
    }
    return v;
  }

  /**
   * A DataView of the whole ArrayBuffer under `buf`, for multi-byte loads:
   * `buf[i]` is its byte `buf.byteOffset + i`. One per ArrayBuffer, shared
   * by every Reader over it (a receive buffer holds many messages, and a
   * DataView per Reader would be an allocation per message) and kept while
   * the buffer lives.
   */
  view(): DataView {
    return this.#view ??= viewOf(this.buf.buffer);
  }

  /** SBS Float. */
  float(): number {
    if (this.end - this.pos < 8) {
      this.fail("truncated float", this.pos);
    }
    const v = this.view().getFloat64(this.buf.byteOffset + this.pos);
    this.pos += 8;
    return v;
  }

  /** Skip SBS Bytes; returns where they start in `buf` (they end at `pos`). */
  skipBytes(): number {
    const n = this.length();
    const start = this.pos;
    this.pos += n;
    return start;
  }

  /** SBS Bytes as a view into the input (no copy); sets `viewed`. */
  bytesView(): Uint8Array {
    this.viewed = true;
    const start = this.skipBytes();
    return this.buf.subarray(start, this.pos);
  }

  /** SBS Bytes as a copy, independent of the input buffer. */
  bytes(): Uint8Array {
    const n = this.length();
    const start = this.pos;
    this.pos += n;
    return this.buf.slice(start, start + n);
  }

  /** SBS String (strict UTF-8). */
  string(): string {
    const n = this.length();
    const buf = this.buf;
    const start = this.pos;
    const end = start + n;
    this.pos = end;
    if (n > MAX_CACHED_LENGTH || n === 0) {
      return n === 0 ? "" : this.#utf8(start, end);
    }
    // Short ASCII strings: interned, found by a hash of five of their
    // bytes (message type names differ in their ends) and compared whole.
    let h = n * 31 + buf[start];
    if (n > 1) {
      h = h * 31 + buf[start + 1];
      h = h * 31 + buf[start + (n >> 1)];
      h = h * 31 + buf[end - 2];
      h = h * 31 + buf[end - 1];
    }
    const hit = cachedAscii(buf, start, end, h);
    if (hit !== undefined) return hit;
    for (let i = start; i < end; i++) {
      if (buf[i] >= 0x80) return this.#utf8(start, end);
    }
    return makeAscii(buf, start, end, h);
  }

  /**
   * The next `n` bytes (at most `remaining`) as latin1 characters: the
   * body of an SBS String of `n` bytes that the caller found ASCII.
   */
  latin1(n: number): string {
    const start = this.pos;
    if (n > this.end - start) this.fail("truncated input", start);
    this.pos = start + n;
    return this.#latin1(start, start + n);
  }

  #latin1(start: number, end: number): string {
    const offset = this.buf.byteOffset;
    return (this.#nodeBuffer ??= nodeBufferOf(this.buf.buffer)).toString(
      "latin1",
      offset + start,
      offset + end,
    );
  }

  #utf8(start: number, end: number): string {
    if (end - start <= 1024) {
      // TextDecoder's per-call overhead dominates for texts this short;
      // ASCII (all a Python peer's JSON text is) decodes as latin1.
      const buf = this.buf;
      let i = start;
      while (i < end && buf[i] < 0x80) i++;
      if (i === end) return this.#latin1(start, end);
    }
    try {
      return utf8Decoder.decode(this.buf.subarray(start, end));
    } catch {
      this.fail("invalid UTF-8 string", start);
    }
  }
}
