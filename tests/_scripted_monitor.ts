// The monitor side of a Hat monitor connection, scripted by a test: the
// states a Monitor Server would send to its component of cid 1.

import type { Connection } from "../common/chatter/mod.ts";
import {
  type ComponentInfoRecord,
  ObserverMsgType,
  writeMsgServer,
} from "../common/monitor/mod.ts";

/**
 * A component of `group` (mid 0, rank 1, ready), with blessing request
 * `req` and response `res` tokens, and `data` as its JSON.
 */
export function componentInfo(
  cid: number,
  name: string,
  data: unknown = null,
  req: number | null = null,
  res: number | null = null,
  group = "event",
): ComponentInfoRecord {
  return {
    cid,
    mid: 0,
    name,
    group,
    data: JSON.stringify(data),
    rank: 1,
    blessingReq: { token: req, timestamp: req === null ? null : 1.5 },
    blessingRes: { token: res, ready: true },
  };
}

/** The data an Event Server listening on 127.0.0.1:`port` publishes. */
export function eventServerData(serverId: number, port: number) {
  return {
    server_id: serverId,
    eventer_server: { host: "127.0.0.1", port },
    server_token: null,
  };
}

/** Send the monitor state of `components` to the component of cid 1. */
export function sendState(
  conn: Connection,
  components: ComponentInfoRecord[],
): Promise<unknown> {
  return conn.send(
    ObserverMsgType.Server,
    (w) => writeMsgServer(w, { cid: 1, mid: 0, components }),
  );
}
