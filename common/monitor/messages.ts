/**
 * The `HatObserver` messages (SPEC-monitor §1), between a component and
 * its local Hat Monitor Server, and between Monitor Servers: each
 * message's writer and reader side by side, in schema order. Writers
 * append to a {@linkcode Writer}; readers consume a {@linkcode Reader} and
 * throw `SbsError` on malformed input.
 *
 * The records keep what is on the wire: `data` is the JSON text (the
 * Monitor Server writes it again with Python's separators, so compare by
 * value), Integers are `number` when safe and `bigint` beyond.
 *
 * @module
 */

import type { Reader, Writer } from "../sbs/mod.ts";

/** Chatter `data.type` names of the observer messages. */
export const ObserverMsgType = {
  Client: "HatObserver.MsgClient",
  Server: "HatObserver.MsgServer",
  Close: "HatObserver.MsgClose",
  Slave: "HatObserver.MsgSlave",
  Master: "HatObserver.MsgMaster",
} as const;

/** An SBS Integer as read: a `number` when safe, else a `bigint`. */
export type SbsInteger = number | bigint;

/** `HatObserver.BlessingReq`: what the master asks of a component. */
export interface BlessingReq {
  /** Blessing token, absent when the component is not blessed. */
  token: SbsInteger | null;
  /** Unix seconds (a Float) when the master gave the token. */
  timestamp: number | null;
}

/** `HatObserver.BlessingRes`: a component's answer to its blessing. */
export interface BlessingRes {
  /** The request token the component took on, or none. */
  token: SbsInteger | null;
  /** The component is ready to be blessed. */
  ready: boolean;
}

/** `HatObserver.ComponentInfo`, as on the wire (`data` is JSON text). */
export interface ComponentInfoRecord {
  /** Connection id on its local Monitor Server. */
  cid: SbsInteger;
  /** Monitor id (0: the master). */
  mid: SbsInteger;
  /** Component name, absent until its first MsgClient. */
  name: string | null;
  /** Component group, absent until its first MsgClient. */
  group: string | null;
  /** Component data as JSON text. */
  data: string;
  /** Rank: lower wins under BLESS_ONE. */
  rank: SbsInteger;
  /** Request, set by the master. */
  blessingReq: BlessingReq;
  /** Response, set by the component. */
  blessingRes: BlessingRes;
}

/** `HatObserver.MsgClient`: component → its local Monitor Server. */
export interface MsgClient {
  /** Component name. */
  name: string;
  /** Component group. */
  group: string;
  /** Component data as JSON text. */
  data: string;
  /** The component's blessing response. */
  blessingRes: BlessingRes;
}

/** `HatObserver.MsgServer`: Monitor Server → each of its components. */
export interface MsgServer {
  /** The receiving component's connection id. */
  cid: SbsInteger;
  /** The server's monitor id. */
  mid: SbsInteger;
  /** Every component of the system (global state). */
  components: ComponentInfoRecord[];
}

/** `HatObserver.MsgSlave`: slave Monitor Server → master. */
export interface MsgSlave {
  /** The slave's local components. */
  components: ComponentInfoRecord[];
}

/** `HatObserver.MsgMaster`: master → slave Monitor Server. */
export interface MsgMaster {
  /** The monitor id the master gave the slave. */
  mid: SbsInteger;
  /** Every component of the system (global state). */
  components: ComponentInfoRecord[];
}

// ----------------------------------------------------- shared records

function writeOptInt(w: Writer, v: SbsInteger | null): void {
  if (v == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    w.int(v);
  }
}

function writeOptString(w: Writer, v: string | null): void {
  if (v == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    w.string(v);
  }
}

/** Write BlessingReq. */
export function writeBlessingReq(w: Writer, m: BlessingReq): void {
  writeOptInt(w, m.token);
  if (m.timestamp == null) {
    w.byte(0x80);
  } else {
    w.byte(0x81);
    w.float(m.timestamp);
  }
}

/** Read BlessingReq. */
export function readBlessingReq(r: Reader): BlessingReq {
  const token = r.optional() ? r.int() : null;
  const timestamp = r.optional() ? r.float() : null;
  return { token, timestamp };
}

/** Write BlessingRes. */
export function writeBlessingRes(w: Writer, m: BlessingRes): void {
  writeOptInt(w, m.token);
  w.bool(m.ready);
}

/** Read BlessingRes. */
export function readBlessingRes(r: Reader): BlessingRes {
  const token = r.optional() ? r.int() : null;
  const ready = r.bool();
  return { token, ready };
}

/** Write ComponentInfo. */
export function writeComponentInfo(w: Writer, m: ComponentInfoRecord): void {
  w.int(m.cid);
  w.int(m.mid);
  writeOptString(w, m.name);
  writeOptString(w, m.group);
  w.string(m.data);
  w.int(m.rank);
  writeBlessingReq(w, m.blessingReq);
  writeBlessingRes(w, m.blessingRes);
}

/** Read ComponentInfo. */
export function readComponentInfo(r: Reader): ComponentInfoRecord {
  const cid = r.int();
  const mid = r.int();
  const name = r.optional() ? r.string() : null;
  const group = r.optional() ? r.string() : null;
  const data = r.string();
  const rank = r.int();
  const blessingReq = readBlessingReq(r);
  const blessingRes = readBlessingRes(r);
  return { cid, mid, name, group, data, rank, blessingReq, blessingRes };
}

function writeComponents(
  w: Writer,
  components: readonly ComponentInfoRecord[],
): void {
  w.int(components.length);
  for (const c of components) writeComponentInfo(w, c);
}

function readComponents(r: Reader): ComponentInfoRecord[] {
  // Each ComponentInfo takes at least 10 bytes: the bound keeps a forged
  // count from making a huge array.
  const n = r.length(Math.floor((r.end - r.pos) / 10));
  const components: ComponentInfoRecord[] = [];
  for (let i = 0; i < n; i++) components.push(readComponentInfo(r));
  return components;
}

// ------------------------------------------------------------ messages

/** Write MsgClient. */
export function writeMsgClient(w: Writer, m: MsgClient): void {
  w.string(m.name);
  w.string(m.group);
  w.string(m.data);
  writeBlessingRes(w, m.blessingRes);
}

/** Read MsgClient. */
export function readMsgClient(r: Reader): MsgClient {
  const name = r.string();
  const group = r.string();
  const data = r.string();
  const blessingRes = readBlessingRes(r);
  return { name, group, data, blessingRes };
}

/** Write MsgServer. */
export function writeMsgServer(w: Writer, m: MsgServer): void {
  w.int(m.cid);
  w.int(m.mid);
  writeComponents(w, m.components);
}

/** Read MsgServer. */
export function readMsgServer(r: Reader): MsgServer {
  const cid = r.int();
  const mid = r.int();
  const components = readComponents(r);
  return { cid, mid, components };
}

// MsgClose is None: no bytes.

/** Write MsgSlave. */
export function writeMsgSlave(w: Writer, m: MsgSlave): void {
  writeComponents(w, m.components);
}

/** Read MsgSlave. */
export function readMsgSlave(r: Reader): MsgSlave {
  return { components: readComponents(r) };
}

/** Write MsgMaster. */
export function writeMsgMaster(w: Writer, m: MsgMaster): void {
  w.int(m.mid);
  writeComponents(w, m.components);
}

/** Read MsgMaster. */
export function readMsgMaster(r: Reader): MsgMaster {
  const mid = r.int();
  const components = readComponents(r);
  return { mid, components };
}
