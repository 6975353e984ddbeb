// The sync client (event_server/_sync_client.ts) against the recorded
// sync session of monitor.json `syncTrace` (a real hat-event-server 0.9.44
// syncing from another): our Chatter layer on a loopback port plays the
// peer's side byte for byte, and every message our client sends is
// compared with what the reference's sync client sent at that point.

import assert from "node:assert/strict";
import * as chatter from "../common/chatter/mod.ts";
import {
  MsgType,
  readInitReq,
  readQueryParams,
  readRegisterReq,
} from "../common/eventer/mod.ts";
import type { Event, EventId } from "../common/event/mod.ts";
import {
  startSync,
  type SyncedState,
  type SyncTarget,
} from "../event_server/_sync_client.ts";
import { hexToBytes } from "./_vectors.ts";
import { loadMonitorVectors } from "./_monitor_vectors.ts";
import { deadline, LOCAL } from "./_net.ts";

const vectors = loadMonitorVectors();

class ListTarget implements SyncTarget {
  events: Event[] = [];
  getLastEventId(serverId: number): EventId {
    const last = this.events.findLast((e) => e.id.server === serverId);
    return last?.id ?? { server: serverId, session: 0, instance: 0 };
  }
  write(events: Event[]): void {
    this.events.push(...events);
  }
}

// A recorded JSON payload as its value (the reference writes `{"a": 1}`,
// we write `{"a":1}`: the values are compared).
// deno-lint-ignore no-explicit-any
const recordedJson = (p: any) => JSON.parse(p[1][1]);
// deno-lint-ignore no-explicit-any
const ourJson = (p: any) => p.kind === "json" ? p.data : p;

Deno.test({
  name: "sync client: replays the recorded sync session (monitor.json " +
    "syncTrace) message for message",
  ignore: vectors === null,
  async fn() {
    const accepted = Promise.withResolvers<chatter.Connection>();
    const peer = await chatter.listen(
      (conn) => accepted.resolve(conn),
      LOCAL,
    );
    const target = new ListTarget();
    const states: [SyncedState, number | null][] = [];
    // Our conversations, by the id the reference's client gave them.
    const convs = new Map<number, chatter.Conversation>();
    const started = startSync(peer.addresses[0], {
      name: "event-2",
      serverId: 2,
      peerServerId: 1,
      target,
      syncedCb: (state, count) => void states.push([state, count]),
    });
    const conn = await deadline(accepted.promise, 2000, "connection");
    let sync;
    try {
      let sent = 0;
      let received = 0;
      for (const e of vectors!.syncTrace) {
        if (e.event === "synced_cb") {
          await deadline(
            (async () => {
              while (!states.some(([s]) => s === e.state)) {
                await new Promise((r) => setTimeout(r, 1));
              }
            })(),
            2000,
            `synced ${e.state}`,
          );
          continue;
        }
        if (e.conn !== 1) continue;
        if (e.closed) break;
        if (e.dir === "s2c") {
          // A reply goes into the conversation of the request it answers.
          const conv = e.frame.owner ? undefined : convs.get(e.frame.first);
          await conn.send(e.type, hexToBytes(e.hex), {
            conv,
            last: e.frame.last,
          });
          sent++;
          if (e.type === MsgType.InitRes) sync = await started;
          continue;
        }
        const msg = await deadline(conn.receive(), 2000, `c2s ${e.type}`);
        received++;
        assert.equal(msg.type, e.type, `c2s ${e.frame.id}`);
        assert.equal(msg.last, e.frame.last, `c2s ${e.frame.id} last`);
        convs.set(e.frame.id, msg.conv);
        const r = msg.reader();
        const v = e.value;
        if (e.type === MsgType.InitReq) {
          const m = readInitReq(r);
          assert.deepEqual(m, {
            clientName: v.clientName,
            clientToken: v.clientToken[1],
            subscriptions: v.subscriptions,
            serverId: v.serverId[1],
            persisted: v.persisted,
          });
        } else if (e.type === MsgType.RegisterReq) {
          const [event] = readRegisterReq(r);
          assert.deepEqual(event.type, v[0].type);
          assert.equal(event.sourceTimestamp ?? null, null);
          assert.deepEqual(
            ourJson(event.payload),
            recordedJson(v[0].payload),
            `c2s ${e.frame.id}`,
          );
        } else if (e.type === MsgType.QueryReq) {
          const params = readQueryParams(r);
          assert.deepEqual(params, {
            kind: "server",
            serverId: v[1].serverId,
            persisted: v[1].persisted,
            maxResults: null,
            lastEventId: v[1].lastEventId[1],
          });
        }
      }
      await deadline(
        (async () => {
          while (target.events.length < 10) {
            await new Promise((r) => setTimeout(r, 1));
          }
        })(),
        2000,
        "the last notification written",
      );
      assert.equal(sent, 10);
      assert.equal(received, 6);
      assert.deepEqual(states, [
        ["CONNECTED", null],
        ["SYNCING", null],
        ["SYNCED", 4],
      ]);
      // Everything the peer sent, once, in order: the queried sessions
      // 1-3, then the notified 4-9.
      const ids = target.events.map((e) =>
        [e.id.server, e.id.session, e.id.instance].join("/")
      );
      assert.deepEqual(ids, [
        "1/1/1",
        "1/2/1",
        "1/2/2",
        "1/3/1",
        "1/4/1",
        "1/5/1",
        "1/6/1",
        "1/7/1",
        "1/8/1",
        "1/9/1",
      ]);
      const last = vectors!.syncTrace.find((e: { step?: string }) =>
        e.step?.startsWith("server 2 closes")
      ).server2_last_event_id_of_server1;
      const { server, session, instance } = target.getLastEventId(1);
      assert.deepEqual([server, session, instance], last);
    } finally {
      await (sync ?? await started.catch(() => null))?.asyncClose();
      await peer.asyncClose();
    }
  },
});
