/**
 * Bytes of event types written before, for writing them again: a slot per
 * whole short type, and a slot per short segment.
 *
 * Caller-built types repeat (a gateway registers the same few hundred over
 * and over), and V8 copies a string's characters one `charCodeAt` at a
 * time, at several times the cost of storing the bytes kept for it as
 * 32-bit words. A slot holds the last string (or strings) written for it,
 * compared with `===`: a pointer compare for the same string object, a
 * short one for an equal string.
 *
 * The slots are module state, seen from outside through
 * {@linkcode eventTypeWriteSlots}: V8 reads a module's constant typed
 * arrays as constants, and an object's as fields, which costs the writer
 * at every access.
 *
 * @module
 */

import { SLOT_BYTES as SEGMENT_BYTES, type Writer } from "../sbs/mod.ts";
import type { EventType } from "../event/mod.ts";
import { keepEncoding } from "./_event_type_cache.ts";

// Misses in a row per slot. A slot that misses SLOT_MISSES times in a row
// (more segments share its signature than come back to it) is left alone
// for the next uses, so a system of thousands of types pays little more
// than without slots. The types' slots follow the same rule.
const SLOT_MISSES = 4;

// Segments: a slot is chosen by a segment's place in the type, its length
// and its last character (so "device3" and "device4" have slots of their
// own, and "reg_1234" and "reg_1334" share one).
const SEGMENT_SLOTS = 1024;
const SEGMENT_WORDS = SEGMENT_BYTES / 4;
const segmentStrings: (string | null)[] = new Array(SEGMENT_SLOTS).fill(null);
const segmentWords = new Uint32Array(SEGMENT_SLOTS * SEGMENT_WORDS);
const segmentMisses = new Uint8Array(SEGMENT_SLOTS);

// Whole types of up to 8 segments and 64 bytes, by a hash of their
// segments' lengths and last characters: the segments last written for
// that hash (kept as they were read for writing, so that an array changed
// in place is compared by what it holds now) and their bytes.
const TYPE_SLOTS = 512;
const TYPE_SLOT_SEGMENTS = 8;
const TYPE_SLOT_WORDS = 16;
const typeSlotStrings: (string | null)[] = new Array(
  TYPE_SLOTS * TYPE_SLOT_SEGMENTS,
).fill(null);
const typeSlotCount = new Uint8Array(TYPE_SLOTS);
const typeSlotSize = new Uint8Array(TYPE_SLOTS);
const typeSlotWords = new Uint32Array(TYPE_SLOTS * TYPE_SLOT_WORDS);
const typeSlotMisses = new Uint8Array(TYPE_SLOTS);
// The array whose bytes each type slot took (at a miss, or see
// typeSlotOthers), and whether it is known not to be kept (1). Written
// from its slot again, a frozen one (of data elements) has its bytes kept
// for it (keepEncoding) and is written from those without looking at its
// segments again: the Event Server writes the same type arrays, its
// table's, in every response and notification. A hit by a caller's array
// costs a compare and a count (no `Object.isFrozen`, and no store of the
// array: a store per event would cost a caller that builds an array per
// event a write barrier each, some 10 % of writing a bare event).
const typeSlotArrays: (EventType | null)[] = new Array(TYPE_SLOTS).fill(null);
const typeSlotNotKept = new Uint8Array(TYPE_SLOTS);
// Hits by arrays other than typeSlotArrays', counted to SLOT_OTHERS: then
// the slot looks at the array of that hit (one store in SLOT_OTHERS hits,
// for when another array of the same segments took the slot first).
const typeSlotOthers = new Uint8Array(TYPE_SLOTS);
const SLOT_OTHERS = 16;
// Lookups and hits over the last window of 256 lookups: where fewer than
// 1 in 8 hit (a system of thousands of types, or a new segment in every
// type), the slots are not looked at for the next 4,096 types, which
// would pay for the hash and gain nothing.
let typeSlotLookups = 0;
let typeSlotHits = 0;
let typeSlotPause = 0;
const TYPE_SLOT_WINDOW = 256;
const TYPE_SLOT_PAUSE = 4096;

// Counts of the handle (misses only: counting hits would cost the hit).
let typesMissed = 0;
let segmentsMissed = 0;

/**
 * The write slots of event types in this process: their bounds, what
 * they missed, and a way to empty them.
 */
export const eventTypeWriteSlots = {
  /** Slots of whole types (each up to 8 segments and 64 bytes). */
  typeSlots: TYPE_SLOTS,
  /** Slots of segments (each shorter than 32 bytes). */
  segmentSlots: SEGMENT_SLOTS,
  /** Bytes the slots hold, strings aside. */
  bytes: 4 * (typeSlotWords.length + segmentWords.length),
  /** Types written that no type slot held. */
  get typeMisses(): number {
    return typesMissed;
  },
  /** Segments written that no segment slot held. */
  get segmentMisses(): number {
    return segmentsMissed;
  },
  /** Forget every type and segment (and the counts). */
  clear(): void {
    typeSlotStrings.fill(null);
    typeSlotCount.fill(0);
    typeSlotArrays.fill(null);
    typeSlotNotKept.fill(0);
    typeSlotOthers.fill(0);
    typeSlotMisses.fill(0);
    segmentStrings.fill(null);
    segmentMisses.fill(0);
    typeSlotLookups = typeSlotHits = typeSlotPause = 0;
    typesMissed = segmentsMissed = 0;
  },
};

/**
 * Write `type` from the slots: whole from its type slot when the slot
 * holds it, else segment by segment, from the segments' slots where they
 * hold them (and then the slots hold what was written).
 */
export function writeTypeFromSlots(w: Writer, type: EventType): void {
  const n = type.length;
  // Room for the common case (a few short ASCII segments) made once.
  w.ensure(n * 64 + 8);
  let tslot = -2;
  if (typeSlotPause > 0) {
    typeSlotPause--;
  } else if (n > 0 && n <= TYPE_SLOT_SEGMENTS) {
    tslot = typeSlotWrite(w, type, n);
    if (tslot === -1) return;
    typesMissed++;
  }
  // The segments are kept as they are read for writing (an array whose
  // elements are getters could answer another string the next time), and
  // the slot holds no type until its bytes are kept too.
  let keepAt = -1;
  if (tslot >= 0 && typeSlotMisses[tslot] < SLOT_MISSES) {
    keepAt = tslot * TYPE_SLOT_SEGMENTS;
    typeSlotCount[tslot] = 0;
  }
  const typeStart = w.pos;
  if (n >= 64) {
    w.int(n);
  } else {
    w.buf[w.pos++] = n | 0x80;
  }
  for (let i = 0; i < n; i++) {
    const s = type[i];
    if (keepAt >= 0) typeSlotStrings[keepAt + i] = s;
    const len = s.length;
    if (len > 0 && len < SEGMENT_BYTES) {
      // Its slot: a hash of its place, length and last character.
      const slot = Math.imul(
        s.charCodeAt(len - 1) | (len << 8) | (i << 16),
        0x9e3779b1,
      ) >>> 22;
      const misses = segmentMisses[slot];
      if (misses < SLOT_MISSES && segmentStrings[slot] === s) {
        if (misses !== 0) segmentMisses[slot] = 0;
        const view = w.view;
        const p = w.pos;
        const o = slot * SEGMENT_WORDS;
        view.setUint32(p, segmentWords[o], true);
        view.setUint32(p + 4, segmentWords[o + 1], true);
        for (let x = 8, k = o + 2; x <= len; x += 4, k++) {
          view.setUint32(p + x, segmentWords[k], true);
        }
        w.pos = p + len + 1;
        continue;
      }
      // Short ASCII: one length byte and the characters, in place, kept
      // in the slot.
      const buf = w.buf;
      const pos = w.pos;
      const start = pos + 1;
      let j = 0;
      for (; j < len; j++) {
        const c = s.charCodeAt(j);
        if (c >= 0x80) break;
        buf[start + j] = c;
      }
      if (j === len) {
        buf[pos] = len | 0x80;
        w.pos = start + len;
        segmentsMissed++;
        // Counts on to 255 and wraps: a slot left alone is tried again
        // after about 250 uses.
        segmentMisses[slot] = misses + 1;
        if (misses < SLOT_MISSES) {
          const view = w.view;
          for (let x = 0, o = slot * SEGMENT_WORDS; x <= len; x += 4, o++) {
            segmentWords[o] = view.getUint32(pos + x, true);
          }
          segmentStrings[slot] = s;
        }
        continue;
      }
    }
    // Long or non-ASCII: the general writer (which may grow the buffer).
    w.string(s);
    w.ensure((n - i) * 64);
  }
  if (tslot >= 0) keepTypeSlot(w, type, tslot, n, typeStart);
}

// Writes `type` from its slot when the slot holds it, and returns -1;
// else returns the slot, for keepTypeSlot.
function typeSlotWrite(w: Writer, type: EventType, n: number): number {
  if (++typeSlotLookups === TYPE_SLOT_WINDOW) {
    if (typeSlotHits * 8 < TYPE_SLOT_WINDOW) typeSlotPause = TYPE_SLOT_PAUSE;
    typeSlotLookups = 0;
    typeSlotHits = 0;
  }
  let h = n;
  for (let i = 0; i < n; i++) {
    const s = type[i];
    const len = s.length;
    const c = len > 0 ? s.charCodeAt(len - 1) : 0;
    h = Math.imul(h ^ (len | (c << 8)), 0x9e3779b1);
  }
  const slot = h >>> 23;
  const misses = typeSlotMisses[slot];
  if (misses < SLOT_MISSES && typeSlotCount[slot] === n) {
    const at = slot * TYPE_SLOT_SEGMENTS;
    let i = 0;
    while (i < n && typeSlotStrings[at + i] === type[i]) i++;
    if (i === n) {
      if (misses !== 0) typeSlotMisses[slot] = 0;
      typeSlotHits++;
      // Room was made by the caller (n * 64 + 8 bytes).
      const view = w.view;
      const p = w.pos;
      const size = typeSlotSize[slot];
      for (let x = 0, k = slot * TYPE_SLOT_WORDS; x < size; x += 4, k++) {
        view.setUint32(p + x, typeSlotWords[k], true);
      }
      w.pos = p + size;
      if (typeSlotArrays[slot] !== type || typeSlotNotKept[slot] === 0) {
        slotArrayHit(w, type, slot, p);
      }
      return -1;
    }
  }
  return slot;
}

// `type` was written from its slot, which took its bytes: they are kept
// for it if it is frozen (of data elements), else the slot says not to
// look again. Apart from typeSlotWrite, which V8 inlines whole.
function slotArrayHit(w: Writer, type: EventType, slot: number, p: number) {
  if (typeSlotArrays[slot] !== type) {
    if (++typeSlotOthers[slot] === SLOT_OTHERS) {
      // Hit by other arrays of the same segments: the slot looks at the
      // array of this hit from now on.
      typeSlotOthers[slot] = 0;
      typeSlotArrays[slot] = type;
      typeSlotNotKept[slot] = 0;
    }
    return;
  }
  if (Object.isFrozen(type) && plainElements(type)) {
    keepEncoding(type, w.buf.slice(p, p + typeSlotSize[slot]));
  } else {
    typeSlotNotKept[slot] = 1;
  }
}

// Whether every element of `type` is a data property (frozen, then, it
// answers the same string for good; a getter could answer another).
function plainElements(type: EventType): boolean {
  for (let i = 0; i < type.length; i++) {
    const d = Object.getOwnPropertyDescriptor(type, i);
    if (d === undefined || !("value" in d)) return false;
  }
  return true;
}

// `slot` missed: it now holds the type whose segments writeTypeBySegments
// put there, written from `start` to `w.pos` (unless it keeps missing, or
// the type is too long for it).
function keepTypeSlot(
  w: Writer,
  type: EventType,
  slot: number,
  n: number,
  start: number,
): void {
  const misses = typeSlotMisses[slot];
  // Counts on to 255 and wraps, like the segments' slots.
  typeSlotMisses[slot] = misses + 1;
  const size = w.pos - start;
  if (misses >= SLOT_MISSES || size > 4 * TYPE_SLOT_WORDS) return;
  // The last word may pass `pos`: room was made for n * 64 + 8 bytes.
  const view = w.view;
  for (let x = 0, o = slot * TYPE_SLOT_WORDS; x < size; x += 4, o++) {
    typeSlotWords[o] = view.getUint32(start + x, true);
  }
  typeSlotCount[slot] = n;
  typeSlotSize[slot] = size;
  typeSlotArrays[slot] = type;
  typeSlotNotKept[slot] = 0;
}
