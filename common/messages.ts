/**
 * SBS codecs of the `HatEventer` messages and their shared types (SPEC §3).
 *
 * Writers append to a {@linkcode Writer}; readers consume a
 * {@linkcode Reader} and throw {@linkcode SbsError} on malformed input.
 *
 * @module
 */

import { putInt32, type Reader, SbsError, type Writer } from "./sbs.ts";
import { readJsonText, writeJsonText } from "./json.ts";
import { SLOT_BYTES as SEGMENT_BYTES } from "./write_slots.ts";
import {
  type Event,
  type EventId,
  type EventPayload,
  type EventType,
  type Order,
  type OrderBy,
  type QueryParams,
  type QueryResult,
  type RegisterEvent,
  type Status,
  STATUSES,
  type Timestamp,
} from "./types.ts";

/** Chatter `data.type` names of the Eventer messages. */
export const MsgType = {
  InitReq: "HatEventer.MsgInitReq",
  InitRes: "HatEventer.MsgInitRes",
  StatusNotify: "HatEventer.MsgStatusNotify",
  EventsNotify: "HatEventer.MsgEventsNotify",
  EventsAck: "HatEventer.MsgEventsAck",
  RegisterReq: "HatEventer.MsgRegisterReq",
  RegisterRes: "HatEventer.MsgRegisterRes",
  QueryReq: "HatEventer.MsgQueryReq",
  QueryRes: "HatEventer.MsgQueryRes",
} as const;

/** `HatEventer.MsgInitReq`. */
export interface MsgInitReq {
  /** Client name. */
  clientName: string;
  /** Client token, if any. */
  clientToken: string | null;
  /** Subscribed query types. */
  subscriptions: EventType[];
  /** Only events of this server id, if set. */
  serverId: number | null;
  /** Notify after persisting. */
  persisted: boolean;
}

/** `HatEventer.MsgInitRes`: success with the server's status, or an error text. */
export type MsgInitRes =
  | { type: "success"; status: Status }
  | { type: "error"; error: string };

const ORDERS: readonly Order[] = ["descending", "ascending"];
const ORDER_BYS: readonly OrderBy[] = ["timestamp", "sourceTimestamp"];

function choice(r: Reader, count: number): number {
  const at = r.pos;
  const b = r.byte();
  // Minimal encodings of small indices are one byte; anything else is
  // either a non-minimal encoding (accepted) or out of range.
  if (b >= 0x80 && b - 0x80 < count) return b - 0x80;
  r.pos = at;
  const i = r.int();
  if (typeof i !== "number" || i < 0 || i >= count) {
    r.fail(`invalid choice index ${i}`, at);
  }
  return i;
}

function optional(r: Reader): boolean {
  return choice(r, 2) === 1;
}

// ---------------------------------------------------------------- writers

/** Write a Timestamp. */
export function writeTimestamp(w: Writer, t: Timestamp): void {
  const s = t.s;
  const us = t.us;
  if (typeof s === "number" && (s | 0) === s && (us | 0) === us) {
    // Both int32 (seconds until 2038): one room check, no dispatch.
    if (w.pos + 10 > w.buf.length) w.ensure(10);
    const buf = w.buf;
    let p = w.pos;
    if (s >= 134217728) {
      // Seconds since 1974 (until 2038): five groups, written straight.
      buf[p] = s >> 28;
      buf[p + 1] = (s >> 21) & 0x7f;
      buf[p + 2] = (s >> 14) & 0x7f;
      buf[p + 3] = (s >> 7) & 0x7f;
      buf[p + 4] = (s & 0x7f) | 0x80;
      p += 5;
    } else {
      p = putInt32(buf, p, s);
    }
    w.pos = putInt32(buf, p, us);
  } else {
    w.int(s);
    w.int(us);
  }
}

function writeOptTimestamp(w: Writer, t: Timestamp | null | undefined): void {
  if (t == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    writeTimestamp(w, t);
  }
}

/** Write an EventId. */
export function writeEventId(w: Writer, id: EventId): void {
  const server = id.server;
  const session = id.session;
  const instance = id.instance;
  if (
    (server | 0) === server && (session | 0) === session &&
    (instance | 0) === instance
  ) {
    if (w.pos + 15 > w.buf.length) w.ensure(15);
    const buf = w.buf;
    let p = w.pos;
    // A server id of one group (under 64) in place; the rest through
    // putInt32.
    if (server >= 0 && server < 64) buf[p++] = server | 0x80;
    else p = putInt32(buf, p, server);
    w.pos = putInt32(buf, putInt32(buf, p, session), instance);
  } else {
    w.int(server);
    w.int(session);
    w.int(instance);
  }
}

function writeOptInt(w: Writer, v: number | null | undefined): void {
  if (v == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    w.int(v);
  }
}

function writeOptEventId(w: Writer, id: EventId | null | undefined): void {
  if (id == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    writeEventId(w, id);
  }
}

// Short ASCII segments of caller-built types are written again from the
// bytes kept for them (see WriteSlots for why words beat charCodeAt). A
// slot is chosen by a segment's place in the type, its length and its last
// character (so "device3" and "device4" have slots of their own, and
// "reg_1234" and "reg_1334" share one); it holds the last segment written
// for that choice, compared with `===` (a pointer compare for the same
// string object, a short one for an equal string).
const SEGMENT_SLOTS = 1024;
const SEGMENT_WORDS = SEGMENT_BYTES / 4;
const segmentStrings: (string | null)[] = new Array(SEGMENT_SLOTS).fill(null);
const segmentWords = new Uint32Array(SEGMENT_SLOTS * SEGMENT_WORDS);
// Misses in a row per slot. A slot that misses SLOT_MISSES times in a row
// (more segments share its signature than come back to it) is left alone
// for the next uses, so a system of thousands of types pays little more
// than without slots. The types' slots below follow the same rule.
const segmentMisses = new Uint8Array(SEGMENT_SLOTS);
const SLOT_MISSES = 4;

// Whole caller-built types of up to 8 segments and 64 bytes, by a hash of
// their segments' lengths and last characters: the segments last written
// for that hash (copied, so that an array changed in place is compared by
// what it holds now; compared with `===`) and their bytes. Tried before the
// segments' slots: one compare per segment and one copy for the type.
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
// Lookups and hits over the last window of 256 lookups: where fewer than
// 1 in 8 hit (a system of thousands of types, or a new segment in every
// type), the slots are not looked at for the next 4,096 types, which would
// pay for the hash and gain nothing.
let typeSlotLookups = 0;
let typeSlotHits = 0;
let typeSlotPause = 0;
const TYPE_SLOT_WINDOW = 256;
const TYPE_SLOT_PAUSE = 4096;

/** Write an EventType. */
export function writeEventType(w: Writer, type: EventType): void {
  const known = typeEncodings.get(type);
  if (known !== undefined) {
    // Decoded here before: its bytes, copied (a server answering a
    // register or notifying events writes back the types it decoded).
    w.raw(known);
    return;
  }
  const n = type.length;
  // Room for the common case (a few short ASCII segments) made once.
  w.ensure(n * 64 + 8);
  let tslot = -2;
  if (typeSlotPause > 0) {
    typeSlotPause--;
  } else if (n > 0 && n <= TYPE_SLOT_SEGMENTS) {
    tslot = typeSlotWrite(w, type, n);
    if (tslot === -1) return;
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
  if (tslot >= 0) typeSlotKeep(w, tslot, n, typeStart);
}

// Writes `type` from its slot when the slot holds it, and returns -1; else
// returns the slot, for typeSlotKeep.
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
      return -1;
    }
  }
  return slot;
}

// `slot` missed: it now holds the type whose segments writeEventType put
// there, written from `start` to `w.pos` (unless it keeps missing, or the
// type is too long for it).
function typeSlotKeep(
  w: Writer,
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
}

function writeEventTypes(w: Writer, types: readonly EventType[]): void {
  w.int(types.length);
  for (const t of types) writeEventType(w, t);
}

function writeOptEventTypes(
  w: Writer,
  types: readonly EventType[] | null | undefined,
): void {
  if (types == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    writeEventTypes(w, types);
  }
}

function writeOptPayload(w: Writer, p: EventPayload | null | undefined): void {
  if (p == null) {
    w.byte(0x80);
    return;
  }
  w.byte(0x81);
  if (p.kind === "binary") {
    w.byte(0x80);
    w.string(p.type);
    w.bytesField(p.data);
  } else if (p.kind === "json") {
    w.byte(0x81);
    writeJsonText(w, p.data);
  } else {
    throw new TypeError(
      `unknown payload kind ${(p as { kind: unknown }).kind}`,
    );
  }
}

/** Write an Event. */
export function writeEvent(w: Writer, e: Event): void {
  writeEventId(w, e.id);
  writeEventType(w, e.type);
  writeTimestamp(w, e.timestamp);
  writeOptTimestamp(w, e.sourceTimestamp);
  writeOptPayload(w, e.payload);
}

/** Write an Array(Event): the body of MsgEventsNotify. */
export function writeEvents(w: Writer, events: readonly Event[]): void {
  w.int(events.length);
  for (let i = 0; i < events.length; i++) writeEvent(w, events[i]);
}

/** Write a RegisterEvent. */
export function writeRegisterEvent(w: Writer, e: RegisterEvent): void {
  writeEventType(w, e.type);
  writeOptTimestamp(w, e.sourceTimestamp);
  writeOptPayload(w, e.payload);
}

/** Write MsgRegisterReq: Array(RegisterEvent). */
export function writeRegisterReq(
  w: Writer,
  events: readonly RegisterEvent[],
): void {
  w.int(events.length);
  for (let i = 0; i < events.length; i++) writeRegisterEvent(w, events[i]);
}

/** Write MsgRegisterRes: the registered events, or `null` for failure. */
export function writeRegisterRes(
  w: Writer,
  events: readonly Event[] | null,
): void {
  if (events == null) {
    w.byte(0x81);
  } else {
    w.byte(0x80);
    writeEvents(w, events);
  }
}

/** Write a Status (also the body of MsgStatusNotify). */
export function writeStatus(w: Writer, status: Status): void {
  const i = STATUSES.indexOf(status);
  if (i < 0) throw new TypeError(`unknown status ${status}`);
  w.int(i);
}

/** Write MsgInitReq. */
export function writeInitReq(w: Writer, m: MsgInitReq): void {
  w.string(m.clientName);
  if (m.clientToken == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    w.string(m.clientToken);
  }
  writeEventTypes(w, m.subscriptions);
  writeOptInt(w, m.serverId);
  w.bool(m.persisted);
}

/** Write MsgInitRes. */
export function writeInitRes(w: Writer, m: MsgInitRes): void {
  if (m.type === "success") {
    w.byte(0x80);
    writeStatus(w, m.status);
  } else {
    w.byte(0x81);
    w.string(m.error);
  }
}

/** Write MsgQueryReq: QueryParams, with the reference's defaults. */
export function writeQueryParams(w: Writer, p: QueryParams): void {
  switch (p.kind) {
    case "latest":
      w.byte(0x80);
      writeOptEventTypes(w, p.eventTypes);
      return;
    case "timeseries": {
      w.byte(0x81);
      writeOptEventTypes(w, p.eventTypes);
      writeOptTimestamp(w, p.tFrom);
      writeOptTimestamp(w, p.tTo);
      writeOptTimestamp(w, p.sourceTFrom);
      writeOptTimestamp(w, p.sourceTTo);
      const order = ORDERS.indexOf(p.order ?? "descending");
      if (order < 0) throw new TypeError(`unknown order ${p.order}`);
      w.int(order);
      const orderBy = ORDER_BYS.indexOf(p.orderBy ?? "timestamp");
      if (orderBy < 0) throw new TypeError(`unknown orderBy ${p.orderBy}`);
      w.int(orderBy);
      writeOptInt(w, p.maxResults);
      writeOptEventId(w, p.lastEventId);
      return;
    }
    case "server":
      w.byte(0x82);
      w.int(p.serverId);
      w.bool(p.persisted ?? false);
      writeOptInt(w, p.maxResults);
      writeOptEventId(w, p.lastEventId);
      return;
    default:
      throw new TypeError(
        `unknown query kind ${(p as { kind: unknown }).kind}`,
      );
  }
}

/** Write MsgQueryRes: QueryResult. */
export function writeQueryResult(w: Writer, res: QueryResult): void {
  writeEvents(w, res.events);
  w.bool(res.moreFollows);
}

// ---------------------------------------------------------------- readers

/** Read a Timestamp (`s` exact at any size; `us` in [0, 1e6)). */
export function readTimestamp(r: Reader): Timestamp {
  const s = r.int();
  const at = r.pos;
  const us = r.safeInt();
  if (us < 0 || us >= 1000000) {
    r.fail(`timestamp microseconds out of range: ${us}`, at);
  }
  return { s, us };
}

function readOptTimestamp(r: Reader): Timestamp | null {
  return optional(r) ? readTimestamp(r) : null;
}

/** Read an EventId. */
export function readEventId(r: Reader): EventId {
  return { server: r.safeInt(), session: r.safeInt(), instance: r.safeInt() };
}

function readOptEventId(r: Reader): EventId | null {
  return optional(r) ? readEventId(r) : null;
}

function readOptInt(r: Reader): number | null {
  return optional(r) ? r.safeInt() : null;
}

// Event types repeat endlessly (a gateway registers the same few hundred
// over and over): decoded ones are cached whole, frozen, by their bytes.
// A miss must cost little more than decoding, for systems with more types
// than the cache holds: the bytes of cached types are copied into one
// arena (no allocation per entry), and nothing else is done until a type
// is decoded a second time.
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
const typeCacheValues: EventType[] = new Array(TYPE_CACHE_SIZE);
const typeCacheShared = new Uint8Array(TYPE_CACHE_SIZE);
// The encodings of types decoded more than once, by the (frozen, so
// unchanging) arrays themselves, for writing them back.
const typeEncodings = new WeakMap<EventType, Uint8Array>();
// Whether typed arrays store words little-endian here (the arena's words).
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Read an EventType. The result is frozen and may be shared by every
 * event of the same type decoded in this process.
 */
export function readEventType(r: Reader): EventType {
  const buf = r.buf;
  const end = r.end;
  const start = r.pos;
  // The cache applies when the count and every segment length are one
  // byte (under 64); else the general path.
  let p = start;
  if (p >= end) return readEventTypeSlow(r);
  const count = buf[p++];
  if (count < 0x80 || count >= 0xc0) return readEventTypeSlow(r);
  for (let i = 0x80; i < count; i++) {
    if (p >= end) return readEventTypeSlow(r);
    const len = buf[p];
    const segEnd = p + len - 0x7f;
    if (len < 0x80 || len >= 0xc0 || segEnd > end) {
      return readEventTypeSlow(r);
    }
    p = segEnd;
  }
  const size = p - start;
  if (size > SLOT_BYTES) return readEventTypeSlow(r);
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
      const type = typeCacheValues[slot];
      if (typeCacheShared[slot] === 0) {
        // Decoded again: worth its own copy of the bytes for writing back.
        typeCacheShared[slot] = 1;
        typeEncodings.set(type, arenaBytes.slice(from, from + size));
      }
      return type;
    }
  }
  const type = readEventTypeSlow(r);
  const from = slot * SLOT_BYTES;
  for (let i = 0; i < size; i++) arenaBytes[from + i] = buf[start + i];
  typeCacheSize[slot] = size;
  typeCacheValues[slot] = type;
  typeCacheShared[slot] = 0;
  return type;
}

function readEventTypeSlow(r: Reader): EventType {
  const n = r.length();
  const type: string[] = new Array(n);
  for (let i = 0; i < n; i++) type[i] = r.string();
  return Object.freeze(type);
}

function readEventTypes(r: Reader): EventType[] {
  const n = r.length();
  const types: EventType[] = [];
  for (let i = 0; i < n; i++) types.push(readEventType(r));
  return types;
}

function readOptEventTypes(r: Reader): EventType[] | null {
  return optional(r) ? readEventTypes(r) : null;
}

function readOptPayload(r: Reader): EventPayload | null {
  if (!optional(r)) return null;
  if (choice(r, 2) === 0) {
    const type = r.string();
    // A view, not a copy (copying costs ~20x more per payload): Chatter
    // never reuses receive-buffer bytes handed out, but a kept payload
    // keeps its receive chunk alive; `data.slice()` to hold it long-term.
    return { kind: "binary", type, data: r.bytesView() };
  }
  const at = r.pos;
  try {
    return { kind: "json", data: readJsonText(r) };
  } catch (e) {
    if (e instanceof SbsError) throw e;
    r.fail(`invalid JSON payload: ${(e as Error).message}`, at);
  }
}

/** Read an Event. */
export function readEvent(r: Reader): Event {
  const id = readEventId(r);
  const type = readEventType(r);
  const timestamp = readTimestamp(r);
  const sourceTimestamp = readOptTimestamp(r);
  const payload = readOptPayload(r);
  return { id, type, timestamp, sourceTimestamp, payload };
}

/** Read an Array(Event): the body of MsgEventsNotify. */
export function readEvents(r: Reader): Event[] {
  const n = r.length();
  const events: Event[] = [];
  for (let i = 0; i < n; i++) events.push(readEvent(r));
  return events;
}

/** Read a RegisterEvent. */
export function readRegisterEvent(r: Reader): RegisterEvent {
  const type = readEventType(r);
  const sourceTimestamp = readOptTimestamp(r);
  const payload = readOptPayload(r);
  return { type, sourceTimestamp, payload };
}

/** Read MsgRegisterReq. */
export function readRegisterReq(r: Reader): RegisterEvent[] {
  const n = r.length();
  const events: RegisterEvent[] = [];
  for (let i = 0; i < n; i++) events.push(readRegisterEvent(r));
  return events;
}

/** Read MsgRegisterRes: events, or `null` for failure. */
export function readRegisterRes(r: Reader): Event[] | null {
  return choice(r, 2) === 0 ? readEvents(r) : null;
}

/** Read a Status (the body of MsgStatusNotify). */
export function readStatus(r: Reader): Status {
  return STATUSES[choice(r, STATUSES.length)];
}

/** Read MsgInitReq. */
export function readInitReq(r: Reader): MsgInitReq {
  const clientName = r.string();
  const clientToken = optional(r) ? r.string() : null;
  const subscriptions = readEventTypes(r);
  const serverId = readOptInt(r);
  const persisted = r.bool();
  return { clientName, clientToken, subscriptions, serverId, persisted };
}

/** Read MsgInitRes. */
export function readInitRes(r: Reader): MsgInitRes {
  return choice(r, 2) === 0
    ? { type: "success", status: readStatus(r) }
    : { type: "error", error: r.string() };
}

/** Read MsgQueryReq: QueryParams, every field present (absent optionals are `null`). */
export function readQueryParams(r: Reader): QueryParams {
  switch (choice(r, 3)) {
    case 0:
      return { kind: "latest", eventTypes: readOptEventTypes(r) };
    case 1:
      return {
        kind: "timeseries",
        eventTypes: readOptEventTypes(r),
        tFrom: readOptTimestamp(r),
        tTo: readOptTimestamp(r),
        sourceTFrom: readOptTimestamp(r),
        sourceTTo: readOptTimestamp(r),
        order: ORDERS[choice(r, 2)],
        orderBy: ORDER_BYS[choice(r, 2)],
        maxResults: readOptInt(r),
        lastEventId: readOptEventId(r),
      };
    default:
      return {
        kind: "server",
        serverId: r.safeInt(),
        persisted: r.bool(),
        maxResults: readOptInt(r),
        lastEventId: readOptEventId(r),
      };
  }
}

/** Read MsgQueryRes: QueryResult. */
export function readQueryResult(r: Reader): QueryResult {
  const events = readEvents(r);
  return { events, moreFollows: r.bool() };
}
