/**
 * Short ASCII strings decoded before, kept by a hash of their bytes.
 *
 * Short strings repeat endlessly on the wire (event type segments, message
 * type names, JSON keys and values): comparing a few bytes costs less than
 * allocating a string, and `TextDecoder` costs more still. The cached
 * strings' bytes sit in one arena, a slot's bytes in its own 32 bytes,
 * because comparing bytes with bytes costs half of comparing them with
 * `charCodeAt`.
 *
 * The cache is module state, seen from outside through
 * {@linkcode stringCache}: V8 reads a module's constant arrays as
 * constants, and an object's as fields, which costs the decoder at every
 * access.
 *
 * @module
 */

const SLOTS = 4096;
/** Longest string the cache holds (bytes, all ASCII). */
export const MAX_CACHED_LENGTH = 32;
const strings: (string | undefined)[] = new Array(SLOTS);
// The bytes of each cached string, MAX_CACHED_LENGTH per slot. Made on
// first use (128 KB per process).
let bytes: Uint8Array | null = null;
let missed = 0;

/**
 * The cache of short strings decoded in this process (by the SBS
 * {@linkcode Reader} and the JSON parser): its bounds, what it missed,
 * and a way to empty it.
 */
export const stringCache = {
  /** Strings kept at most. */
  slots: SLOTS,
  /** Longest string kept, in bytes. */
  maxLength: MAX_CACHED_LENGTH,
  /** Bytes of the arena the kept strings are compared in. */
  bytes: SLOTS * MAX_CACHED_LENGTH,
  /** Strings made because the cache did not hold them. */
  get misses(): number {
    return missed;
  },
  /** Forget every string (and the count). */
  clear(): void {
    strings.fill(undefined);
    missed = 0;
  },
};

/**
 * The string of the ASCII bytes `buf[start, end)`, from the cache when it
 * is there, else made (and kept when short enough).
 *
 * @param hash Any hash of those bytes, the same for the same bytes.
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

/**
 * The string of the ASCII bytes `buf[start, end)`, made, and kept under
 * `hash` when at most {@linkcode MAX_CACHED_LENGTH} bytes (the caller
 * found it not cached).
 */
export function makeAscii(
  buf: Uint8Array,
  start: number,
  end: number,
  hash: number,
): string {
  missed++;
  const n = end - start;
  // Up to 8 characters, one at a time costs no more; beyond, one call
  // costs less.
  let s = "";
  if (n <= 8) {
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
  } else {
    s = String.fromCharCode.apply(
      null,
      buf.subarray(start, end) as unknown as number[],
    );
  }
  if (n <= MAX_CACHED_LENGTH) {
    const slot = hash & (SLOTS - 1);
    const arena = bytes ??= new Uint8Array(SLOTS * MAX_CACHED_LENGTH);
    const base = slot * MAX_CACHED_LENGTH;
    for (let i = 0; i < n; i++) arena[base + i] = buf[start + i];
    strings[slot] = s;
  }
  return s;
}

/**
 * The cached string of the bytes `buf[start, end)` under `hash`, if any.
 * A hit proves the bytes ASCII: only ASCII strings are cached.
 */
export function cachedAscii(
  buf: Uint8Array,
  start: number,
  end: number,
  hash: number,
): string | undefined {
  const slot = hash & (SLOTS - 1);
  const hit = strings[slot];
  const n = end - start;
  if (hit === undefined || hit.length !== n) return undefined;
  const arena = bytes!;
  const base = slot * MAX_CACHED_LENGTH - start;
  for (let i = start; i < end; i++) {
    if (arena[base + i] !== buf[i]) return undefined;
  }
  return hit;
}
