/**
 * SBS (Simple Binary Serialization) primitives: a growable {@linkcode Writer}
 * and a bounds-checked cursor {@linkcode Reader} over `Uint8Array`.
 *
 * Schema-driven: the bytes name no field or type, so callers read and
 * write in schema order (see SPEC §1).
 *
 * @module
 */

/** Error raised for truncated or malformed SBS input. */
export class SbsError extends Error {
  /**
   * Byte offset at which decoding failed, counted from the start of the
   * input (for a {@linkcode Reader}, from where it started).
   */
  readonly offset: number;

  /**
   * Create the error.
   *
   * @param message What is wrong.
   * @param offset Byte offset at which decoding failed.
   */
  constructor(message: string, offset: number) {
    super(`${message} (at byte ${offset})`);
    this.name = "SbsError";
    this.offset = offset;
  }
}

const INITIAL_CAPACITY = 256;
// 2^46: below this a number can take one more 7-bit group and stay exact.
const NUMBER_GROUP_LIMIT = 70368744177664;
/**
 * Widest Integer accepted by the decoder, in bytes (7,168 bits). SBS is
 * unbounded, but a hostile megabyte-long integer would cost quadratic time.
 */
export const MAX_INT_BYTES = 1024;

const STRING_CACHE_SIZE = 4096;
/** Longest string the cache holds (bytes, all ASCII). */
const STRING_CACHE_MAX = 32;
const stringCache: (string | undefined)[] = new Array(STRING_CACHE_SIZE);
// The bytes of each cached string, STRING_CACHE_MAX per slot: comparing
// bytes with bytes costs half of comparing them with `charCodeAt` (a
// 25-character hit 68 → 28 ns). Made on first use (128 KB per process).
let stringBytes: Uint8Array | null = null;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The string of the ASCII bytes `buf[start, end)`, from a cache of recent
 * ones when it is there (`hash`: any hash of those bytes, computed by the
 * caller while it checked them). Short strings repeat endlessly (event type
 * segments, message type names, JSON keys): comparing a few bytes costs
 * less than allocating a string, and TextDecoder is slower still. Strings
 * longer than 32 bytes are made, not cached.
 */
export function internAscii(
  buf: Uint8Array,
  start: number,
  end: number,
  hash: number,
): string {
  return cachedAscii(buf, start, end, hash) ??
    makeAscii(buf, start, end, hash);
}

// The string of the ASCII bytes `buf[start, end)`, made and, if short
// enough, cached under `hash` (the caller found it not cached).
function makeAscii(
  buf: Uint8Array,
  start: number,
  end: number,
  hash: number,
): string {
  const n = end - start;
  // Up to 8 characters, one at a time costs no more; beyond, one call
  // costs less (116 vs 244 ns at 20).
  let s = "";
  if (n <= 8) {
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
  } else {
    s = String.fromCharCode.apply(
      null,
      buf.subarray(start, end) as unknown as number[],
    );
  }
  if (n <= STRING_CACHE_MAX) {
    const slot = hash & (STRING_CACHE_SIZE - 1);
    const bytes = stringBytes ??= new Uint8Array(
      STRING_CACHE_SIZE * STRING_CACHE_MAX,
    );
    const base = slot * STRING_CACHE_MAX;
    for (let i = 0; i < n; i++) bytes[base + i] = buf[start + i];
    stringCache[slot] = s;
  }
  return s;
}

// The cached string of the bytes `buf[start, end)` under `hash`, if any
// (a hit proves them ASCII: only ASCII strings are cached).
function cachedAscii(
  buf: Uint8Array,
  start: number,
  end: number,
  hash: number,
): string | undefined {
  const slot = hash & (STRING_CACHE_SIZE - 1);
  const hit = stringCache[slot];
  const n = end - start;
  if (hit === undefined || hit.length !== n) return undefined;
  const bytes = stringBytes!;
  const base = slot * STRING_CACHE_MAX - start;
  for (let i = start; i < end; i++) {
    if (bytes[base + i] !== buf[i]) return undefined;
  }
  return hit;
}

/**
 * Write the SBS Integer `v` (an int32) at `buf[pos]`, which has room for
 * 5 bytes; returns the position after it. Fewest 7-bit groups whose top
 * group's bit 6 equals the sign.
 */
export function putInt32(buf: Uint8Array, pos: number, v: number): number {
  if (v >= -64 && v < 64) {
    buf[pos] = (v & 0x7f) | 0x80;
    return pos + 1;
  }
  if (v >= -8192 && v < 8192) {
    buf[pos] = (v >> 7) & 0x7f;
    buf[pos + 1] = (v & 0x7f) | 0x80;
    return pos + 2;
  }
  if (v >= -1048576 && v < 1048576) {
    buf[pos] = (v >> 14) & 0x7f;
    buf[pos + 1] = (v >> 7) & 0x7f;
    buf[pos + 2] = (v & 0x7f) | 0x80;
    return pos + 3;
  }
  if (v >= -134217728 && v < 134217728) {
    buf[pos] = (v >> 21) & 0x7f;
    buf[pos + 1] = (v >> 14) & 0x7f;
    buf[pos + 2] = (v >> 7) & 0x7f;
    buf[pos + 3] = (v & 0x7f) | 0x80;
    return pos + 4;
  }
  buf[pos] = (v >> 28) & 0x7f;
  buf[pos + 1] = (v >> 21) & 0x7f;
  buf[pos + 2] = (v >> 14) & 0x7f;
  buf[pos + 3] = (v >> 7) & 0x7f;
  buf[pos + 4] = (v & 0x7f) | 0x80;
  return pos + 5;
}

/** Growable byte buffer with SBS encoders. */
export class Writer {
  /** Underlying storage; valid bytes are `buf.subarray(0, pos)`. */
  buf: Uint8Array;
  /** Number of bytes written. */
  pos = 0;
  /** A `DataView` of `buf`'s storage (replaced with it when it grows). */
  view: DataView;

  /** @param capacity Initial capacity in bytes. */
  constructor(capacity: number = INITIAL_CAPACITY) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes written so far (a view, not a copy). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** Forget what was written, keeping the storage. */
  reset(): void {
    this.pos = 0;
  }

  /** Make room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const buf = new Uint8Array(cap);
    buf.set(this.buf.subarray(0, this.pos));
    this.buf = buf;
    this.view = new DataView(buf.buffer);
  }

  /** Write one raw byte. */
  byte(b: number): void {
    if (this.pos >= this.buf.length) this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Write raw bytes. */
  raw(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** SBS Boolean. */
  bool(v: boolean): void {
    this.byte(v ? 1 : 0);
  }

  /** SBS Integer from a safe integer `number` or any `bigint`. */
  int(v: number | bigint): void {
    if (typeof v === "number") {
      if ((v | 0) === v) {
        this.#smallInt(v);
      } else if (Number.isSafeInteger(v)) {
        this.#wideInt(v);
      } else {
        throw new RangeError(`not an exact integer: ${v}`);
      }
    } else {
      this.#bigInt(v);
    }
  }

  #smallInt(v: number): void {
    if (this.pos + 5 > this.buf.length) this.ensure(5);
    this.pos = putInt32(this.buf, this.pos, v);
  }

  // Safe integers beyond int32 (large ids, timestamps after 2038): float arithmetic
  // is exact here and several times cheaper than going through bigint.
  #wideInt(v: number): void {
    if (v < 0) {
      this.#negativeWideInt(v);
      return;
    }
    let n = 5;
    let limit = 17179869184; // 2^34: 5 groups hold [0, 2^34)
    while (v >= limit) {
      n++;
      limit *= 128;
    }
    this.ensure(n);
    const buf = this.buf;
    // Split at 2^28 so that both halves fit int32 bit operations.
    let hi = Math.floor(v / 268435456);
    const lo = v - hi * 268435456;
    const last = this.pos + n - 1;
    buf[last] = (lo & 0x7f) | 0x80;
    buf[last - 1] = (lo >>> 7) & 0x7f;
    buf[last - 2] = (lo >>> 14) & 0x7f;
    buf[last - 3] = lo >>> 21;
    for (let p = last - 4; p >= this.pos; p--) {
      buf[p] = hi & 0x7f;
      hi >>>= 7;
    }
    this.pos = last + 1;
  }

  #negativeWideInt(v: number): void {
    let n = 5;
    let limit = 17179869184; // 2^34: 5 groups hold [-2^34, 2^34)
    while (v >= limit || v < -limit) {
      n++;
      limit *= 128;
    }
    this.ensure(n);
    const buf = this.buf;
    let pos = this.pos + n - 1;
    buf[pos] = (v % 128 + 128) % 128 | 0x80;
    let rest = Math.floor(v / 128);
    while (--pos >= this.pos) {
      buf[pos] = (rest % 128 + 128) % 128;
      rest = Math.floor(rest / 128);
    }
    this.pos += n;
  }

  #bigInt(v: bigint): void {
    const groups: number[] = [];
    for (;;) {
      const g = Number(v & 0x7fn);
      v >>= 7n;
      groups.push(g);
      if ((v === 0n && (g & 0x40) === 0) || (v === -1n && (g & 0x40) !== 0)) {
        break;
      }
    }
    this.ensure(groups.length);
    for (let i = groups.length - 1; i > 0; i--) {
      this.buf[this.pos++] = groups[i];
    }
    this.buf[this.pos++] = groups[0] | 0x80;
  }

  /** SBS Float (IEEE 754 binary64, big-endian). */
  float(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
  }

  /** SBS Bytes: length, then the bytes. */
  bytesField(data: Uint8Array): void {
    this.int(data.length);
    this.raw(data);
  }

  /** SBS String: UTF-8 bytes as SBS Bytes. */
  string(s: string): void {
    const len = s.length;
    if (len < 64) {
      // Short ASCII strings dominate (event type segments, type names):
      // write them directly, falling back on the first non-ASCII char.
      this.ensure(len + 1);
      const buf = this.buf;
      const start = this.pos;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + 1 + i] = c;
      }
      if (i === len) {
        buf[start] = len | 0x80;
        this.pos = start + 1 + len;
        return;
      }
    }
    // Worst case 3 bytes per UTF-16 unit; length prefix patched afterwards.
    const mark = this.beginLength(len);
    this.ensure(len * 3);
    const { written } = utf8Encoder.encodeInto(s, this.buf.subarray(this.pos));
    this.pos += written;
    this.endLength(mark);
  }

  /**
   * Reserve room for an Integer length prefix of bytes about to be
   * written; `hint` is the expected length. Returns a mark for
   * {@linkcode Writer.endLength}.
   */
  beginLength(hint = 0): number {
    const mark = this.pos;
    const width = intWidth(hint);
    this.ensure(width);
    this.pos += width;
    return mark * 8 + width;
  }

  /** Write the length prefix reserved by `beginLength`, moving the data if the guess was wrong. */
  endLength(mark: number): void {
    const width = mark % 8;
    const at = (mark - width) / 8;
    const start = at + width;
    const len = this.pos - start;
    const need = intWidth(len);
    if (need !== width) {
      this.ensure(need - width);
      this.buf.copyWithin(at + need, start, this.pos);
      this.pos += need - width;
    }
    // putInt32 writes the same `need` bytes for any length below 2^31,
    // with shifts (`2 ** n` below is a call to pow).
    if (len <= 0x7fffffff) {
      putInt32(this.buf, at, len);
      return;
    }
    const buf = this.buf;
    for (let i = need - 1, p = at; i >= 0; i--, p++) {
      const g = Math.floor(len / 2 ** (7 * i)) & 0x7f;
      buf[p] = i === 0 ? g | 0x80 : g;
    }
  }
}

/** Number of bytes of the SBS Integer encoding of a non-negative `n`. */
export function intWidth(n: number): number {
  let width = 1;
  let limit = 64;
  while (n >= limit) {
    width++;
    limit *= 128;
  }
  return width;
}

/** Cursor over SBS bytes; every read is bounds-checked. */
const views = new WeakMap<ArrayBufferLike, DataView>();

function viewOf(buffer: ArrayBufferLike): DataView {
  let view = views.get(buffer);
  if (view === undefined) {
    view = new DataView(buffer);
    views.set(buffer, view);
  }
  return view;
}

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
   * DataView costs ~100 ns to make) and kept while the buffer lives.
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
    if (n > STRING_CACHE_MAX || n === 0) {
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

  #utf8(start: number, end: number): string {
    if (end - start <= 1024) {
      // TextDecoder's per-call overhead dominates for texts this short;
      // ASCII (all a Python peer's JSON text is) decodes directly.
      const buf = this.buf;
      let i = start;
      while (i < end && buf[i] < 0x80) i++;
      if (i === end) {
        return String.fromCharCode.apply(
          null,
          buf.subarray(start, end) as unknown as number[],
        );
      }
    }
    try {
      return utf8Decoder.decode(this.buf.subarray(start, end));
    } catch {
      this.fail("invalid UTF-8 string", start);
    }
  }
}
