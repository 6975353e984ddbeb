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
  JsonTextPayload,
  type Status,
} from "../../common/event/mod.ts";
import {
  type EventServer,
  type EventServerMonitorOptions,
  type EventServerOptions,
  startEventServer,
} from "../../event_server/mod.ts";
import {
  freePorts,
  type HatEventServer,
  type HatMonitor,
  serverEvents,
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

/** A client whose status is kept up to date (closed with the cluster). */
async function watch(
  c: Cluster,
  port: number,
  name: string,
): Promise<{ client: Client; status: () => Status }> {
  let status: Status = "standby";
  const client = await connect({ hostname: LOCAL, port }, name, {
    statusCb: (_c, s) => void (status = s),
  });
  c.clients.push(client);
  status = client.status;
  return { client, status: () => status };
}

/** A BLESS_ONE `hat-monitor` group of the reference's Event Server and ours. */
interface Cluster {
  readonly monitor: HatMonitor;
  readonly dir: string;
  /** The reference's Eventer port (the same on a restart). */
  readonly pyPort: number;
  py: HatEventServer | null;
  ours: EventServer | null;
  /** Closed at the end. */
  readonly clients: Client[];
}

/**
 * Run `body` with a monitor and a directory; then close the clients, stop
 * the servers (the reference SIGCONTed first, in case it is stopped) and
 * the monitor, and remove the directory.
 */
async function withCluster(
  prefix: string,
  body: (c: Cluster) => Promise<void>,
): Promise<void> {
  const monitor = await startHatMonitor({
    groupAlgorithms: { event: "BLESS_ONE" },
  });
  const c: Cluster = {
    monitor,
    dir: await Deno.makeTempDir({ prefix }),
    pyPort: freePorts(1)[0],
    py: null,
    ours: null,
    clients: [],
  };
  try {
    await body(c);
  } finally {
    c.py?.kill("SIGCONT");
    for (const client of c.clients) await client.asyncClose();
    await c.ours?.asyncClose();
    await c.py?.stop();
    await monitor.stop();
    await Deno.remove(c.dir, { recursive: true }).catch(() => {});
  }
}

/** Start the reference (server 1), with a client; wait until it is active. */
async function startActiveReference(
  c: Cluster,
  serverToken: string | null = null,
) {
  const py = c.py = await startPyEventServer(
    1,
    c.monitor.port,
    c.dir,
    c.pyPort,
    "event",
    serverToken,
  );
  const pyWatch = await watch(c, c.pyPort, "py-watch");
  await until("reference active", () => pyWatch.status() === "operational");
  return { py, pyWatch };
}

/** Start ours (server 2) in the monitor's group "event", with a client. */
async function startOursInGroup(
  c: Cluster,
  options: Omit<EventServerOptions, "serverId" | "monitor">,
  monitor: Partial<EventServerMonitorOptions> = {},
) {
  const ours = c.ours = await startEventServer({
    ...options,
    serverId: 2,
    monitor: {
      addr: { hostname: LOCAL, port: c.monitor.port },
      group: "event",
      ...monitor,
    },
  });
  const oursWatch = await watch(c, ours.addresses[0].port, "ours-watch");
  return { ours, oursWatch };
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
  await withCluster("cluster-sync-", async (cluster) => {
    const { monitor, dir, pyPort, clients } = cluster;
    const { py, pyWatch } = await startActiveReference(cluster);
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

    const { ours, oursWatch } = await startOursInGroup(cluster, {
      db: `${dir}/ours.db`,
      port: 0,
    });
    const ourPort = ours.addresses[0].port;
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
    cluster.py = await startPyEventServer(1, monitor.port, dir, pyPort);
    const pyAgain = await watch(cluster, pyPort, "py-watch-2");
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
  });
});

Deno.test("interop cluster: a reference peer with another server token is not synced from", async () => {
  await withCluster("cluster-token-", async (cluster) => {
    const { pyWatch } = await startActiveReference(cluster, "a");
    await register(pyWatch.client, 1);
    const { ours, oursWatch } = await startOursInGroup(cluster, {
      db: ":memory:",
      port: 0,
      serverToken: "b",
    });
    // The reference flushes every second: give it two.
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await serverEvents(oursWatch.client, 1), []);
    assert.equal(
      await latestPayload(pyWatch.client, ["event", "2", "synced", "1"]),
      undefined,
    );
    assert.equal(ours.status, "standby");
  });
});

Deno.test("interop cluster: a frozen reference peer (SIGSTOP): our sync connection times out by ping, and is made again once it runs", async () => {
  await withCluster("cluster-freeze-", async (cluster) => {
    const { py, pyWatch } = await startActiveReference(cluster);
    const { ours, oursWatch } = await startOursInGroup(cluster, {
      db: ":memory:",
      port: 0,
      pingDelay: 200,
      pingTimeout: 300,
    }, { syncReconnectDelay: 200 });
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
  });
});
