// The event component with a scripted Monitor Server (our Chatter layer
// playing it) and two of our Event Servers: it connects to the active one
// only once blessed, switches on a monitor change, and reconnects.

import assert from "node:assert/strict";
import * as chatter from "../common/chatter/mod.ts";
import { Group } from "../common/async/mod.ts";
import {
  type ComponentInfoRecord,
  ObserverMsgType,
  readMsgClient,
  writeMsgServer,
} from "../common/monitor/mod.ts";
import { activeServerData, connectEventComponent } from "../monitor/mod.ts";
import { startEventServer } from "../event_server/mod.ts";
import type { Status } from "../common/event/mod.ts";
import { deadline, delay, LOCAL } from "./_net.ts";
import { componentInfo } from "./_scripted_monitor.ts";

const info = (
  cid: number,
  name: string,
  group: string,
  data: unknown,
  req: number | null,
  res: number | null,
) => componentInfo(cid, name, data, req, res, group);

async function until(cond: () => boolean, what: string, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(2);
  }
}

Deno.test("event component: connects to the active server once blessed, switches on a monitor change, and hands each client to a new runner", async () => {
  await using s1 = await startEventServer({
    db: ":memory:",
    port: 0,
    serverId: 1,
  });
  await using s2 = await startEventServer({
    db: ":memory:",
    port: 0,
    serverId: 2,
  });
  const serverInfo = (
    cid: number,
    s: typeof s1,
    id: number,
    tok: number | null,
  ) =>
    info(
      cid,
      `event-${id}`,
      "event",
      {
        server_id: id,
        eventer_server: { host: "127.0.0.1", port: s.addresses[0].port },
        server_token: null,
      },
      tok,
      tok,
    );
  let conn: chatter.Connection | null = null;
  await using monitor = await chatter.listen((c) => {
    conn = c;
  }, LOCAL);
  const runs: { serverId: number; closed: boolean }[] = [];
  const statuses: Status[] = [];
  await using component = await connectEventComponent(
    monitor.addresses[0],
    "comp",
    "component",
    "event",
    "comp-client",
    (_c, server, client) => {
      const run = { serverId: server.serverId, closed: false };
      runs.push(run);
      assert.equal(client.status, "operational");
      return new Group({ onClose: () => void (run.closed = true) });
    },
    { statusCb: (_c, _client, status) => void statuses.push(status) },
  );
  await until(() => conn !== null, "monitor connection");
  const send = (components: ComponentInfoRecord[]) =>
    conn!.send(
      ObserverMsgType.Server,
      (w) => writeMsgServer(w, { cid: 1, mid: 0, components }),
    );
  const received = async () => {
    const msg = await deadline(conn!.receive(), 2000, "MsgClient");
    return readMsgClient(msg.reader()).blessingRes;
  };
  assert.deepEqual(await received(), { token: null, ready: false });
  // A server is active, but the component is not blessed: nothing.
  await send([
    info(1, "comp", "component", null, null, null),
    serverInfo(2, s1, 1, 1),
  ]);
  await delay(30);
  assert.equal(runs.length, 0);
  assert.deepEqual(component.serverData?.serverId, 1);
  await component.setReady(true);
  assert.deepEqual(await received(), { token: null, ready: true });
  await send([
    info(1, "comp", "component", null, 9, null),
    serverInfo(2, s1, 1, 1),
  ]);
  assert.deepEqual(await received(), { token: 9, ready: true });
  await send([
    info(1, "comp", "component", null, 9, 9),
    serverInfo(2, s1, 1, 1),
  ]);
  await until(() => runs.length === 1, "first runner");
  assert.equal(runs[0].serverId, 1);
  assert.equal(component.client?.status, "operational");
  // The second server becomes active, the first standby: the switch
  // waits for no reconnect delay (500 ms).
  const switched = Date.now();
  await send([
    info(1, "comp", "component", null, 9, 9),
    serverInfo(2, s1, 1, null),
    serverInfo(3, s2, 2, 2),
  ]);
  await until(() => runs.length === 2, "second runner");
  assert.ok(
    Date.now() - switched < 250,
    `switched in ${Date.now() - switched} ms`,
  );
  assert.equal(runs[0].closed, true);
  assert.equal(runs[1].serverId, 2);
  const registered = await component.client!.register(
    [{ type: ["a"], sourceTimestamp: null, payload: null }],
    true,
  );
  assert.equal(registered?.[0].id.server, 2);
  // No server active: the runner closes, nothing replaces it.
  await send([
    info(1, "comp", "component", null, 9, 9),
    serverInfo(2, s1, 1, null),
    serverInfo(3, s2, 2, null),
  ]);
  await until(() => runs[1].closed, "second runner closed");
  await delay(30);
  assert.equal(runs.length, 2);
  assert.equal(component.client, null);
});

Deno.test("event component: the active server is the first of its group with equal tokens and complete data", () => {
  const good = (port: number, tok: string | null = null) => ({
    server_id: port,
    eventer_server: { host: "h", port },
    server_token: tok,
  });
  const c = (
    data: unknown,
    req: number | null,
    res: number | null,
    group = "event",
  ) => ({
    ...info(1, "x", group, data, req, res),
    data: data as never,
  });
  assert.equal(activeServerData([c(good(1), 1, null)], "event"), null);
  assert.equal(activeServerData([c(good(1), 1, 1, "other")], "event"), null);
  assert.deepEqual(
    activeServerData(
      [c(good(1), 1, 2), c(good(2), 3, 3), c(good(3), 4, 4)],
      "event",
    ),
    { serverId: 2, addr: { hostname: "h", port: 2 }, serverToken: null },
  );
  assert.equal(activeServerData([c({ server_id: 1 }, 1, 1)], "event"), null);
  assert.equal(activeServerData([c(null, 1, 1)], "event"), null);
  assert.equal(activeServerData([c(good(1, "t"), 1, 1)], "event", "u"), null);
  assert.equal(
    activeServerData([c(good(1, "t"), 1, 1)], "event", "t")?.serverToken,
    "t",
  );
});

Deno.test("event component: reconnects to the same server after its connection drops, and passes notified events to eventsCb", async () => {
  let s1 = await startEventServer({ db: ":memory:", port: 0, serverId: 1 });
  const port = s1.addresses[0].port;
  let conn: chatter.Connection | null = null;
  await using monitor = await chatter.listen((c) => {
    conn = c;
  }, LOCAL);
  let runners = 0;
  const notified: string[] = [];
  await using component = await connectEventComponent(
    monitor.addresses[0],
    "comp",
    "component",
    "event",
    "comp-client",
    () => {
      runners++;
      return new Group();
    },
    {
      reconnectDelay: 50,
      eventer: { subscriptions: [["x", "*"]] },
      eventsCb: (_c, _client, events) => {
        for (const e of events) notified.push(e.type.join("/"));
      },
    },
  );
  const warn = console.warn;
  console.warn = () => {};
  try {
    await component.setReady(true);
    await until(() => conn !== null, "monitor connection");
    const server = info(
      2,
      "event-1",
      "event",
      {
        server_id: 1,
        eventer_server: { host: "127.0.0.1", port },
        server_token: null,
      },
      1,
      1,
    );
    await conn!.send(
      ObserverMsgType.Server,
      (w) =>
        writeMsgServer(w, {
          cid: 1,
          mid: 0,
          components: [info(1, "comp", "component", null, 4, 4), server],
        }),
    );
    // The component takes token 4 on; the state already shows it back.
    await until(() => runners === 1, "first runner");
    await component.client!.register([{ type: ["x", "1"] }], true);
    await until(() => notified.length === 1, "notified");
    // The server goes away: runner and client close; attempts every 50 ms
    // fail until a server listens on that port again.
    await s1.asyncClose();
    await until(() => component.client === null, "client gone");
    await delay(120);
    assert.equal(runners, 1);
    s1 = await startEventServer({ db: ":memory:", port, serverId: 1 });
    await until(() => runners === 2, "second runner");
    await component.client!.register([{ type: ["x", "2"] }], true);
    await until(() => notified.length === 2, "notified again");
    assert.deepEqual(notified, ["x/1", "x/2"]);
  } finally {
    console.warn = warn;
    await s1.asyncClose();
  }
});
