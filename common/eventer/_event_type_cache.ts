/**
 * Event types decoded before, by their bytes.
 *
 * Event types repeat endlessly (a gateway registers the same few hundred
 * over and over): decoded ones are kept whole, frozen. A miss must cost
 * little more than decoding, for systems with more types than the cache
 * holds: the bytes of kept types are copied into one arena (no allocation
 * per entry), and nothing else is done until a type is decoded a second
 * time.
 *
 * The cache is module state, seen from outside through
 * {@linkcode eventTypeCache} (see `_event_type_slots.ts` for why).
 *
 * @module
 */

import type { Reader } from "../sbs/mod.ts";
import type { EventType } from "../event/mod.ts";

const TYPE_CACHE_SIZE = 2048;
// The arena: each slot's encoding in the slot's own SLOT_BYTES bytes, read
// as 32-bit words in the platform's byte order for comparing. Longer types
// (rare) are not cached.
const SLOT_BYTES = 128;
const arenaWords = new Int32Array(TYPE_CACHE_SIZE * SLOT_BYTES / 4);
const arenaBytes = new Uint8Array(arenaWords.buffer);
// Per slot: the encoding's byte size (-1: empty), the frozen type, and
// whether it is in typeEncodings yet.
const typeCacheSize = new Int32Array(TYPE_CACHE_SIZE).fill(-1);
const typeCacheValues: (EventType | undefined)[] = new Array(TYPE_CACHE_SIZE);
const typeCacheShared = new Uint8Array(TYPE_CACHE_SIZE);
// The encodings of types decoded more than once, and of frozen types
// written more than once (keepEncoding), by the (frozen, so unchanging)
// arrays themselves, for writing them back.
let typeEncodings = new WeakMap<EventType, Uint8Array>();
// Whether typed arrays store words little-endian here (the arena's words).
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
// Counts of the handle (misses only: counting hits would cost the hit).
let missed = 0;

/**
 * The cache of event types decoded in this process: its bounds, what it
 * missed, and a way to empty it.
 */
export const eventTypeCache = {
  /** Types kept at most. */
  slots: TYPE_CACHE_SIZE,
  /** Longest encoding of a type kept, in bytes. */
  slotBytes: SLOT_BYTES,
  /** Bytes of the arena the kept types' encodings are compared in. */
  bytes: arenaBytes.length,
  /**
   * Types that could be kept and were not found (types too long or wide
   * to keep are not counted).
   */
  get misses(): number {
    return missed;
  },
  /** Forget every type (and the count). */
  clear(): void {
    typeCacheSize.fill(-1);
    typeCacheValues.fill(undefined);
    typeCacheShared.fill(0);
    typeEncodings = new WeakMap();
    missed = 0;
  },
};

/**
 * The encoding of `type` when it was decoded here more than once (a
 * server answering a register or notifying events writes back the types
 * it decoded).
 */
export function encodingOf(type: EventType): Uint8Array | undefined {
  return typeEncodings.get(type);
}

/**
 * Keep `bytes` as the encoding of the frozen `type`, written here more
 * than once: {@linkcode encodingOf} answers it from then on. An entry
 * lives as long as its type array does (as those of decoded types do).
 */
export function keepEncoding(type: EventType, bytes: Uint8Array): void {
  typeEncodings.set(type, bytes);
}

/**
 * Read an EventType, from the cache when its bytes are there. The result
 * is frozen and may be shared by every event of the same type.
 */
export function readCachedEventType(r: Reader): EventType {
  const buf = r.buf;
  const end = r.end;
  const start = r.pos;
  // The cache applies when the count and every segment length are one
  // byte (under 64); else the general path.
  let p = start;
  if (p >= end) return readEventTypeUncached(r);
  const count = buf[p++];
  if (count < 0x80 || count >= 0xc0) return readEventTypeUncached(r);
  for (let i = 0x80; i < count; i++) {
    if (p >= end) return readEventTypeUncached(r);
    const len = buf[p];
    const segEnd = p + len - 0x7f;
    if (len < 0x80 || len >= 0xc0 || segEnd > end) {
      return readEventTypeUncached(r);
    }
    p = segEnd;
  }
  const size = p - start;
  if (size > SLOT_BYTES) return readEventTypeUncached(r);
  const full = size >> 2;
  // Hashed over all its bytes, as little-endian words (read through the
  // input's DataView) and then the last bytes: numbered points such as
  // "dev123" and "dev153" differ in one inner byte.
  let h = size;
  const view = r.view();
  const vstart = r.buf.byteOffset + start;
  for (let k = 0; k < full; k++) {
    h = Math.imul(h ^ view.getInt32(vstart + 4 * k, true), 0x85ebca6b);
  }
  for (let i = 4 * full; i < size; i++) {
    h = Math.imul(h ^ buf[start + i], 0x85ebca6b);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  const slot = (h ^ (h >>> 16)) & (TYPE_CACHE_SIZE - 1);
  if (typeCacheSize[slot] === size) {
    const at = slot * (SLOT_BYTES / 4);
    let word = 0;
    while (
      word < full &&
      arenaWords[at + word] === view.getInt32(vstart + 4 * word, LE)
    ) word++;
    let i = 4 * word;
    const from = 4 * at;
    while (i < size && arenaBytes[from + i] === buf[start + i]) i++;
    if (i === size) {
      r.pos = p;
      const type = typeCacheValues[slot]!;
      if (typeCacheShared[slot] === 0) {
        // Decoded again: worth its own copy of the bytes for writing back.
        typeCacheShared[slot] = 1;
        typeEncodings.set(type, arenaBytes.slice(from, from + size));
      }
      return type;
    }
  }
  missed++;
  const type = readEventTypeUncached(r);
  const from = slot * SLOT_BYTES;
  for (let i = 0; i < size; i++) arenaBytes[from + i] = buf[start + i];
  typeCacheSize[slot] = size;
  typeCacheValues[slot] = type;
  typeCacheShared[slot] = 0;
  return type;
}

/** Read an EventType without the cache. */
export function readEventTypeUncached(r: Reader): EventType {
  const n = r.length();
  const type: string[] = new Array(n);
  for (let i = 0; i < n; i++) type[i] = r.string();
  return Object.freeze(type);
}
