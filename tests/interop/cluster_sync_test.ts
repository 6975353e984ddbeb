/**
 * Interop: our Event Server as a member of a redundant pair with the
 * reference's (hat-event-server 0.9.44, LMDB, flush period 1 s) in a
 * real `hat-monitor` BLESS_ONE group (SPEC-monitor §5-6): it joins as
 * standby and syncs the reference's events, takes over when the
 * reference is SIGKILLed, and the reference syncs back from it once
 * restarted. Guards: a peer with another server token is not synced
 * from; a frozen peer's sync connection times out and is made again.
 */

import assert from "node:assert/strict";
import { type Client, connect } from "../../client.ts";
import {
  type Event,
  type EventId,
  JsonTextPayload,
  type Status,
} from "../../common/event/mod.ts";
import { type EventServer, startEventServer } from "../../event_server/mod.ts";
import {
  freePorts,
  type HatEventServer,
  startHatMonitor,
  startPyEventServer,
  wallClock,
} from "./_hat.ts";

const LOCAL = "127.0.0.1";

async function until(
  what: string,
  ok: () => boolean | Promise<boolean>,
  ms = 20_000,
) {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A client whose status is kept up to date. */
async function watch(
  port: number,
  name: string,
): Promise<{ client: Client; status: () => Status }> {
  let status: Status = "standby";
  const client = await connect({ hostname: LOCAL, port }, name, {
    statusCb: (_c, s) => void (status = s),
  });
  status = client.status;
  return { client, status: () => status };
}

/** Every event of `serverId`, persisted, in id order. */
async function serverEvents(client: Client, serverId: number) {
  const all: Event[] = [];
  let lastEventId: EventId | null = null;
  for (;;) {
    const r = await client.query({
      kind: "server",
      serverId,
      persisted: true,
      lastEventId,
    });
    all.push(...r.events);
    if (!r.moreFollows) return all;
    lastEventId = all.at(-1)!.id;
  }
}

const key = (e: Event) => `${e.id.server},${e.id.session},${e.id.instance}`;
// An event as both servers must hold it (JSON payloads by value).
const same = (e: Event) =>
  JSON.stringify([
    key(e),
    e.type,
    e.timestamp,
    e.sourceTimestamp,
    e.payload?.kind === "json" ? e.payload.data : e.payload,
  ]);

async function assertSameEvents(a: Client, b: Client, serverId: number) {
  await until(`the same events of server ${serverId} on both`, async () => {
    const [x, y] = await Promise.all([
      serverEvents(a, serverId),
      serverEvents(b, serverId),
    ]);
    return x.length > 0 && x.map(same).join() === y.map(same).join();
  });
}

async function latestPayload(client: Client, type: string[]) {
  const r = await client.query({ kind: "latest", eventTypes: [type] });
  const p = r.events[0]?.payload;
  return p?.kind === "json" ? p.data : undefined;
}

async function register(client: Client, n: number): Promise<Event[] | null> {
  return await client.register([{
    type: ["test", "n"],
    payload: { kind: "json", data: n },
  }], true);
}

Deno.test("interop cluster: our Event Server joins a reference pair as standby, syncs, takes over on SIGKILL, and the reference syncs back after its restart", async () => {
  const monitor = await startHatMonitor({
    groupAlgorithms: { event: "BLESS_ONE" },
  });
  const dir = await Deno.makeTempDir({ prefix: "cluster-sync-" });
  const [pyPort] = freePorts(1);
  let py: HatEventServer | null = null;
  let ours: EventServer | null = null;
  const clients: Client[] = [];
  try {
    py = await startPyEventServer(1, monitor.port, dir, pyPort);
    const pyWatch = await watch(pyPort, "py-watch");
    clients.push(pyWatch.client);
    await until("reference active", () => pyWatch.status() === "operational");
    const acked: Event[] = [];
    for (let n = 0; n < 5; n++) {
      acked.push(...(await register(pyWatch.client, n))!);
    }
    // A float the reference keeps as such (its text "2.0").
    acked.push(
      ...(await pyWatch.client.register([{
        type: ["test", "f"],
        payload: new JsonTextPayload('{"v": 2.0}'),
      }], true))!,
    );

    ours = await startEventServer({
      db: `${dir}/ours.db`,
      port: 0,
      serverId: 2,
      monitor: {
        addr: { hostname: LOCAL, port: monitor.port },
        group: "event",
      },
    });
    const ourPort = ours.addresses[0].port;
    const oursWatch = await watch(ourPort, "ours-watch");
    clients.push(oursWatch.client);
    // The reference's events, the same on both (committed there first).
    await assertSameEvents(pyWatch.client, oursWatch.client, 1);
    // Our sync's states, registered on the reference through it.
    await until("event/2/synced/1 SYNCED on the reference", async () => {
      const p = await latestPayload(pyWatch.client, [
        "event",
        "2",
        "synced",
        "1",
      ]);
      return (p as { state?: string } | undefined)?.state === "SYNCED";
    });
    assert.equal(ours.status, "standby");
    // And the payloads' texts as the reference serves them (its
    // rendering: ", " and ": ", 2.0), byte for byte.
    {
      const texts = async (port: number) => {
        const c = await connect({ hostname: LOCAL, port }, "texts", {
          keepJsonText: true,
        });
        try {
          return (await serverEvents(c, 1)).map((e) =>
            e.payload instanceof JsonTextPayload ? e.payload.text : null
          );
        } finally {
          await c.asyncClose();
        }
      };
      // (Its clients' connections are events too: until both agree.)
      await until("the same payload texts on both", async () => {
        const [onPy, onOurs] = await Promise.all([
          texts(pyPort),
          texts(ourPort),
        ]);
        return onPy.includes('{"v": 2.0}') &&
          JSON.stringify(onOurs) === JSON.stringify(onPy);
      });
    }

    // Sync lag: a register answered by the reference to its notification
    // by ours (the reference notifies its peers after its flush, 1 s).
    const notified = new Map<string, number>();
    const sub = await connect({ hostname: LOCAL, port: ourPort }, "sub", {
      subscriptions: [["test", "*"]],
      eventsCb: (_c, events) => {
        for (const e of events) notified.set(key(e), wallClock());
      },
    });
    clients.push(sub);
    const lags: number[] = [];
    for (let n = 5; n < 10; n++) {
      const [e] = (await register(pyWatch.client, n))!;
      const t = wallClock();
      acked.push(e);
      await until("notified by ours", () => notified.has(key(e)), 5000);
      lags.push(notified.get(key(e))! - t);
    }
    console.log(
      `sync lag, reference -> ours (ms): ${lags.map((l) => l.toFixed(0))}`,
    );
    await assertSameEvents(pyWatch.client, oursWatch.client, 1);

    // SIGKILL the reference (everything it acknowledged is committed and
    // synced by now): ours takes over.
    const writer = oursWatch.client;
    const kill = wallClock();
    py.kill("SIGKILL");
    await py.status;
    let first: Event[] | null = null;
    for (let n = 100; first === null; n++) {
      if (wallClock() - kill > 20_000) throw new Error("no takeover");
      first = await register(writer, n);
      if (first === null) await new Promise((r) => setTimeout(r, 2));
    }
    const failover = wallClock() - kill;
    console.log(
      `failover, reference SIGKILLed -> ours accepts (ms): ${
        failover.toFixed(0)
      }`,
    );
    assert.equal(ours.status, "operational");
    assert.equal(first[0].id.server, 2);
    for (let n = 200; n < 205; n++) await register(writer, n);
    // Nothing acknowledged by the reference lost.
    const onOurs = new Set((await serverEvents(writer, 1)).map(same));
    for (const e of acked) assert.ok(onOurs.has(same(e)), key(e));

    // The reference restarts: standby, it syncs ours' events and ours
    // syncs its new ones (its own engine events aside, it has none).
    py = await startPyEventServer(1, monitor.port, dir, pyPort);
    const pyAgain = await watch(pyPort, "py-watch-2");
    clients.push(pyAgain.client);
    await assertSameEvents(pyAgain.client, writer, 2);
    await assertSameEvents(pyAgain.client, writer, 1);
    assert.equal(pyAgain.status(), "standby");
    assert.equal(ours.status, "operational");
    // Its sync client's states, registered on ours (operational) through
    // its sync connection.
    await until("event/1/synced/2 SYNCED on ours", async () => {
      const p = await latestPayload(writer, ["event", "1", "synced", "2"]);
      return (p as { state?: string } | undefined)?.state === "SYNCED";
    });
    // No id names two events: ours' ids of server 2 are its own.
    const ids = (await serverEvents(writer, 2)).map(key);
    assert.equal(new Set(ids).size, ids.length);

    // Ours stops gracefully: the reference takes over, with ours'
    // STOPPED event synced.
    await ours.asyncClose();
    await until(
      "the reference operational",
      () => pyAgain.status() === "operational",
    );
    assert.equal(
      await latestPayload(pyAgain.client, ["event", "2", "engine"]),
      "STOPPED",
    );
  } finally {
    for (const c of clients) await c.asyncClose();
    await ours?.asyncClose();
    await py?.stop();
    await monitor.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("interop cluster: a reference peer with another server token is not synced from", async () => {
  const monitor = await startHatMonitor({
    groupAlgorithms: { event: "BLESS_ONE" },
  });
  const dir = await Deno.makeTempDir({ prefix: "cluster-token-" });
  const [pyPort] = freePorts(1);
  let py: HatEventServer | null = null;
  let ours: EventServer | null = null;
  const clients: Client[] = [];
  try {
    py = await startPyEventServer(1, monitor.port, dir, pyPort, "event", "a");
    const pyWatch = await watch(pyPort, "py-watch");
    clients.push(pyWatch.client);
    await until("reference active", () => pyWatch.status() === "operational");
    await register(pyWatch.client, 1);
    ours = await startEventServer({
      db: ":memory:",
      port: 0,
      serverId: 2,
      serverToken: "b",
      monitor: {
        addr: { hostname: LOCAL, port: monitor.port },
        group: "event",
      },
    });
    const oursWatch = await watch(ours.addresses[0].port, "ours-watch");
    clients.push(oursWatch.client);
    // The reference flushes every second: give it two.
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await serverEvents(oursWatch.client, 1), []);
    assert.equal(
      await latestPayload(pyWatch.client, ["event", "2", "synced", "1"]),
      undefined,
    );
    assert.equal(ours.status, "standby");
  } finally {
    for (const c of clients) await c.asyncClose();
    await ours?.asyncClose();
    await py?.stop();
    await monitor.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("interop cluster: a frozen reference peer (SIGSTOP): our sync connection times out by ping, and is made again once it runs", async () => {
  const monitor = await startHatMonitor({
    groupAlgorithms: { event: "BLESS_ONE" },
  });
  const dir = await Deno.makeTempDir({ prefix: "cluster-freeze-" });
  const [pyPort] = freePorts(1);
  let py: HatEventServer | null = null;
  let ours: EventServer | null = null;
  const clients: Client[] = [];
  try {
    py = await startPyEventServer(1, monitor.port, dir, pyPort);
    const pyWatch = await watch(pyPort, "py-watch");
    clients.push(pyWatch.client);
    await until("reference active", () => pyWatch.status() === "operational");
    ours = await startEventServer({
      db: ":memory:",
      port: 0,
      serverId: 2,
      pingDelay: 200,
      pingTimeout: 300,
      monitor: {
        addr: { hostname: LOCAL, port: monitor.port },
        group: "event",
        syncReconnectDelay: 200,
      },
    });
    const oursWatch = await watch(ours.addresses[0].port, "ours-watch");
    clients.push(oursWatch.client);
    // The reference registers event/1/eventer/<client> for each client
    // connection while its engine runs: ours' sync connections counted.
    const syncConnections = async () =>
      (await serverEvents(oursWatch.client, 1)).filter((e) =>
        e.type.join("/") === "event/1/eventer/event/event-2" &&
        e.payload?.kind === "json" && e.payload.data === "CONNECTED"
      ).length;
    await until("ours synced", async () => (await syncConnections()) === 1);
    py.kill("SIGSTOP");
    await new Promise((r) => setTimeout(r, 1500));
    py.kill("SIGCONT");
    // A new sync connection (attempts made during the freeze may count
    // too, once the reference runs them), and what the reference registers now
    // reaches ours.
    await until(
      "a second sync connection",
      async () => (await syncConnections()) >= 2,
    );
    const [e] = (await register(pyWatch.client, 7))!;
    await until(
      "the new event on ours",
      async () =>
        (await serverEvents(oursWatch.client, 1)).some((x) =>
          key(x) === key(e)
        ),
    );
    assert.equal(ours.status, "standby");
  } finally {
    py?.kill("SIGCONT");
    for (const c of clients) await c.asyncClose();
    await ours?.asyncClose();
    await py?.stop();
    await monitor.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
