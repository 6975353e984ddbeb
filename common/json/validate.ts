/**
 * Whether a text is a JSON payload, decided without building its value:
 * what a server that only stores and forwards a payload's text checks.
 *
 * @module
 */

// Inside a string: 1 for the codes that end the plain run (`"`, `\` and
// control characters).
const STOP = new Uint8Array(0x80);
for (let c = 0; c < 0x20; c++) STOP[c] = 1;
STOP[0x22] = 1;
STOP[0x5c] = 1;

/**
 * Whether `text` is JSON that `parseJsonText` accepts: one JSON
 * value (RFC 8259) with optional white space around it, and no number
 * beyond the float range. About a fifth of the cost of parsing it (no
 * value is built).
 *
 * @param text The text.
 * @returns True when `parseJsonText(text)` would not throw.
 */
export function isJsonText(text: string): boolean {
  const n = text.length;
  // Open containers: true for an object, false for an array.
  const stack: boolean[] = [];
  let p = skipSpace(text, 0);
  for (;;) {
    // A value at p.
    if (p >= n) return false;
    const c = text.charCodeAt(p);
    if (c === 0x7b || c === 0x5b) {
      // { or [: empty, or on to the first member.
      const object = c === 0x7b;
      p = skipSpace(text, p + 1);
      if (p < n && text.charCodeAt(p) === (object ? 0x7d : 0x5d)) {
        p++;
      } else {
        stack.push(object);
        if (object && (p = key(text, p)) < 0) return false;
        continue;
      }
    } else if (c === 0x22) {
      if ((p = string(text, p)) < 0) return false;
    } else if (c === 0x74) {
      if (!text.startsWith("true", p)) return false;
      p += 4;
    } else if (c === 0x66) {
      if (!text.startsWith("false", p)) return false;
      p += 5;
    } else if (c === 0x6e) {
      if (!text.startsWith("null", p)) return false;
      p += 4;
    } else if ((p = number(text, p)) < 0) {
      return false;
    }
    // After a value: the next member, the end of containers, or the end.
    for (;;) {
      p = skipSpace(text, p);
      if (stack.length === 0) return p === n;
      if (p >= n) return false;
      const d = text.charCodeAt(p);
      const object = stack[stack.length - 1];
      if (d === 0x2c) {
        p = skipSpace(text, p + 1);
        if (object && (p = key(text, p)) < 0) return false;
        break;
      }
      if (d !== (object ? 0x7d : 0x5d)) return false;
      stack.pop();
      p++;
    }
  }
}

function skipSpace(s: string, p: number): number {
  for (;;) {
    const c = s.charCodeAt(p);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return p;
    p++;
  }
}

// `"key" :` and the space after it: the position of the value, or -1.
function key(s: string, p: number): number {
  if (s.charCodeAt(p) !== 0x22 || (p = string(s, p)) < 0) return -1;
  p = skipSpace(s, p);
  if (s.charCodeAt(p) !== 0x3a) return -1;
  return skipSpace(s, p + 1);
}

// The string at p (its opening quote): the position after it, or -1.
function string(s: string, p: number): number {
  const n = s.length;
  p++;
  while (p < n) {
    const c = s.charCodeAt(p);
    if (c >= 0x80 || STOP[c] === 0) {
      p++;
    } else if (c === 0x22) {
      return p + 1;
    } else if (c === 0x5c) {
      const e = s.charCodeAt(p + 1);
      if (e === 0x75) {
        for (let i = p + 2; i < p + 6; i++) {
          const h = s.charCodeAt(i) | 0x20;
          if (!((h >= 0x30 && h <= 0x39) || (h >= 0x61 && h <= 0x66))) {
            return -1;
          }
        }
        p += 6;
      } else if (
        e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 ||
        e === 0x6e || e === 0x72 || e === 0x74
      ) {
        p += 2;
      } else {
        return -1;
      }
    } else {
      return -1; // A control character.
    }
  }
  return -1;
}

// The number at p: the position after it, or -1.
function number(s: string, p: number): number {
  const start = p;
  if (s.charCodeAt(p) === 0x2d) p++;
  const int = p;
  p = digits(s, p);
  if (p === int) return -1;
  // No leading zero.
  if (s.charCodeAt(int) === 0x30 && p - int > 1) return -1;
  // An integer is exact at any size (a bigint): only a long one with a
  // fraction or an exponent can overflow the float range.
  const long = p - int >= 16;
  let overflows = false;
  if (s.charCodeAt(p) === 0x2e) {
    const frac = p + 1;
    p = digits(s, frac);
    if (p === frac) return -1;
    overflows = long;
  }
  const e = s.charCodeAt(p);
  if (e === 0x65 || e === 0x45) {
    p++;
    const sign = s.charCodeAt(p);
    if (sign === 0x2b || sign === 0x2d) p++;
    const exp = p;
    p = digits(s, exp);
    if (p === exp) return -1;
    overflows ||= long || p - exp >= 3;
  }
  // Such a number beyond the float range parseJsonText refuses.
  if (overflows && !Number.isFinite(Number(s.slice(start, p)))) return -1;
  return p;
}

function digits(s: string, p: number): number {
  for (;;) {
    const c = s.charCodeAt(p);
    // Past the end, c is NaN: not a digit.
    if (!(c >= 0x30 && c <= 0x39)) return p;
    p++;
  }
}
