/**
 * Whether UTF-8 bytes hold a JSON payload, decided on the bytes before
 * they are decoded: the common payloads of a server that only stores and
 * forwards their text, checked in one pass that also tells whether they
 * are ASCII (and so decode without a UTF-8 decoder).
 *
 * @module
 */

/** What {@linkcode jsonBytesKind} found. */
export const JsonBytes = {
  /**
   * Not decided here: invalid, or a case left to `isJsonText` on the
   * decoded text (nesting deeper than 31, a number that may overflow the
   * float range). The caller decodes and checks the text.
   */
  undecided: 0,
  /** A JSON text, all ASCII. */
  ascii: 1,
  /**
   * A JSON text once its bytes decode as UTF-8 (bytes of 0x80 and above
   * inside its strings only; the decoder still checks them).
   */
  utf8: 2,
} as const;

// Most containers open at once (one bit each in an int32).
const MAX_DEPTH = 31;

// Set by string() when a string holds a byte of 0x80 or above.
let high = 0;

/**
 * Check the bytes `buf[start, end)` as `isJsonText` checks their text:
 * {@linkcode JsonBytes.ascii} or {@linkcode JsonBytes.utf8} when the text
 * they decode to is JSON that `parseJsonText` accepts, else
 * {@linkcode JsonBytes.undecided} (never a wrong yes: a no, or a text
 * too deep or with a number too long to decide here, is left to the
 * text's check).
 *
 * Nothing outside `[start, end)` is read.
 *
 * @param buf The bytes.
 * @param start Where the text starts.
 * @param end Where it ends (exclusive).
 * @returns A {@linkcode JsonBytes} value.
 */
export function jsonBytesKind(
  buf: Uint8Array,
  start: number,
  end: number,
): number {
  // Open containers, innermost in bit 0: 1 for an object, 0 for an array.
  let stack = 0;
  let depth = 0;
  high = 0;
  let p = space(buf, start, end);
  for (;;) {
    // A value at p.
    if (p >= end) return 0;
    const c = buf[p];
    if (c === 0x22) {
      if ((p = string(buf, p, end)) < 0) return 0;
    } else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
      if ((p = number(buf, p, end)) < 0) return 0;
    } else if (c === 0x7b || c === 0x5b) {
      // { or [: empty, or on to the first member.
      if (depth === MAX_DEPTH) return 0;
      p = space(buf, p + 1, end);
      if (p < end && buf[p] === c + 2) {
        // } is { + 2, and ] is [ + 2.
        p++;
      } else {
        depth++;
        if (c === 0x7b) {
          stack = (stack << 1) | 1;
          if ((p = key(buf, p, end)) < 0) return 0;
        } else {
          stack <<= 1;
        }
        continue;
      }
    } else if (c === 0x74) {
      if (
        p + 4 > end || buf[p + 1] !== 0x72 || buf[p + 2] !== 0x75 ||
        buf[p + 3] !== 0x65
      ) return 0;
      p += 4;
    } else if (c === 0x66) {
      if (
        p + 5 > end || buf[p + 1] !== 0x61 || buf[p + 2] !== 0x6c ||
        buf[p + 3] !== 0x73 || buf[p + 4] !== 0x65
      ) return 0;
      p += 5;
    } else if (c === 0x6e) {
      if (
        p + 4 > end || buf[p + 1] !== 0x75 || buf[p + 2] !== 0x6c ||
        buf[p + 3] !== 0x6c
      ) return 0;
      p += 4;
    } else {
      return 0;
    }
    // After a value: the next member, the end of containers, or the end.
    for (;;) {
      p = space(buf, p, end);
      if (depth === 0) return p === end ? 1 + high : 0;
      if (p >= end) return 0;
      const d = buf[p];
      if (d === 0x2c) {
        p = space(buf, p + 1, end);
        if ((stack & 1) === 1 && (p = key(buf, p, end)) < 0) return 0;
        break;
      }
      if (d !== ((stack & 1) === 1 ? 0x7d : 0x5d)) return 0;
      stack >>>= 1;
      depth--;
      p++;
    }
  }
}

function space(buf: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const c = buf[p];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return p;
    p++;
  }
  return p;
}

// `"key" :` and the space after it: the position of the value, or -1.
function key(buf: Uint8Array, p: number, end: number): number {
  if (p >= end || buf[p] !== 0x22 || (p = string(buf, p, end)) < 0) return -1;
  p = space(buf, p, end);
  if (p >= end || buf[p] !== 0x3a) return -1;
  return space(buf, p + 1, end);
}

// Inside a string, per byte: 0 for one that goes on, 1 for `"`, 2 for
// `\\`, 3 for a control character, 4 for 0x80 and above.
const STRING_BYTE = new Uint8Array(256);
STRING_BYTE.fill(3, 0, 0x20);
STRING_BYTE[0x22] = 1;
STRING_BYTE[0x5c] = 2;
STRING_BYTE.fill(4, 0x80);

// The string at p (its opening quote): the position after it, or -1.
function string(buf: Uint8Array, p: number, end: number): number {
  p++;
  while (p < end) {
    const k = STRING_BYTE[buf[p++]];
    if (k === 0) continue;
    if (k === 1) return p;
    if (k === 4) {
      high = 1;
    } else if (k === 2) {
      if (p >= end) return -1;
      const e = buf[p];
      if (e === 0x75) {
        if (p + 5 > end) return -1;
        for (let i = p + 1; i < p + 5; i++) {
          const h = buf[i] | 0x20;
          if (!((h >= 0x30 && h <= 0x39) || (h >= 0x61 && h <= 0x66))) {
            return -1;
          }
        }
        p += 5;
      } else if (
        e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 ||
        e === 0x6e || e === 0x72 || e === 0x74
      ) {
        p++;
      } else {
        return -1;
      }
    } else {
      return -1; // A control character.
    }
  }
  return -1;
}

// The number at p: the position after it, or -1 (also for one that could
// overflow the float range, left to the text's check).
function number(buf: Uint8Array, p: number, end: number): number {
  if (buf[p] === 0x2d) p++;
  const int = p;
  p = digits(buf, p, end);
  if (p === int) return -1;
  // No leading zero.
  if (buf[int] === 0x30 && p - int > 1) return -1;
  // An integer is exact at any size (a bigint): only a long one with a
  // fraction or an exponent can overflow the float range.
  const long = p - int >= 16;
  if (p < end && buf[p] === 0x2e) {
    const frac = p + 1;
    p = digits(buf, frac, end);
    if (p === frac || long) return -1;
  }
  if (p < end && (buf[p] | 0x20) === 0x65) {
    p++;
    if (p < end && (buf[p] === 0x2b || buf[p] === 0x2d)) p++;
    const exp = p;
    p = digits(buf, exp, end);
    if (p === exp || long || p - exp >= 3) return -1;
  }
  return p;
}

function digits(buf: Uint8Array, p: number, end: number): number {
  while (p < end) {
    const c = buf[p];
    if (c < 0x30 || c > 0x39) return p;
    p++;
  }
  return p;
}
