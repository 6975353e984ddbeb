// Loading ../shared/vectors and mapping their SBS data model (README there)
// onto our domain values.

import assert from "node:assert/strict";
import {
  type ChatterMsg,
  frameBodyLength,
  readChatterMsg,
} from "../common/chatter/mod.ts";
import type {
  Event,
  EventPayload,
  QueryParams,
  RegisterEvent,
  Timestamp,
} from "../common/event/mod.ts";
import type { MsgInitReq, MsgInitRes } from "../common/eventer/mod.ts";
import { Reader, Writer } from "../common/sbs/mod.ts";

/** Folder of the shared vectors, beside the project. */
export const VECTORS_DIR = new URL("../../shared/vectors/", import.meta.url);

/** Parsed vector file, or null when ../shared/vectors is absent. */
export function loadVectors<T>(name: string): T[] | null {
  try {
    return JSON.parse(Deno.readTextFileSync(new URL(name, VECTORS_DIR)));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What `f` writes, as hex. */
export function encodeHex(f: (w: Writer) => void): string {
  const w = new Writer(4);
  f(w);
  return bytesToHex(w.bytes());
}

/** What `f` reads from `hex`, which it must read whole. */
export function decodeHex<T>(hex: string, f: (r: Reader) => T): T {
  const r = new Reader(hexToBytes(hex));
  const v = f(r);
  r.done();
  return v;
}

// deno-lint-ignore no-explicit-any
type V = any;

/**
 * A whole Chatter frame of the vectors (`hex`), read: its length prefix
 * must span exactly the frame, and its header and data must be those of
 * the vector's `value` (`v`).
 */
export function readVectorFrame(hex: string, v: V): ChatterMsg {
  const frame = hexToBytes(hex);
  const k = frameBodyLength(frame, 0, frame.length, 1 << 30);
  assert.equal(1 + frame[0] + k, frame.length);
  const msg = readChatterMsg(frame, 1 + frame[0], frame.length);
  assert.deepEqual(
    { ...msg.header(), data: bytesToHex(msg.data) },
    {
      id: int(v.id),
      first: int(v.first),
      owner: v.owner,
      token: v.token,
      last: v.last,
      type: v.data.type,
      data: v.data.data.bytes,
    },
  );
  return msg;
}

/** Integer in the vector model: a number, or {int: "<decimal>"}. */
export function int(v: V): number | bigint {
  if (typeof v === "number") return v;
  const big = BigInt(v.int);
  const n = Number(big);
  return Number.isSafeInteger(n) ? n : big;
}

export function float(v: V): number {
  if (typeof v === "number") return v;
  return { nan: NaN, inf: Infinity, "-inf": -Infinity, "-0": -0 }[
    v.float as string
  ] as number;
}

export function bytes(v: V): Uint8Array {
  return hexToBytes(v.bytes);
}

function opt<T>(v: V, f: (x: V) => T): T | null {
  return v[0] === "none" ? null : f(v[1]);
}

const status = (v: V) => v[0];
const timestamp = (v: V): Timestamp => ({
  s: int(v.s),
  us: int(v.us) as number,
});
const eventId = (v: V) => ({
  server: int(v.server) as number,
  session: int(v.session) as number,
  instance: int(v.instance) as number,
});

function payload(v: V): EventPayload {
  return v[0] === "binary"
    ? { kind: "binary", type: v[1].type, data: bytes(v[1].data) }
    : { kind: "json", data: JSON.parse(v[1]) };
}

function event(v: V): Event {
  return {
    id: eventId(v.id),
    type: v.type,
    timestamp: timestamp(v.timestamp),
    sourceTimestamp: opt(v.sourceTimestamp, timestamp),
    payload: opt(v.payload, payload),
  };
}

function registerEvent(v: V): RegisterEvent {
  return {
    type: v.type,
    sourceTimestamp: opt(v.sourceTimestamp, timestamp),
    payload: opt(v.payload, payload),
  };
}

function queryParams(v: V): QueryParams {
  const p = v[1];
  switch (v[0]) {
    case "latest":
      return { kind: "latest", eventTypes: opt(p.eventTypes, (x) => x) };
    case "timeseries":
      return {
        kind: "timeseries",
        eventTypes: opt(p.eventTypes, (x) => x),
        tFrom: opt(p.tFrom, timestamp),
        tTo: opt(p.tTo, timestamp),
        sourceTFrom: opt(p.sourceTFrom, timestamp),
        sourceTTo: opt(p.sourceTTo, timestamp),
        order: p.order[0],
        orderBy: p.orderBy[0],
        maxResults: opt(p.maxResults, int) as number | null,
        lastEventId: opt(p.lastEventId, eventId),
      };
    default:
      return {
        kind: "server",
        serverId: int(p.serverId) as number,
        persisted: p.persisted,
        maxResults: opt(p.maxResults, int) as number | null,
        lastEventId: opt(p.lastEventId, eventId),
      };
  }
}

/** Domain value of an eventer.json entry, by message type. */
export function eventerValue(type: string, v: V): unknown {
  switch (type) {
    case "HatEventer.MsgInitReq":
      return {
        clientName: v.clientName,
        clientToken: opt(v.clientToken, (x) => x),
        subscriptions: v.subscriptions,
        serverId: opt(v.serverId, int),
        persisted: v.persisted,
      } satisfies Record<keyof MsgInitReq, unknown>;
    case "HatEventer.MsgInitRes":
      return (v[0] === "success"
        ? { type: "success", status: status(v[1]) }
        : { type: "error", error: v[1] }) as MsgInitRes;
    case "HatEventer.MsgStatusNotify":
      return status(v);
    case "HatEventer.MsgEventsNotify":
      return v.map(event);
    case "HatEventer.MsgEventsAck":
      return null;
    case "HatEventer.MsgRegisterReq":
      return v.map(registerEvent);
    case "HatEventer.MsgRegisterRes":
      return v[0] === "events" ? v[1].map(event) : null;
    case "HatEventer.MsgQueryReq":
      return queryParams(v);
    case "HatEventer.MsgQueryRes":
      return { events: v.events.map(event), moreFollows: v.moreFollows };
  }
  throw new Error(`unknown vector type ${type}`);
}
