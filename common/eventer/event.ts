/**
 * Codecs of an Event and its parts, the shared types of SPEC §3:
 * `Timestamp`, `EventId`, `EventPayload`, `Event` and `RegisterEvent`
 * (`EventType` has a file of its own). Each type's writer and reader
 * stand side by side, in SPEC order.
 *
 * @module
 */

import {
  intWidth,
  MAX_CACHED_LENGTH,
  putInt32,
  type Reader,
  SbsError,
  type Writer,
} from "../sbs/mod.ts";
import { isJsonText, readJsonText, writeJsonText } from "../json/mod.ts";
import { JsonBytes, jsonBytesKind } from "../json/validate_bytes.ts";
import {
  type Event,
  type EventId,
  type EventPayload,
  JsonTextPayload,
  jsonTextPayloadUnchecked,
  type RegisterEvent,
  type Timestamp,
} from "../event/mod.ts";
import { readEventType, writeEventType } from "./event_type.ts";

// ------------------------------------------------------------- Timestamp

/**
 * Write a Timestamp (checked before: `s` an integer, `us` in [0, 1e6);
 * see `checkTimestamp`).
 */
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
    // A number beyond 2^53 is still exact when it is an integer (the
    // reference's -2^63 sentinel is one): written through a bigint.
    w.int(typeof s === "number" && !Number.isSafeInteger(s) ? BigInt(s) : s);
    w.int(us);
  }
}

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

/** Write an Optional(Timestamp). */
export function writeOptTimestamp(
  w: Writer,
  t: Timestamp | null | undefined,
): void {
  if (t == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    writeTimestamp(w, t);
  }
}

/** Read an Optional(Timestamp). */
export function readOptTimestamp(r: Reader): Timestamp | null {
  return r.optional() ? readTimestamp(r) : null;
}

// --------------------------------------------------------------- EventId

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

/** Read an EventId. */
export function readEventId(r: Reader): EventId {
  return { server: r.safeInt(), session: r.safeInt(), instance: r.safeInt() };
}

/** Write an Optional(EventId). */
export function writeOptEventId(
  w: Writer,
  id: EventId | null | undefined,
): void {
  if (id == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    writeEventId(w, id);
  }
}

/** Read an Optional(EventId). */
export function readOptEventId(r: Reader): EventId | null {
  return r.optional() ? readEventId(r) : null;
}

// ---------------------------------------------------------- EventPayload

/** Write an Optional(EventPayload). */
export function writeOptPayload(
  w: Writer,
  p: EventPayload | null | undefined,
): void {
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
    // A payload that kept its text is written as that very text.
    if (p instanceof JsonTextPayload) w.string(p.text);
    else writeJsonText(w, p.data);
  } else {
    throw new TypeError(
      `unknown payload kind ${(p as { kind: unknown }).kind}`,
    );
  }
}

/** Read an Optional(EventPayload). */
export function readOptPayload(r: Reader): EventPayload | null {
  if (!r.optional()) return null;
  if (r.choice(2) === 0) {
    const type = r.string();
    // A view, not a copy (a copy per payload costs far more): Chatter
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

/**
 * Read an Optional(EventPayload), a JSON payload as a
 * {@linkcode JsonTextPayload} of its text: checked, not parsed.
 */
export function readOptPayloadKeepingText(r: Reader): EventPayload | null {
  if (!r.optional()) return null;
  if (r.choice(2) === 0) {
    const type = r.string();
    return { kind: "binary", type, data: r.bytesView() };
  }
  const at = r.pos;
  // Checked on its bytes (the common case, at less than half the cost of
  // checking the text), else the text as decoded.
  const n = r.length();
  const kind = jsonBytesKind(r.buf, r.pos, r.pos + n);
  // ASCII beyond the string cache's length: decoded without a second look.
  if (kind === JsonBytes.ascii && n > MAX_CACHED_LENGTH) {
    return jsonTextPayloadUnchecked(r.latin1(n));
  }
  r.pos = at;
  const text = r.string();
  if (kind === JsonBytes.undecided && !isJsonText(text)) {
    r.fail("invalid JSON payload", at);
  }
  return jsonTextPayloadUnchecked(text);
}

// ----------------------------------------------------------------- Event

/** Write an Event. */
export function writeEvent(w: Writer, e: Event): void {
  writeEventId(w, e.id);
  writeEventType(w, e.type);
  writeTimestamp(w, e.timestamp);
  writeOptTimestamp(w, e.sourceTimestamp);
  writeOptPayload(w, e.payload);
}

/** Read an Event. */
export function readEvent(r: Reader, keepJsonText = false): Event {
  const id = readEventId(r);
  const type = readEventType(r);
  const timestamp = readTimestamp(r);
  const sourceTimestamp = readOptTimestamp(r);
  const payload = keepJsonText
    ? readOptPayloadKeepingText(r)
    : readOptPayload(r);
  return { id, type, timestamp, sourceTimestamp, payload };
}

/** Write an Array(Event). */
export function writeEvents(w: Writer, events: readonly Event[]): void {
  w.int(events.length);
  for (let i = 0; i < events.length; i++) writeEvent(w, events[i]);
}

/**
 * Write an Array(Event) of `events` from index `from` on, stopping after
 * the event that takes the array past `maxBytes` (at least one event is
 * written): a batch too large for one message goes as several.
 *
 * @returns The index after the last event written.
 */
export function writeEventsUpTo(
  w: Writer,
  events: readonly Event[],
  from: number,
  maxBytes: number,
): number {
  const n = events.length;
  // Room for the count of all that is left; the count written is never
  // wider.
  const guess = intWidth(n - from);
  const mark = w.pos;
  w.ensure(guess);
  w.pos += guess;
  const start = w.pos;
  let i = from;
  do writeEvent(w, events[i++]); while (i < n && w.pos - start < maxBytes);
  const count = i - from;
  const width = intWidth(count);
  if (width !== guess) {
    w.buf.copyWithin(mark + width, start, w.pos);
    w.pos -= guess - width;
  }
  putInt32(w.buf, mark, count);
  return i;
}

/** Read an Array(Event). */
export function readEvents(r: Reader, keepJsonText = false): Event[] {
  const n = r.length();
  const events: Event[] = [];
  for (let i = 0; i < n; i++) events.push(readEvent(r, keepJsonText));
  return events;
}

// --------------------------------------------------------- RegisterEvent

/** Write a RegisterEvent. */
export function writeRegisterEvent(w: Writer, e: RegisterEvent): void {
  writeEventType(w, e.type);
  writeOptTimestamp(w, e.sourceTimestamp);
  writeOptPayload(w, e.payload);
}

/**
 * Read a RegisterEvent.
 *
 * @param r The reader.
 * @param keepJsonText Keep a JSON payload's text
 * (`readOptPayloadKeepingText`; default false: parsed).
 */
export function readRegisterEvent(
  r: Reader,
  keepJsonText = false,
): RegisterEvent {
  const type = readEventType(r);
  const sourceTimestamp = readOptTimestamp(r);
  const payload = keepJsonText
    ? readOptPayloadKeepingText(r)
    : readOptPayload(r);
  return { type, sourceTimestamp, payload };
}
