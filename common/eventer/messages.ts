/**
 * The `HatEventer` messages (SPEC §3), in SPEC order: each message's
 * writer and reader side by side. Writers append to a {@linkcode Writer};
 * readers consume a {@linkcode Reader} and throw {@linkcode SbsError} on
 * malformed input. The shared types they are made of are in `event.ts`
 * and `event_type.ts`.
 *
 * Adding a message: its name in {@linkcode MsgType}, its pair here, its
 * `#process<Name>` in the client or the server, and its tests.
 *
 * @module
 */

import { EventerError } from "../errors.ts";
import { Reader, type Writer } from "../sbs/mod.ts";
import {
  type Event,
  type EventType,
  InvalidQueryTypeError,
  type Order,
  type OrderBy,
  type QueryParams,
  type QueryResult,
  type RegisterEvent,
  type Status,
  STATUSES,
} from "../event/mod.ts";
import {
  readEvents,
  readOptEventId,
  readOptTimestamp,
  readRegisterEvent,
  writeEvents,
  writeOptEventId,
  writeOptTimestamp,
  writeRegisterEvent,
} from "./event.ts";
import { readEventTypes, writeEventTypes } from "./event_type.ts";

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

// ------------------------------------------------------------ MsgInitReq

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

/** Read MsgInitReq. */
export function readInitReq(r: Reader): MsgInitReq {
  const clientName = r.string();
  const clientToken = r.optional() ? r.string() : null;
  const subscriptions = readEventTypes(r);
  const serverId = readOptInt(r);
  const persisted = r.bool();
  return { clientName, clientToken, subscriptions, serverId, persisted };
}

/**
 * `HatEventer.MsgInitReq` with its subscriptions not decoded yet: a
 * server checks who the client is before it builds anything else.
 */
export interface MsgInitReqHead extends Omit<MsgInitReq, "subscriptions"> {
  /** Query types in the subscription. */
  subscriptionCount: number;
  /**
   * Decode the subscription's query types (valid while the message's
   * buffer is: decode before releasing it).
   */
  subscriptions(): EventType[];
}

/**
 * Read MsgInitReq, skipping over its subscriptions: their count and
 * structure are checked, and every query type's `*` is last (the bytes of
 * a `*` segment are compared, not decoded), but no string or array is
 * made until `subscriptions()` is called.
 *
 * @param maxSubscriptions Most query types accepted.
 * @throws {TooManySubscriptionsError} Past `maxSubscriptions`.
 * @throws {InvalidQueryTypeError} For a `*` before a query type's end.
 * @throws {SbsError} For malformed input.
 */
export function readInitReqHead(
  r: Reader,
  maxSubscriptions: number = Infinity,
): MsgInitReqHead {
  const clientName = r.string();
  const clientToken = r.optional() ? r.string() : null;
  const start = r.pos;
  const count = r.length();
  if (count > maxSubscriptions) {
    throw new TooManySubscriptionsError(clientName, count, maxSubscriptions);
  }
  const buf = r.buf;
  for (let i = 0; i < count; i++) {
    const typeStart = r.pos;
    const n = r.length();
    for (let j = 0; j < n; j++) {
      const at = r.skipBytes();
      if (j < n - 1 && r.pos - at === 1 && buf[at] === 0x2a) {
        r.pos = typeStart;
        throw new InvalidQueryTypeError(readEventTypes1(r));
      }
    }
  }
  const end = r.pos;
  const serverId = readOptInt(r);
  const persisted = r.bool();
  return {
    clientName,
    clientToken,
    subscriptionCount: count,
    serverId,
    persisted,
    subscriptions: () => readEventTypes(new Reader(buf, start, end)),
  };
}

function readEventTypes1(r: Reader): EventType {
  const n = r.length();
  const type: string[] = [];
  for (let i = 0; i < n; i++) type.push(r.string());
  return type;
}

/**
 * A MsgInitReq subscribes to more query types than a server accepts: the
 * server refuses the init (code `INIT_REFUSED`) with this message.
 */
export class TooManySubscriptionsError extends EventerError {
  /**
   * @param clientName The client's name.
   * @param count Query types it asked for.
   * @param max Query types accepted.
   */
  constructor(
    readonly clientName: string,
    readonly count: number,
    readonly max: number,
  ) {
    super(`too many subscriptions: ${count} (at most ${max})`, {
      code: "INIT_REFUSED",
    });
    this.name = "TooManySubscriptionsError";
  }
}

// ------------------------------------------------------------ MsgInitRes

/** `HatEventer.MsgInitRes`: success with the server's status, or an error text. */
export type MsgInitRes =
  | { type: "success"; status: Status }
  | { type: "error"; error: string };

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

/** Read MsgInitRes. */
export function readInitRes(r: Reader): MsgInitRes {
  return r.choice(2) === 0
    ? { type: "success", status: readStatus(r) }
    : { type: "error", error: r.string() };
}

// ------------------------------------------------------- MsgStatusNotify

/** Write a Status (the body of MsgStatusNotify). */
export function writeStatus(w: Writer, status: Status): void {
  const i = STATUSES.indexOf(status);
  if (i < 0) throw new TypeError(`unknown status ${status}`);
  w.int(i);
}

/** Read a Status (the body of MsgStatusNotify). */
export function readStatus(r: Reader): Status {
  return STATUSES[r.choice(STATUSES.length)];
}

// ------------------------------------------------------- MsgEventsNotify
//
// The body is Array(Event): writeEvents and readEvents (event.ts).
//
// ---------------------------------------------------------- MsgEventsAck
//
// The body is None: no bytes.

// -------------------------------------------------------- MsgRegisterReq

/** Write MsgRegisterReq: Array(RegisterEvent). */
export function writeRegisterReq(
  w: Writer,
  events: readonly RegisterEvent[],
): void {
  w.int(events.length);
  for (let i = 0; i < events.length; i++) writeRegisterEvent(w, events[i]);
}

/**
 * Read MsgRegisterReq.
 *
 * @param r The reader.
 * @param keepJsonText Keep JSON payloads' texts (see `readRegisterEvent`).
 */
export function readRegisterReq(
  r: Reader,
  keepJsonText = false,
): RegisterEvent[] {
  const n = r.length();
  const events: RegisterEvent[] = [];
  for (let i = 0; i < n; i++) events.push(readRegisterEvent(r, keepJsonText));
  return events;
}

// -------------------------------------------------------- MsgRegisterRes

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

/** Read MsgRegisterRes: events, or `null` for failure. */
export function readRegisterRes(r: Reader): Event[] | null {
  return r.choice(2) === 0 ? readEvents(r) : null;
}

// ----------------------------------------------------------- MsgQueryReq

const ORDERS: readonly Order[] = ["descending", "ascending"];
const ORDER_BYS: readonly OrderBy[] = ["timestamp", "sourceTimestamp"];

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

/** Read MsgQueryReq: QueryParams, every field present (absent optionals are `null`). */
export function readQueryParams(r: Reader): QueryParams {
  switch (r.choice(3)) {
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
        order: ORDERS[r.choice(2)],
        orderBy: ORDER_BYS[r.choice(2)],
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

// ----------------------------------------------------------- MsgQueryRes

/** Write MsgQueryRes: QueryResult. */
export function writeQueryResult(
  w: Writer,
  res: { readonly events: readonly Event[]; readonly moreFollows: boolean },
): void {
  writeEvents(w, res.events);
  w.bool(res.moreFollows);
}

/** Read MsgQueryRes: QueryResult. */
export function readQueryResult(
  r: Reader,
  keepJsonText = false,
): QueryResult {
  const events = readEvents(r, keepJsonText);
  return { events, moreFollows: r.bool() };
}

// ---------------------------------------------------- optional fields

function writeOptInt(w: Writer, v: number | null | undefined): void {
  if (v == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    w.int(v);
  }
}

function readOptInt(r: Reader): number | null {
  return r.optional() ? r.safeInt() : null;
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

function readOptEventTypes(r: Reader): EventType[] | null {
  return r.optional() ? readEventTypes(r) : null;
}
