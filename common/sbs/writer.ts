/**
 * The SBS encoder: a growable {@linkcode Writer} appending SBS values to
 * a `Uint8Array` (SPEC §1).
 *
 * @module
 */

const INITIAL_CAPACITY = 256;

const utf8Encoder = new TextEncoder();

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
