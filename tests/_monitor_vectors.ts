// Loading ../shared/monitor/monitor.json and mapping its SBS data model
// (the README beside it) onto the HatObserver records.

import type {
  BlessingReq,
  BlessingRes,
  ComponentInfoRecord,
  MsgClient,
  MsgMaster,
  MsgServer,
  MsgSlave,
} from "../common/monitor/mod.ts";
import { float, int } from "./_vectors.ts";

/** The monitor vectors, beside the project. */
export const MONITOR_JSON = new URL(
  "../../shared/monitor/monitor.json",
  import.meta.url,
);

// deno-lint-ignore no-explicit-any
type V = any;

/** Parsed monitor.json, or null when ../shared/monitor is absent. */
export function loadMonitorVectors(): V | null {
  try {
    return JSON.parse(Deno.readTextFileSync(MONITOR_JSON));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function opt<T>(v: V, f: (x: V) => T): T | null {
  return v[0] === "none" ? null : f(v[1]);
}

const str = (x: V): string => x;

export function blessingReq(v: V): BlessingReq {
  return { token: opt(v.token, int), timestamp: opt(v.timestamp, float) };
}

export function blessingRes(v: V): BlessingRes {
  return { token: opt(v.token, int), ready: v.ready };
}

export function componentInfo(v: V): ComponentInfoRecord {
  return {
    cid: int(v.cid),
    mid: int(v.mid),
    name: opt(v.name, str),
    group: opt(v.group, str),
    data: v.data,
    rank: int(v.rank),
    blessingReq: blessingReq(v.blessingReq),
    blessingRes: blessingRes(v.blessingRes),
  };
}

export function msgClient(v: V): MsgClient {
  return {
    name: v.name,
    group: v.group,
    data: v.data,
    blessingRes: blessingRes(v.blessingRes),
  };
}

export function msgServer(v: V): MsgServer {
  return {
    cid: int(v.cid),
    mid: int(v.mid),
    components: v.components.map(componentInfo),
  };
}

/** The record of a `messages` entry, by type. */
export function observerValue(type: string, v: V): unknown {
  switch (type) {
    case "HatObserver.BlessingReq":
      return blessingReq(v);
    case "HatObserver.BlessingRes":
      return blessingRes(v);
    case "HatObserver.ComponentInfo":
      return componentInfo(v);
    case "HatObserver.MsgClient":
      return msgClient(v);
    case "HatObserver.MsgServer":
      return msgServer(v);
    case "HatObserver.MsgClose":
      return null;
    case "HatObserver.MsgSlave":
      return {
        components: v.components.map(componentInfo),
      } satisfies MsgSlave;
    case "HatObserver.MsgMaster":
      return {
        mid: int(v.mid),
        components: v.components.map(componentInfo),
      } satisfies MsgMaster;
  }
  throw new Error(`unknown monitor vector type ${type}`);
}
