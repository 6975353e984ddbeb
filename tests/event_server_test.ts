// The runnable Event Server through the network: ids and timestamps,
// every query, notification before and after commit, tokens, its own
// eventer/engine events, restarts (in process and as a killed
// subprocess) and the entry point's errors.

import assert from "node:assert/strict";
import { relative } from "node:path";
import {
  type Client,
  connect,
  type ConnectOptions,
  type Event,
  EventerInitError,
  InvalidQueryTypeError,
  type QueryParams,
  type RegisterEvent,
  type Status,
  type Timestamp,
} from "../mod.ts";
import {
  type EventServer,
  EventServerError,
  type EventServerOptions,
  startEventServer,
} from "../event_server/mod.ts";
import { setLogger } from "../common/log.ts";
import {
  MsgType,
  readQueryResult,
  writeQueryParams,
} from "../common/eventer/mod.ts";
import { deadline, decode, rawClient } from "./_net.ts";

const MAIN = new URL("../cli/serve.ts", import.meta.url).pathname;

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "event_server_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function start(
  dir: string,
  options: Partial<EventServerOptions> = {},
): Promise<EventServer> {
  return startEventServer({ db: `${dir}/events.db`, port: 0, ...options });
}

function client(
  server: EventServer,
  name = "test",
  options: ConnectOptions = {},
): Promise<Client> {
  return connect(server.addresses[0], name, options);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(cond: () => boolean, what: string, ms = 3000) {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out: ${what}`);
    await delay(5);
  }
}

/** `session/instance` of each event. */
const keys = (events: readonly Event[]) =>
  events.map((e) => `${e.id.session}/${e.id.instance}`);

const ts = (s: number, us = 0): Timestamp => ({ s, us });

Deno.test("register assigns ids and timestamp and answers once stored", async () => {
  await withTempDir(async (dir) => {
    let clock = ts(1000);
    await using server = await start(dir, { serverId: 7, now: () => clock });
    await using c = await client(server);
    assert.equal(c.status, "operational");
    clock = ts(1001, 5);
    const registered = await c.register([
      { type: ["a", "b"], payload: { kind: "json", data: { x: 1 } } },
      { type: ["a", "c"], sourceTimestamp: ts(5), payload: null },
      {
        type: ["bin"],
        payload: { kind: "binary", type: "t", data: new Uint8Array([0, 255]) },
      },
    ], true);
    assert.ok(registered);
    const session = registered[0].id.session;
    assert.deepEqual(
      registered.map((e) => e.id),
      [1, 2, 3].map((instance) => ({ server: 7, session, instance })),
    );
    for (const e of registered) assert.deepEqual(e.timestamp, ts(1001, 5));
    assert.deepEqual(registered[1].sourceTimestamp, ts(5));
    const next = await c.register([{ type: ["a", "b"] }], true);
    assert.equal(next![0].id.session, session + 1);
    // Visible to a query right away, and committed already.
    const stored = await c.query({
      kind: "server",
      serverId: 7,
      persisted: true,
      lastEventId: { server: 7, session: session - 1, instance: 1 },
    });
    assert.deepEqual(keys(stored.events), [
      ...keys(registered),
      ...keys(next!),
    ]);
    assert.deepEqual(stored.events[2].payload, registered[2].payload);
    assert.deepEqual(stored.events[0].payload, {
      kind: "json",
      data: { x: 1 },
    });
  });
});

Deno.test("a bad register request fails and the connection goes on", async () => {
  await withTempDir(async (dir) => {
    await using server = await start(dir);
    await using c = await client(server);
    const before = await c.query({ kind: "server", serverId: 1 });
    assert.equal(await c.register([{ type: ["a", "?"] }], true), null);
    assert.equal(
      await c.register([{ type: ["ok"] }, { type: ["a", "*"] }], true),
      null,
    );
    const after = await c.query({ kind: "server", serverId: 1 });
    assert.deepEqual(keys(after.events), keys(before.events));
    assert.equal((await c.register([{ type: ["ok"] }], true))!.length, 1);
    // An invalid query type answers an empty result instead of closing
    // (our client refuses to send one: a raw client does).
    await assert.rejects(
      c.query({ kind: "latest", eventTypes: [["*", "a"]] }),
      InvalidQueryTypeError,
    );
    const raw = await rawClient(server.addresses[0]);
    try {
      raw.conn.sendNow(
        MsgType.QueryReq,
        (w) =>
          writeQueryParams(w, { kind: "latest", eventTypes: [["*", "a"]] }),
        {
          last: false,
        },
      );
      assert.deepEqual(
        decode(await deadline(raw.conn.receive(), 2000), readQueryResult),
        { events: [], moreFollows: false },
      );
    } finally {
      await raw.conn.asyncClose();
    }
    assert.equal(c.isOpen, true);
  });
});

// Registered at timestamps 10, 20, 30, 40 (source timestamps in brackets):
// s1: a/x [5], a/y   s2: a/x [3], b/z [7]   s3: a/y [1]   s4: a/x
const SCENARIO: [number, RegisterEvent[]][] = [
  [10, [
    { type: ["a", "x"], sourceTimestamp: ts(5) },
    { type: ["a", "y"] },
  ]],
  [20, [
    { type: ["a", "x"], sourceTimestamp: ts(3) },
    { type: ["b", "z"], sourceTimestamp: ts(7) },
  ]],
  [30, [{ type: ["a", "y"], sourceTimestamp: ts(1) }]],
  [40, [{ type: ["a", "x"] }]],
];

Deno.test("every query kind through the network, with pagination", async () => {
  await withTempDir(async (dir) => {
    let clock = ts(1);
    await using server = await start(dir, { now: () => clock });
    await using c = await client(server);
    const sessions: Event[][] = [];
    for (const [t, events] of SCENARIO) {
      clock = ts(t);
      sessions.push((await c.register(events, true))!);
    }
    const [[ax10, ay10], [ax20, bz20], [ay30], [ax40]] = sessions;
    const q = async (params: QueryParams) => {
      const result = await c.query(params);
      return [keys(result.events), result.moreFollows];
    };
    const k = (...events: Event[]) => keys(events);

    // latest: one event per type, in the order types were first registered
    assert.deepEqual(
      await q({ kind: "latest", eventTypes: [["a", "*"]] }),
      [k(ax40, ay30), false],
    );
    assert.deepEqual(
      await q({ kind: "latest", eventTypes: [["a", "x"], ["?", "z"]] }),
      [k(ax40, bz20), false],
    );
    assert.deepEqual(await q({ kind: "latest", eventTypes: [] }), [[], false]);
    const all = await c.query({ kind: "latest" });
    assert.ok(all.events.some((e) => e.type.join("/") === "event/1/engine"));

    // timeseries: types, bounds, order, order by
    const aTypes = [["a", "*"]];
    assert.deepEqual(
      await q({ kind: "timeseries", eventTypes: aTypes }),
      [k(ax40, ay30, ax20, ay10, ax10), false],
    );
    assert.deepEqual(
      await q({
        kind: "timeseries",
        eventTypes: aTypes,
        order: "ascending",
        tFrom: ts(20),
        tTo: ts(30),
      }),
      [k(ax20, ay30), false],
    );
    assert.deepEqual(
      await q({
        kind: "timeseries",
        eventTypes: [["?", "?"]],
        sourceTFrom: ts(3),
        sourceTTo: ts(6),
      }),
      [k(ax20, ax10), false],
    );
    assert.deepEqual(
      await q({
        kind: "timeseries",
        eventTypes: [["a", "*"], ["b", "*"]],
        orderBy: "sourceTimestamp",
        order: "ascending",
      }),
      [k(ay30, ax20, ax10, bz20), false],
    );

    // timeseries pagination until moreFollows is false
    const pages: string[][] = [];
    let lastEventId = null;
    for (;;) {
      const result = await c.query({
        kind: "timeseries",
        eventTypes: aTypes,
        order: "ascending",
        maxResults: 2,
        lastEventId,
      });
      pages.push(keys(result.events));
      if (!result.moreFollows) break;
      lastEventId = result.events.at(-1)!.id;
    }
    assert.deepEqual(pages, [k(ax10, ay10), k(ax20, ay30), k(ax40)]);

    // server: id order, pagination, persisted
    const everything = await c.query({ kind: "server", serverId: 1 });
    assert.equal(everything.moreFollows, false);
    const ids = everything.events.map((e) =>
      e.id.session * 1000 + e.id.instance
    );
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
    const paged: Event[] = [];
    lastEventId = null;
    for (let pagesLeft = 100; pagesLeft > 0; pagesLeft--) {
      const result = await c.query({
        kind: "server",
        serverId: 1,
        persisted: true,
        maxResults: 3,
        lastEventId,
      });
      paged.push(...result.events);
      if (!result.moreFollows) break;
      lastEventId = result.events.at(-1)!.id;
    }
    assert.deepEqual(keys(paged), keys(everything.events));
    assert.deepEqual(await q({ kind: "server", serverId: 2 }), [[], false]);
  });
});

Deno.test("no query result is larger than the peer can receive", async () => {
  await withTempDir(async (dir) => {
    // The server sends no frame larger than it would receive itself.
    const maxFrameSize = 2 * 1024 * 1024;
    await using server = await start(dir, { maxFrameSize });
    await using c = await client(server, "test", { maxFrameSize });
    const registered: Event[] = [];
    for (let i = 0; i < 12; i++) {
      const data = new Uint8Array(300 * 1024).fill(i);
      registered.push(
        ...(await c.register([
          {
            type: ["big", String(i)],
            payload: { kind: "binary", type: "", data },
          },
        ], true))!,
      );
    }
    const paged: Event[] = [];
    let lastEventId = null;
    let pages = 0;
    for (;;) {
      const result = await c.query({
        kind: "timeseries",
        eventTypes: [["big", "*"]],
        order: "ascending",
        lastEventId,
      });
      pages++;
      paged.push(...result.events);
      if (!result.moreFollows) break;
      lastEventId = result.events.at(-1)!.id;
    }
    assert.ok(pages >= 2);
    assert.deepEqual(paged, registered);
    const latest = await c.query({
      kind: "latest",
      eventTypes: [["big", "*"]],
    });
    assert.equal(latest.moreFollows, true);
    assert.ok(latest.events.length > 0 && latest.events.length < 12);
    assert.equal(c.isOpen, true);
  });
});

Deno.test("non-persisted subscribers hear before the commit, persisted ones after", async () => {
  await withTempDir(async (dir) => {
    await using server = await start(dir, { flushDelay: 300 });
    const early: Event[] = [];
    const late: Event[] = [];
    await using fast = await client(server, "fast", {
      subscriptions: [["a", "*"]],
      eventsCb: (_c, events) => void early.push(...events),
    });
    await using slow = await client(server, "slow", {
      subscriptions: [["a", "*"]],
      persisted: true,
      eventsCb: (_c, events) => void late.push(...events),
    });
    await using observer = await client(server, "observer");
    await using writer = await client(server, "writer");
    const committed = async (e: Event) =>
      (await observer.query({
        kind: "server",
        serverId: 1,
        persisted: true,
        lastEventId: { ...e.id, instance: e.id.instance - 1 },
        maxResults: 1,
      })).events.length === 1;

    let answered = false;
    const registering = writer.register([{ type: ["a", "1"] }], true).then(
      (events) => {
        answered = true;
        return events;
      },
    );
    await until(() => early.length === 1, "non-persisted notification");
    assert.equal(late.length, 0);
    assert.equal(answered, false);
    assert.equal(await committed(early[0]), false);

    await until(() => late.length === 1, "persisted notification");
    assert.equal(await committed(late[0]), true);
    const registered = await registering;
    assert.deepEqual(late, registered);
    assert.deepEqual(early, registered);
    assert.equal(fast.isOpen && slow.isOpen, true);
  });
});

Deno.test("a commit reaches a persisted subscriber as one message, in id order", async () => {
  await withTempDir(async (dir) => {
    // A send queue far smaller than the commit's requests, and time
    // enough for all of them to share one commit.
    await using server = await start(dir, {
      flushDelay: 500,
      sendQueueSize: 16,
    });
    const messages: Event[][] = [];
    await using subscriber = await client(server, "subscriber", {
      subscriptions: [["a", "*"]],
      persisted: true,
      eventsCb: (_c, events) => void messages.push(events),
    });
    await using writer = await client(server, "writer");
    for (let i = 0; i < 100; i++) {
      await writer.register([{ type: ["a", String(i % 3)] }], false);
    }
    const [last] = (await writer.register([{ type: ["a", "last"] }], true))!;
    await until(() => messages.length > 0, "persisted notification");
    assert.equal(subscriber.isOpen, true);
    assert.equal(messages.length, 1);
    const [events] = messages;
    assert.equal(events.length, 101);
    assert.deepEqual(events.at(-1), last);
    const sessions = events.map((e) => e.id.session);
    assert.deepEqual(sessions, [...sessions].sort((a, b) => a - b));
  });
});

Deno.test("client tokens are checked as the reference does", async () => {
  await withTempDir(async (dir) => {
    await using server = await start(dir, { serverToken: "s3cret" });
    await assert.rejects(
      client(server, "x", { clientToken: "wrong" }),
      (e) =>
        e instanceof EventerInitError && e.message === "invalid client token",
    );
    await (await client(server, "x", { clientToken: "s3cret" })).asyncClose();
    // The reference lets clients without a token in.
    await (await client(server, "x")).asyncClose();
  });
  await withTempDir(async (dir) => {
    await using strict = await start(dir, {
      serverToken: "s3cret",
      requireToken: true,
    });
    await assert.rejects(client(strict, "x"), EventerInitError);
  });
  await withTempDir(async (dir) => {
    await using open = await start(dir);
    await assert.rejects(
      client(open, "x", { clientToken: "any" }),
      EventerInitError,
    );
  });
});

Deno.test("what a client may make the server keep is bounded", async () => {
  await withTempDir(async (dir) => {
    const warnings: string[] = [];
    setLogger({
      debug() {},
      warn: (message) => void warnings.push(message),
      error: (message) => void warnings.push(message),
    });
    try {
      await using server = await start(dir);
      // A name becomes an event type, kept for good: 256 bytes at most.
      await assert.rejects(
        client(server, "n".repeat(257)),
        (e) =>
          e instanceof EventerInitError &&
          e.message === "client name longer than 256 bytes",
      );
      await assert.rejects(client(server, "é".repeat(129)), EventerInitError);
      await (await client(server, "é".repeat(128))).asyncClose();

      await using c = await client(server);
      const refused: RegisterEvent[] = [
        { type: Array(33).fill("deep") },
        { type: ["huge", "h".repeat(1024)] },
        {
          type: ["big"],
          payload: {
            kind: "binary",
            type: "",
            data: new Uint8Array(1024 * 1024 + 1),
          },
        },
        { type: ["big"], payload: { kind: "json", data: "j".repeat(1 << 20) } },
      ];
      for (const event of refused) {
        warnings.length = 0;
        assert.equal(await c.register([{ type: ["ok"] }, event], true), null);
        assert.equal(warnings.length, 1);
        assert.match(
          warnings[0],
          /register request of test failed: .* exceeds max/,
        );
      }
      // Nothing of them was kept; the connection goes on.
      const types = (await c.query({ kind: "latest" })).events.map((e) =>
        e.type
      );
      assert.ok(types.every((t) => t.length <= 4 && t.join("").length < 300));
      assert.ok(!types.some((t) => t[0] === "ok" || t[0] === "big"));
      assert.equal((await c.register([{ type: ["ok"] }], true))!.length, 1);
    } finally {
      setLogger(null);
    }
  });
});

Deno.test("clients connecting and disconnecting are registered events", async () => {
  await withTempDir(async (dir) => {
    await using server = await start(dir, { serverId: 3 });
    const seen: Event[] = [];
    await using observer = await client(server, "observer", {
      subscriptions: [["event", "3", "eventer", "*"]],
      eventsCb: (_c, events) => void seen.push(...events),
    });
    const alpha = await client(server, "alpha");
    await alpha.asyncClose();
    await until(() => seen.length === 2, "eventer events");
    assert.deepEqual(
      seen.map((e) => [e.type, e.payload]),
      ["CONNECTED", "DISCONNECTED"].map((data) => [
        ["event", "3", "eventer", "alpha"],
        { kind: "json", data },
      ]),
    );
    const latest = await observer.query({
      kind: "latest",
      eventTypes: [["event", "3", "*"]],
    });
    assert.deepEqual(
      latest.events.map((e) => [e.type.join("/"), e.payload?.data]),
      [
        ["event/3/engine", "STARTED"],
        ["event/3/eventer/observer", "CONNECTED"],
        ["event/3/eventer/alpha", "DISCONNECTED"],
      ],
    );
    // A name that is no valid event type segment does not refuse the client.
    await (await client(server, "*")).asyncClose();
  });
});

Deno.test("closing stops, stores the engine's last event and keeps ids increasing", async () => {
  await withTempDir(async (dir) => {
    const statuses: Status[] = [];
    let firstIds: Event[];
    {
      await using server = await start(dir);
      const watcher = await client(server, "watcher", {
        statusCb: (_c, status) => void statuses.push(status),
      });
      firstIds = (await watcher.register([{ type: ["x"] }], true))!;
      await server.asyncClose();
      await watcher.waitClosed();
    }
    assert.deepEqual(statuses, ["stopping", "standby"]);

    await using server = await start(dir);
    // Two servers on one database would hand out the same ids.
    await assert.rejects(
      start(dir),
      (e) => e instanceof EventServerError && /in use/.test(e.message),
    );
    await using c = await client(server);
    const next = (await c.register([{ type: ["x"] }], true))!;
    assert.ok(next[0].id.session > firstIds[0].id.session);
    const own = await c.query({
      kind: "timeseries",
      eventTypes: [["event", "1", "engine"]],
      order: "ascending",
    });
    assert.deepEqual(
      own.events.map((e) => e.payload?.data),
      ["STARTED", "STOPPED", "STARTED"],
    );
  });
});

Deno.test("one database, one server, whatever path leads to it", async () => {
  await withTempDir(async (dir) => {
    await using server = await start(dir);
    await using c = await client(server);
    const db = `${dir}/events.db`;
    Deno.linkSync(db, `${dir}/hard.db`);
    Deno.symlinkSync(db, `${dir}/soft.db`);
    for (
      const path of [
        `${dir}/hard.db`,
        `${dir}/soft.db`,
        relative(Deno.cwd(), db),
      ]
    ) {
      await assert.rejects(
        startEventServer({ db: path, port: 0 }),
        (e) => e instanceof EventServerError && /in use/.test(e.message),
        path,
      );
    }
    // The refusals left the first server whole.
    const events = (await c.register([{ type: ["x"] }], true))!;
    assert.equal(events.length, 1);
    const stored = await c.query({ kind: "server", serverId: 1 });
    assert.deepEqual(keys(stored.events.slice(-1)), keys(events));
  });
});

/** The entry point as a subprocess; `ready` resolves with its port. */
function spawnMain(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decode = (s: ReadableStream<Uint8Array>) => new Response(s).text();
  let out = "";
  const ready = Promise.withResolvers<number>();
  const stdout = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      out += decoder.decode(chunk, { stream: true });
      const m = /listening on [^ ]+:(\d+)/.exec(out);
      if (m) ready.resolve(Number(m[1]));
    }
    ready.reject(new Error(`server did not start: ${out}`));
    return out;
  })();
  const stderr = decode(child.stderr);
  return {
    child,
    ready: ready.promise,
    /** Exit code, stdout and stderr once the process ended. */
    async done() {
      const [status, o, e] = await Promise.all([child.status, stdout, stderr]);
      return { code: status.code, signal: status.signal, stdout: o, stderr: e };
    },
  };
}

Deno.test("nothing acknowledged is lost when the process is killed", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/events.db`;
    const first = spawnMain(["--port", "0", "--db", db]);
    const port = await first.ready;
    const acked: Event[] = [];
    {
      await using c = await connect({ hostname: "127.0.0.1", port }, "load");
      // Requests in flight from several connections when the kill comes.
      const writers = await Promise.all(
        [1, 2, 3].map((i) =>
          connect({ hostname: "127.0.0.1", port }, `writer${i}`)
        ),
      );
      let n = 0;
      const loops = writers.map(async (w) => {
        try {
          for (;;) {
            const i = n++;
            const events = await w.register([
              { type: ["load", String(i)], payload: { kind: "json", data: i } },
              { type: ["load", "batch"] },
            ], true);
            if (events) acked.push(...events);
          }
        } catch {
          // The connection died with the server.
        }
      });
      await until(() => acked.length >= 60, "acknowledged events", 5000);
      first.child.kill("SIGKILL");
      await Promise.all(loops);
      // Every writer had a request in flight when the process died.
      assert.equal(n - acked.length / 2, writers.length);
      await Promise.all(writers.map((w) => w.asyncClose()));
      await c.waitClosing();
    }
    const killed = await first.done();
    assert.equal(killed.signal, "SIGKILL");

    const second = spawnMain(["--port", "0", "--db", db]);
    const port2 = await second.ready;
    {
      await using c = await connect(
        { hostname: "127.0.0.1", port: port2 },
        "check",
      );
      const stored = new Map<string, Event>();
      let lastEventId = null;
      for (;;) {
        const result = await c.query({
          kind: "server",
          serverId: 1,
          lastEventId,
        });
        for (const e of result.events) stored.set(keys([e])[0], e);
        if (!result.moreFollows) break;
        lastEventId = result.events.at(-1)!.id;
      }
      for (const e of acked) {
        assert.deepEqual(
          stored.get(keys([e])[0]),
          e,
          "acknowledged event lost",
        );
      }
      // Ids go on after the highest stored one.
      const maxSession = Math.max(
        ...[...stored.values()].map((e) => e.id.session),
      );
      const [next] = (await c.register([{ type: ["after"] }], true))!;
      assert.ok(next.id.session > maxSession);
    }
    second.child.kill("SIGTERM");
    const stopped = await second.done();
    assert.equal(stopped.code, 0, stopped.stderr);

    // SIGTERM stopped it gracefully: its last event was stored.
    await using third = await start(dir);
    await using c = await client(third);
    const engine = await c.query({
      kind: "timeseries",
      eventTypes: [["event", "1", "engine"]],
    });
    assert.deepEqual(
      engine.events.slice(0, 2).map((e) => e.payload?.data),
      ["STARTED", "STOPPED"],
    );
  });
});

Deno.test("an id notified before a crash never names another event", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/events.db`;
    // Commits wait 10 s: the kill comes before this one.
    const first = spawnMain([
      "--port",
      "0",
      "--db",
      db,
      "--flush-delay-ms",
      "10000",
    ]);
    const addr = { hostname: "127.0.0.1", port: await first.ready };
    const notified: Event[] = [];
    const subscriber = await connect(addr, "subscriber", {
      subscriptions: [["a"]],
      eventsCb: (_c, events) => void notified.push(...events),
    });
    const writer = await connect(addr, "writer");
    await writer.register(
      [{ type: ["a"], payload: { kind: "json", data: 1 } }],
      false,
    );
    await until(() => notified.length === 1, "notification");
    first.child.kill("SIGKILL");
    await first.done();
    await Promise.all([subscriber.waitClosed(), writer.waitClosed()]);

    await using server = await start(dir);
    await using c = await client(server);
    const lost = notified[0];
    const [next] = (await c.register([{ type: ["a"] }], true))!;
    console.log(`notified ${keys([lost])}, lost; next ${keys([next])}`);
    assert.ok(
      next.id.session > lost.id.session,
      `${keys([next])} after ${keys([lost])}`,
    );
    const all = await c.query({ kind: "server", serverId: 1 });
    assert.ok(!keys(all.events).includes(keys([lost])[0]));
  });
});

Deno.test("the entry point fails in one line for bad flags and a port in use", async () => {
  const run = async (args: string[]) => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, ...args],
      stdin: "null",
    }).output();
    return {
      code,
      stdout: new TextDecoder().decode(stdout),
      stderr: new TextDecoder().decode(stderr),
    };
  };
  const oneLine = (text: string) => {
    assert.match(text, /^error: [^\n]+\n$/);
  };
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--server-token/);

  for (
    const args of [
      ["--port", "http"],
      ["--port", "70000"],
      ["--bogus"],
      ["--server-id"],
      ["--cert", "c.pem"],
      ["extra"],
    ]
  ) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(" "));
    oneLine(r.stderr);
  }

  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const r = await run([
    "--port",
    String((taken.addr as Deno.NetAddr).port),
    "--db",
    ":memory:",
  ]);
  assert.equal(r.code, 1);
  oneLine(r.stderr);
  assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: /);

  await withTempDir(async (dir) => {
    const r = await run(["--port", "0", "--db", `${dir}/missing/dir/x.db`]);
    assert.equal(r.code, 1);
    oneLine(r.stderr);
  });
});
