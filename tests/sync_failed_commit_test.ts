// Sync between two of our Event Servers when the standby's commit of a
// peer's events fails for real (a small tmpfs filled up): the lost events
// are synced again once space returns, so the standby's copy has no hole,
// although the peer's later notifications carry newer ids. A scripted
// Monitor Server (our Chatter layer) shows the standby its peer; the peer
// runs without a monitor, operational.

import assert from "node:assert/strict";
import * as chatter from "../common/chatter/mod.ts";
import { type Client, connect } from "../client.ts";
import { startEventServer } from "../event_server/mod.ts";
import { SqliteStore } from "../store/mod.ts";
import { SyncRunner } from "../event_server/_sync_runner.ts";
import type { Event, EventId, RegisterEvent } from "../common/event/mod.ts";
import { setLogger } from "../common/log.ts";
import { mountTmpfs, TMPFS_UNAVAILABLE } from "./_tmpfs.ts";
import { delay, LOCAL } from "./_net.ts";
import {
  componentInfo,
  eventServerData,
  sendState,
} from "./_scripted_monitor.ts";

const PEER = 9;
const pad = "p".repeat(2000);
const batch = (tag: string, n: number): RegisterEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    type: ["load", tag],
    payload: { kind: "json", data: { i, pad } },
  }));

const idText = (id: EventId) => `${id.session}/${id.instance}`;

// Every committed event of the peer `c` holds, in id order, as ids.
async function heldIds(c: Client): Promise<string[]> {
  const ids: string[] = [];
  let lastEventId: EventId | null = null;
  for (;;) {
    const page = await c.query({
      kind: "server",
      serverId: PEER,
      persisted: true,
      lastEventId,
    });
    ids.push(...page.events.map((e) => idText(e.id)));
    if (!page.moreFollows) return ids;
    lastEventId = page.events.at(-1)!.id;
  }
}

// Whether `ok` came true within `ms` milliseconds.
async function until(
  ok: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<boolean> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) return false;
    await delay(20);
  }
  return true;
}

Deno.test({
  name: "sync: a peer's events lost by a failed commit are synced again, " +
    "leaving no hole in the standby's copy",
  ignore: TMPFS_UNAVAILABLE !== null,
  async fn() {
    using fs = mountTmpfs(8 * 1024 * 1024);
    const logged: string[] = [];
    setLogger({
      debug() {},
      warn: (message) => void logged.push(message),
      error: (message) => void logged.push(message),
    });
    try {
      const conns: chatter.Connection[] = [];
      await using monitor = await chatter.listen(
        (c) => void conns.push(c),
        LOCAL,
      );
      await using peer = await startEventServer({
        db: ":memory:",
        port: 0,
        serverId: PEER,
      });
      await using standby = await startEventServer({
        db: `${fs.dir}/events.db`,
        port: 0,
        serverId: 7,
        monitor: {
          addr: monitor.addresses[0],
          group: "event",
          syncReconnectDelay: 100,
        },
      });
      assert.ok(await until(() => conns.length === 1));
      await sendState(conns[0], [
        componentInfo(1, "event-7"),
        componentInfo(
          2,
          `event-${PEER}`,
          eventServerData(PEER, peer.addresses[0].port),
        ),
      ]);

      // The standby's sync states, as it registers them on the peer.
      const states: { state: string; count?: number }[] = [];
      await using writer = await connect(peer.addresses[0], "writer", {
        subscriptions: [["event", "7", "synced", String(PEER)]],
        eventsCb: (_c, events: Event[]) => {
          for (const e of events) {
            states.push(e.payload!.data as { state: string; count?: number });
          }
        },
      });
      await using reader = await connect(standby.addresses[0], "reader");
      const inSync = async () => {
        const [a, b] = [await heldIds(writer), await heldIds(reader)];
        return a.length > 0 && a.join() === b.join();
      };
      await writer.register(batch("a", 5), true);
      assert.ok(await until(inSync), "first sync");

      // The standby's disk fills up: batches until one's commit fails.
      fs.fill();
      const lost: string[] = [];
      for (let i = 0; lost.length === 0; i++) {
        assert.ok(i < 50, "the full disk failed no commit");
        const registered = await writer.register(batch(`b${i}`, 20), true);
        assert.ok(registered);
        const stored = await until(
          async () =>
            logged.some((m) => /commit failed/.test(m)) ||
            (await heldIds(reader)).includes(idText(registered.at(-1)!.id)),
          3000,
        );
        assert.ok(stored, "neither stored nor failed");
        const held = new Set(await heldIds(reader));
        lost.push(
          ...registered.map((e) => idText(e.id)).filter((id) => !held.has(id)),
        );
      }
      const failedAt = states.length;

      // Space returns, the peer registers more: notified to the standby
      // with ids after the lost ones.
      fs.free();
      await writer.register(batch("c", 3), true);
      await until(inSync);
      const [peerIds, standbyIds] = [
        await heldIds(writer),
        await heldIds(reader),
      ];
      assert.deepEqual(
        standbyIds.filter((id) => !peerIds.includes(id)),
        [],
        "held by the standby only",
      );
      assert.deepEqual(
        peerIds.filter((id) => !standbyIds.includes(id)),
        [],
        `missing on the standby (the failed commit lost ${lost.join(" ")})`,
      );
      assert.deepEqual(standbyIds, peerIds);
      // A sync made again after the failure copied the lost events (and
      // what the peer registered meanwhile) and says so.
      const last = states.at(-1)!;
      assert.ok(states.length > failedAt, "no sync state since the failure");
      assert.equal(last.state, "SYNCED");
      assert.ok(
        last.count! >= lost.length,
        `SYNCED count ${last.count}, ${lost.length} events lost`,
      );
      assert.ok(
        logged.some((m) =>
          /synced events lost by a failed commit: syncing again from server 9/
            .test(m)
        ),
        logged.join("\n"),
      );
    } finally {
      setLogger(null);
    }
  },
});

Deno.test({
  name: "sync: after a failed commit, a peer's last event id is the " +
    "database's",
  ignore: TMPFS_UNAVAILABLE !== null,
  fn() {
    using fs = mountTmpfs(8 * 1024 * 1024);
    setLogger({ debug() {}, warn() {}, error() {} });
    using store = SqliteStore.open({
      path: `${fs.dir}/events.db`,
      serverId: 1,
    });
    try {
      let session = 0;
      const peerBatch = (n: number): Event[] => {
        session++;
        return Array.from({ length: n }, (_, i) => ({
          id: { server: 2, session, instance: i + 1 },
          type: ["p"],
          timestamp: { s: session, us: 0 },
          sourceTimestamp: null,
          payload: { kind: "json", data: pad },
        }));
      };
      store.writeSynced(peerBatch(3));
      assert.equal(store.flush().committed.length, 1);
      let committed = store.getLastEventId(2);
      fs.fill();
      for (let i = 0;; i++) {
        assert.ok(i < 50, "the full disk failed no commit");
        const written = store.writeSynced(peerBatch(20));
        assert.deepEqual(store.getLastEventId(2), written.at(-1)!.id);
        const { failed } = store.flush();
        if (failed.length > 0) break;
        committed = written.at(-1)!.id;
      }
      assert.deepEqual(store.getLastEventId(2), committed);
      fs.free();
      // And the lost ids are written again.
      const again = peerBatch(1).map((e) => ({
        ...e,
        id: { ...e.id, session: committed.session + 1 },
        timestamp: { s: committed.session + 1, us: 0 },
      }));
      assert.equal(store.writeSynced(again).length, 1);
      assert.equal(store.flush().committed.length, 1);
    } finally {
      setLogger(null);
    }
  },
});

Deno.test("sync: a restarted sync keeps its peer's status, reconnects at once, then at most once a reconnectDelay", async () => {
  await using peer = await startEventServer({
    db: ":memory:",
    port: 0,
    serverId: PEER,
  });
  setLogger({ debug() {}, warn() {}, error() {} });
  using _ = { [Symbol.dispose]: () => setLogger(null) };
  const held: Event[] = [];
  const changes: boolean[] = [];
  await using runner = new SyncRunner({
    name: "event-7",
    serverId: 7,
    group: "event",
    serverToken: null,
    reconnectDelay: 300,
    target: {
      getLastEventId: (server) =>
        held.at(-1)?.id ?? { server, session: 0, instance: 0 },
      write: (events) => void held.push(...events),
    },
    remoteActiveCb: (active) => void changes.push(active),
  });
  runner.setState({
    info: null,
    components: [{
      cid: 2,
      mid: 0,
      name: `event-${PEER}`,
      group: "event",
      data: {
        server_id: PEER,
        eventer_server: { host: "127.0.0.1", port: peer.addresses[0].port },
        server_token: null,
      },
      rank: 1,
      blessingReq: { token: null, timestamp: null },
      blessingRes: { token: null, ready: true },
    }],
  });
  const syncConn = () =>
    peer.getConnInfos().find((i) => i.clientName === "event/event-7")?.id;
  assert.ok(await until(() => syncConn() !== undefined));
  // The peer runs without a monitor: operational, so remote active.
  assert.ok(await until(() => runner.remoteActive));
  const first = syncConn();
  runner.restart(new Set([PEER]), "a test");
  let t = Date.now();
  assert.ok(await until(() => (syncConn() ?? first) !== first));
  const second = syncConn();
  assert.ok(Date.now() - t < 250, "not reconnected at once");
  runner.restart(new Set([8]), "another peer");
  runner.restart(new Set([PEER]), "a test");
  t = Date.now();
  assert.ok(await until(() => (syncConn() ?? second) !== second));
  assert.ok(Date.now() - t >= 200, "reconnected within reconnectDelay");
  // Never "not active" on the way: the peer was operational throughout.
  assert.deepEqual(changes, [true]);
  assert.ok(runner.remoteActive);
});
