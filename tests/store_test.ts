import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  DatabaseInUseError,
  DEFAULT_MAX_EVENT_TYPE_BYTES,
  DEFAULT_MAX_EVENT_TYPE_SEGMENTS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_RESULTS,
  type EventLimit,
  EventLimitError,
  SqliteStore,
  StoreError,
} from "../store/mod.ts";
import type {
  Event,
  EventId,
  QueryParams,
  QueryResult,
  RegisterEvent,
} from "../common/event/mod.ts";
import { writeEvents } from "../common/eventer/mod.ts";
import { Writer } from "../common/sbs/mod.ts";
import { compareTimestamps, timestampToBytes } from "../common/event/mod.ts";
import { relative } from "node:path";
import {
  clock,
  id,
  ids,
  PAYLOAD_EVENTS,
  PAYLOADS_READ,
  plainEvents,
  plainPayload,
  testEventStoreContract,
  ts,
} from "./_store_contract.ts";

// Every test of the EventStore contract, on an in-memory database (and on
// a file, to fill its disk).
testEventStoreContract(
  "SqliteStore",
  (options) => SqliteStore.open({ path: ":memory:", ...options }),
  (options, dir) => SqliteStore.open({ path: `${dir}/events.db`, ...options }),
);
// And on a file with the writer thread committing: every test through its
// second connection, the full disk too.
testEventStoreContract(
  "SqliteStore, writer thread",
  (options) => {
    const dir = Deno.makeTempDirSync({ prefix: "store_test_" });
    let removed = false;
    const store = SqliteStore.open({
      path: `${dir}/events.db`,
      writerThread: true,
      ...options,
    });
    return new Proxy(store, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (key !== "close" && key !== Symbol.dispose) {
          return typeof value === "function" ? value.bind(target) : value;
        }
        return () => {
          try {
            target.close();
          } finally {
            // Closing twice is part of the contract.
            if (!removed) Deno.removeSync(dir, { recursive: true });
            removed = true;
          }
        };
      },
    });
  },
  (options, dir) =>
    SqliteStore.open({
      path: `${dir}/events.db`,
      writerThread: true,
      ...options,
    }),
);
// And with almost no event type in memory: every other one from SQLite.
testEventStoreContract(
  "SqliteStore, 2 types cached",
  (options) =>
    SqliteStore.open({ path: ":memory:", eventTypeCacheSize: 2, ...options }),
);

const STORE_MOD = new URL("../store/mod.ts", import.meta.url).href;

async function withTempDir(fn: (dir: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir({ prefix: "store_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("results are capped by DEFAULT_MAX_RESULTS by default", () => {
  using store = SqliteStore.open({ path: ":memory:", serverId: 1 });
  store.register(
    Array.from({ length: DEFAULT_MAX_RESULTS + 1 }, () => ({ type: ["a"] })),
  );
  const q = (maxResults?: number) =>
    store.query({ kind: "timeseries", maxResults });
  assert.equal(q().events.length, DEFAULT_MAX_RESULTS);
  assert.equal(q().moreFollows, true);
  assert.equal(q(DEFAULT_MAX_RESULTS + 1).events.length, DEFAULT_MAX_RESULTS);
  assert.equal(
    store.query({ kind: "server", serverId: 1 }).events.length,
    DEFAULT_MAX_RESULTS,
  );
  assert.equal(DEFAULT_MAX_RESULTS, 4096);
});

Deno.test("writer thread: registrations waiting for the commit in flight are bounded by maxWriterBatchBytes", async () => {
  const pad = "x".repeat(10_000);
  const request = (i: number) => [
    { type: ["a"], payload: { kind: "json" as const, data: { i, pad } } },
  ];
  // A 1-byte bound: a request waits only while the one before it is
  // written (a batch in flight holds at most the bound and a request).
  for (const [bound, most] of [[1, 2]]) {
    await withTempDir(async (dir) => {
      using store = SqliteStore.open({
        path: `${dir}/events.db`,
        serverId: 1,
        writerThread: true,
        maxWriterBatchBytes: bound,
      });
      store.register(request(0));
      store.flush();
      for (let i = 1; i <= 40; i++) {
        store.register(request(i));
        // The one in flight, and what the bound lets wait.
        assert.ok(store.pendingCount <= most, `${store.pendingCount} pending`);
      }
      const { committed, failed } = await store.flushAsync();
      assert.equal(failed.length, 0);
      assert.equal(committed.length, 40);
      assert.equal(store.pendingCount, 0);
      assert.equal(
        store.query({ kind: "server", serverId: 1 }).events.length,
        41,
      );
    });
  }
});

Deno.test("writer thread: flushAsync calls may overlap; each settles once its requests are on disk, and together they report each request once, in order", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/events.db`;
    using store = SqliteStore.open({ path, serverId: 1, writerThread: true });
    store.register([{ type: ["a"] }]);
    store.flush();
    const sessions: number[][] = [];
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      store.register([{ type: ["a"] }, { type: ["a"] }]);
      const session = store.getLastEventId().session;
      flushes.push(
        store.flushAsync().then((result) => {
          assert.equal(result.failed.length, 0);
          sessions.push(result.committed.map((events) => events[0].id.session));
          // On disk: another connection reads it.
          const other = new DatabaseSync(path, { readOnly: true });
          try {
            const row = other.prepare(
              "SELECT count(*) AS n FROM events WHERE session = ?",
            ).get(session) as { n: number };
            assert.equal(row.n, 2);
          } finally {
            other.close();
          }
        }),
      );
    }
    await Promise.all(flushes);
    assert.deepEqual(
      sessions.flat(),
      Array.from({ length: 20 }, (_, i) => i + 2),
    );
    assert.equal(store.pendingCount, 0);
  });
});

Deno.test("payloads round-trip losslessly through a file", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/events.db`;
    const store = SqliteStore.open({ path, serverId: 1 });
    store.register(PAYLOAD_EVENTS);
    const read = (s: SqliteStore) =>
      s.query({ kind: "server", serverId: 1 }).events.map((e) =>
        plainPayload(e.payload)
      );
    assert.deepEqual(read(store), PAYLOADS_READ);
    store.close();
    using reopened = SqliteStore.open({ path, serverId: 1 });
    const payloads = read(reopened);
    assert.deepEqual(payloads, PAYLOADS_READ);
    assert.ok(
      Object.is((payloads[0]!.data as { negZero: number }).negZero, -0),
    );
  });
});

Deno.test("a file store keeps events and ids across reopen", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/events.db`;
    const open = (now = clock(ts(10), ts(20), ts(30))) =>
      SqliteStore.open({ path, serverId: 3, now });

    const first = open();
    // Another connection (as another process would) sees only commits.
    const reader = new DatabaseSync(path, { readOnly: true });
    const count = () =>
      (reader.prepare("SELECT count(*) AS n FROM events").get() as {
        n: number;
      }).n;
    first.register([{ type: ["a"] }, { type: ["b"] }]);
    assert.equal(count(), 0);
    first.flush();
    assert.equal(count(), 2);
    reader.close();
    // Close commits what is still pending.
    first.register([{ type: ["a"] }]);
    first.close();
    first.close();
    assert.throws(() => first.register([{ type: ["a"] }]), StoreError);
    assert.throws(() => first.query({ kind: "latest" }), StoreError);

    const second = open(clock(ts(5)));
    assert.deepEqual(second.getLastEventId(), id(2, 1, 3));
    assert.deepEqual(
      ids(second.query({ kind: "server", serverId: 3, persisted: true })),
      [[[1, 1], [1, 2], [2, 1]], false],
    );
    assert.deepEqual(ids(second.query({ kind: "latest" })), [
      [[2, 1], [1, 2]],
      false,
    ]);
    // New session after the persisted one; the clock (5) is behind the
    // last stored timestamp (20), so the timestamp stays at 20.
    const [next] = second.register([{ type: ["c"] }]);
    assert.deepEqual(next.id, id(3, 1, 3));
    assert.deepEqual(next.timestamp, ts(20));
    second.close();

    // Opening as another server keeps the data; ids are per server.
    using third = SqliteStore.open({ path, serverId: 4 });
    assert.deepEqual(third.getLastEventId(), id(0, 0, 4));
    assert.deepEqual(third.getLastEventId(3), id(3, 1, 3));
    assert.deepEqual(third.register([{ type: ["d"] }])[0].id, id(1, 1, 4));
    assert.equal(third.query({ kind: "latest" }).events.length, 4);
    assert.equal(
      third.query({ kind: "server", serverId: 3, persisted: true }).events
        .length,
      4,
    );
  });
});

Deno.test("synced events, and their servers' last ids, are kept across reopen", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/events.db`;
    const peer = (session: number): Event => ({
      id: { server: 2, session, instance: 1 },
      type: ["p"],
      timestamp: ts(session),
      sourceTimestamp: null,
      payload: null,
    });
    {
      using store = SqliteStore.open({ path, serverId: 1 });
      store.writeSynced([peer(1), peer(2)]);
      store.flush();
      store.writeSynced([peer(3)]);
      // Closing commits what is pending.
    }
    using store = SqliteStore.open({ path, serverId: 1 });
    assert.deepEqual(store.getLastEventId(2), id(3, 1, 2));
    assert.deepEqual(store.getLastEventId(), id(0, 0));
    assert.deepEqual(store.writeSynced([peer(3)]), []);
    assert.deepEqual(
      ids(store.query({ kind: "server", serverId: 2, persisted: true })),
      [[[1, 1], [2, 1], [3, 1]], false],
    );
  });
});

// Schema version 2 as it was (version 1: `servers` without `reserved`).
const SCHEMA_V2 = `
CREATE TABLE event_types (
  id INTEGER PRIMARY KEY, type TEXT NOT NULL UNIQUE, latest INTEGER);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY, server INTEGER NOT NULL, session INTEGER NOT NULL,
  instance INTEGER NOT NULL, type_id INTEGER NOT NULL, t BLOB NOT NULL,
  source_t BLOB, payload_kind INTEGER, payload_type TEXT, payload_data BLOB);
CREATE UNIQUE INDEX events_id ON events (server, session, instance);
CREATE INDEX events_t ON events (t, server, session, instance);
CREATE INDEX events_source_t ON events (source_t, server, session, instance)
  WHERE source_t IS NOT NULL;
CREATE INDEX events_type_t ON events (type_id, t, server, session, instance);
CREATE INDEX events_type_source_t
  ON events (type_id, source_t, server, session, instance)
  WHERE source_t IS NOT NULL;
CREATE TABLE servers (
  server INTEGER PRIMARY KEY, session INTEGER NOT NULL,
  instance INTEGER NOT NULL, t BLOB NOT NULL,
  reserved INTEGER NOT NULL DEFAULT 0);
PRAGMA user_version = 2;`;

// A database of schema version `version` (1 or 2) holding sessions 1-3 of
// server 1, types a, b, a at timestamps 10, 20, 30 (source 3, 2, 1).
function oldDatabase(path: string, version: 1 | 2): void {
  const db = new DatabaseSync(path);
  db.exec(SCHEMA_V2);
  const t = (s: number) => timestampToBytes(ts(s));
  db.exec(`INSERT INTO event_types (id, type, latest)
    VALUES (1, '["a"]', 3), (2, '["b"]', 2)`);
  const insert = db.prepare(`INSERT INTO events (seq, server, session,
    instance, type_id, t, source_t, payload_kind, payload_data)
    VALUES (?, 1, ?, 1, ?, ?, ?, 1, ?)`);
  for (const [session, typeId] of [[1, 1], [2, 2], [3, 1]]) {
    insert.run(
      session,
      session,
      typeId,
      t(10 * session),
      t(4 - session),
      `${session}`,
    );
  }
  db.prepare(`INSERT INTO servers (server, session, instance, t, reserved)
    VALUES (1, 3, 1, ?, 3)`).run(t(30));
  if (version === 1) {
    db.exec(`ALTER TABLE servers DROP COLUMN reserved;
      PRAGMA user_version = 1`);
  }
  db.close();
}

Deno.test("an unknown schema version is refused, versions 1 and 2 are migrated", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/other.db`;
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 99");
    db.close();
    assert.throws(() => SqliteStore.open({ path, serverId: 1 }), StoreError);

    for (const version of [1, 2] as const) {
      const old = `${dir}/v${version}.db`;
      oldDatabase(old, version);
      const store = SqliteStore.open({ path: old, serverId: 1 });
      assert.deepEqual(store.getLastEventId(), id(3, 1));
      assert.deepEqual(ids(store.query({ kind: "latest" })), [
        [[3, 1], [2, 1]],
        false,
      ]);
      const [next] = store.register([{ type: ["b"] }]);
      assert.deepEqual(next.id, id(4, 1));
      for (
        const [orderBy, types, expected] of [
          ["timestamp", [["a"]], [[3, 1], [1, 1]]],
          ["timestamp", [["b"]], [[4, 1], [2, 1]]],
          ["timestamp", null, [[4, 1], [3, 1], [2, 1], [1, 1]]],
          ["sourceTimestamp", [["a"]], [[1, 1], [3, 1]]],
          ["sourceTimestamp", [["a"], ["b"]], [[1, 1], [2, 1], [3, 1]]],
        ] as const
      ) {
        assert.deepEqual(
          ids(store.query({
            kind: "timeseries",
            eventTypes: types,
            orderBy,
          } as QueryParams))[0],
          expected,
          `${orderBy} ${JSON.stringify(types)}`,
        );
      }
      // Ids through the runs built from the old events, and the new one's.
      const server = (lastEventId?: EventId) =>
        store.query({ kind: "server", serverId: 1, lastEventId }).events.map((
          e,
        ) => [e.id.session, e.id.instance]);
      assert.deepEqual(server(), [[1, 1], [2, 1], [3, 1], [4, 1]]);
      assert.deepEqual(server(id(2, 1)), [[3, 1], [4, 1]]);
      store.close();
      const check = new DatabaseSync(old, { readOnly: true });
      const indexes = check.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql NOT NULL ORDER BY name",
      ).all().map((row) => row.name);
      assert.deepEqual(indexes, ["events_source_t", "runs_id", "runs_t"]);
      assert.equal(
        (check.prepare("PRAGMA user_version").get() as {
          user_version: number;
        }).user_version,
        5,
      );
      check.close();
    }
  });
});

Deno.test("a version-4 database answers the same after its runs get their timestamps (version 5), and gives no sequence number again", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/v4.db`;
    const peer = (
      session: number,
      instance: number,
      s: number,
      type: string,
    ): Event => ({
      id: { server: 2, session, instance },
      type: [type],
      timestamp: ts(s),
      sourceTimestamp: null,
      payload: null,
    });
    {
      using store = SqliteStore.open({ path, serverId: 1 });
      store.register([{ type: ["a"] }, { type: ["b"] }], ts(10));
      // A peer's session of two timestamps (two runs in version 5, one
      // in 4), the first before this server's.
      store.writeSynced([
        peer(7, 1, 5, "a"),
        peer(7, 2, 5, "b"),
        peer(7, 3, 25, "a"),
      ]);
      store.register([{ type: ["a"] }], ts(20));
      store.register([{ type: ["b"] }], ts(30));
    }
    // The newest event gone (as retention may delete it): version 4's
    // runs still hold its sequence number.
    const db = new DatabaseSync(path);
    db.exec("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)");
    const deleted = db.prepare("SELECT max(last_seq) AS n FROM runs").get()!
      .n as number;
    db.close();
    const timeseries = () => {
      using store = SqliteStore.open({ path, serverId: 1 });
      const answers = [];
      for (const order of ["ascending", "descending"] as const) {
        for (const eventTypes of [null, [["a"]]]) {
          const q = (lastEventId?: EventId) =>
            store.query({
              kind: "timeseries",
              order,
              eventTypes,
              lastEventId,
              maxResults: 2,
            } as QueryParams);
          const first = q();
          answers.push(
            first.events.map((e) => [e.id.server, e.id.session, e.id.instance]),
            q(first.events.at(-1)!.id).events.map((e) => [
              e.id.server,
              e.id.session,
              e.id.instance,
            ]),
          );
        }
      }
      return answers;
    };
    const expected = timeseries();
    assert.deepEqual(expected[0], [[2, 7, 1], [2, 7, 2]]);
    assert.deepEqual(expected[1], [[1, 1, 1], [1, 1, 2]]);
    // Version 4 as it was: runs by server and session only, no runs_t,
    // events_t.
    const v4 = new DatabaseSync(path);
    v4.exec(`DROP INDEX runs_t;
      CREATE TABLE runs4 (first_seq INTEGER PRIMARY KEY,
        last_seq INTEGER NOT NULL, server INTEGER NOT NULL,
        session INTEGER NOT NULL);
      INSERT INTO runs4 SELECT min(first_seq), max(last_seq), server, session
        FROM runs GROUP BY server, session;
      DROP TABLE runs;
      ALTER TABLE runs4 RENAME TO runs;
      CREATE INDEX runs_id ON runs (server, session, first_seq);
      CREATE INDEX events_t ON events (t, server, session, instance, type_id);
      PRAGMA user_version = 4;`);
    v4.close();
    assert.deepEqual(timeseries(), expected);
    {
      using store = SqliteStore.open({ path, serverId: 1 });
      store.register([{ type: ["c"] }]);
    }
    const check = new DatabaseSync(path, { readOnly: true });
    try {
      assert.equal(
        check.prepare("SELECT max(seq) AS n FROM events").get()!.n,
        deleted + 1,
      );
      // The peer's session in two runs, one per timestamp.
      assert.deepEqual(
        check.prepare(
          "SELECT first_seq, last_seq FROM runs WHERE server = 2 ORDER BY first_seq",
        ).all().map((r) => [r.first_seq, r.last_seq]),
        [[3, 4], [5, 5]],
      );
      assert.equal(
        check.prepare(
          "SELECT count(*) AS n FROM sqlite_master WHERE name = 'events_t'",
        ).get()!.n,
        0,
      );
    } finally {
      check.close();
    }
  });
});

Deno.test("a file that is not a database is refused and left as is", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/not.db`;
    const garbage = new TextEncoder().encode(
      "not an SQLite database\n".repeat(50),
    );
    Deno.writeFileSync(path, garbage);
    assert.throws(() => SqliteStore.open({ path, serverId: 1 }), Error);
    assert.deepEqual(Deno.readFileSync(path), garbage);
  });
});

Deno.test("registration timestamps have microsecond resolution and never go backwards", () => {
  using store = SqliteStore.open({ path: ":memory:", serverId: 1 });
  const stamps = Array.from(
    { length: 50 },
    () => store.register([{ type: ["a"] }])[0].timestamp,
  );
  for (let i = 1; i < stamps.length; i++) {
    assert.ok(compareTimestamps(stamps[i - 1], stamps[i]) <= 0);
  }
  // Back to back, 50 registrations take well under a millisecond each:
  // with a millisecond clock they share a handful of timestamps.
  const distinct = new Set(stamps.map((t) => `${t.s}.${t.us}`));
  assert.ok(distinct.size >= 45, `${distinct.size} distinct timestamps`);
  assert.ok(stamps.some((t) => t.us % 1000 !== 0));
  // And the clock is the wall clock.
  const wall = Date.now() / 1000;
  assert.ok(Math.abs(Number(stamps[49].s) - wall) < 2);
});

Deno.test("a database file is one store's, whatever path leads to it", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/events.db`;
    using store = SqliteStore.open({ path, serverId: 1 });
    store.register([{ type: ["a"] }]);
    store.flush();
    Deno.linkSync(path, `${dir}/hard.db`);
    Deno.symlinkSync(path, `${dir}/soft.db`);
    const paths = [
      path,
      `${dir}/hard.db`,
      `${dir}/soft.db`,
      relative(Deno.cwd(), path),
      `${dir}/./sub/../events.db`,
    ];
    Deno.mkdirSync(`${dir}/sub`);
    for (const p of paths) {
      assert.throws(
        () => SqliteStore.open({ path: p, serverId: 1 }),
        (e) => e instanceof DatabaseInUseError && e.path === p,
        p,
      );
    }
    // Another process is refused as well, and the refusals left the
    // holder intact: it still registers and commits.
    const script = `
      import { SqliteStore } from ${JSON.stringify(STORE_MOD)};
      try {
        SqliteStore.open({ path: Deno.args[0], serverId: 1 });
        console.log("opened");
      } catch (e) {
        console.log(e.name);
      }`;
    for (const p of [`${dir}/hard.db`, `${dir}/soft.db`]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", script, p],
        stderr: "inherit",
      }).output();
      assert.equal(
        new TextDecoder().decode(out.stdout).trim(),
        "DatabaseInUseError",
      );
    }
    store.register([{ type: ["b"] }]);
    assert.equal(store.flush().committed.length, 1);
    store.close();
    // Closed: free for the next store, by any path.
    using hard = SqliteStore.open({ path: `${dir}/hard.db`, serverId: 1 });
    assert.equal(hard.query({ kind: "server", serverId: 1 }).events.length, 2);
  });
});

Deno.test("sessions are reserved durably before they are handed out", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/events.db`;
    const store = SqliteStore.open({ path, serverId: 1, sessionBlock: 2 });
    // Another connection sees only what is committed.
    const reader = new DatabaseSync(path, { readOnly: true });
    const reserved = () =>
      (reader.prepare("SELECT reserved FROM servers WHERE server = 1")
        .get() as { reserved: number }).reserved;
    for (let i = 1; i <= 5; i++) {
      const [event] = store.register([{ type: ["a"] }]);
      assert.deepEqual(event.id, id(i, 1));
      assert.ok(reserved() >= i, `session ${i} handed out unreserved`);
    }
    // Reserving within a transaction committed what was pending with it;
    // flush reports every request once, in order.
    const { committed } = store.flush();
    assert.deepEqual(
      committed.map((b) => b[0].id),
      [1, 2, 3, 4, 5].map((s) => id(s, 1)),
    );
    assert.equal(reserved(), 6);
    // Closing gives back what was not handed out.
    store.close();
    assert.equal(reserved(), 5);
    reader.close();
  });
});

Deno.test("types and payloads beyond the limits refuse the whole request", () => {
  const defaults = {
    maxEventTypeSegments: DEFAULT_MAX_EVENT_TYPE_SEGMENTS,
    maxEventTypeBytes: DEFAULT_MAX_EVENT_TYPE_BYTES,
    maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  };
  assert.deepEqual(defaults, {
    maxEventTypeSegments: 32,
    maxEventTypeBytes: 1024,
    maxPayloadBytes: 1024 * 1024,
  });
  for (
    const limits of [{}, {
      maxEventTypeSegments: 3,
      maxEventTypeBytes: 10,
      maxPayloadBytes: 8,
    }]
  ) {
    const max = { ...defaults, ...limits };
    using store = SqliteStore.open({
      path: ":memory:",
      serverId: 1,
      ...limits,
    });
    const bin = (n: number, type = "") => ({
      kind: "binary" as const,
      type,
      data: new Uint8Array(n),
    });
    const json = (text: string) => ({ kind: "json" as const, data: text });
    const refused: [RegisterEvent, EventLimit][] = [
      [
        { type: Array(max.maxEventTypeSegments + 1).fill("a") },
        "maxEventTypeSegments",
      ],
      [{ type: ["a".repeat(max.maxEventTypeBytes + 1)] }, "maxEventTypeBytes"],
      // Bytes, not characters: é is two.
      [
        { type: ["é".repeat(max.maxEventTypeBytes / 2), "b"] },
        "maxEventTypeBytes",
      ],
      [
        { type: ["x"], payload: bin(max.maxPayloadBytes + 1) },
        "maxPayloadBytes",
      ],
      [
        { type: ["x"], payload: bin(max.maxPayloadBytes, "t") },
        "maxPayloadBytes",
      ],
      // The JSON text of a string has its quotes.
      [
        { type: ["x"], payload: json("j".repeat(max.maxPayloadBytes - 1)) },
        "maxPayloadBytes",
      ],
    ];
    for (const [event, limit] of refused) {
      assert.throws(
        () => store.register([{ type: ["ok"] }, event]),
        (e) =>
          e instanceof EventLimitError && e.limit === limit &&
          e.max === max[limit],
        limit,
      );
    }
    assert.equal(store.pendingCount, 0);
    assert.deepEqual(store.getLastEventId(), id(0, 0));
    assert.deepEqual(store.query({ kind: "latest" }).events, []);
    // Up to the limits is fine.
    const fits = store.register([
      { type: Array(max.maxEventTypeSegments).fill("a") },
      { type: ["é".repeat(max.maxEventTypeBytes / 2)] },
      { type: ["x"], payload: bin(max.maxPayloadBytes) },
      { type: ["x"], payload: bin(max.maxPayloadBytes - 1, "t") },
      { type: ["x"], payload: json("j".repeat(max.maxPayloadBytes - 2)) },
    ]);
    assert.equal(fits.length, 5);
  }
});

Deno.test("a store restarts on 100,000 types within 16 MiB", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/types.db`;
    SqliteStore.open({ path, serverId: 1 }).close();
    const db = new DatabaseSync(path);
    db.exec("BEGIN");
    const insert = db.prepare("INSERT INTO event_types (type) VALUES (?)");
    for (let i = 0; i < 100_000; i++) {
      insert.run(
        JSON.stringify(["gateway", `device${i % 1000}`, "data", `point${i}`]),
      );
    }
    db.exec("COMMIT");
    db.close();
    // In a process of its own, for a clean resident size.
    const script = `
      import { SqliteStore } from ${JSON.stringify(STORE_MOD)};
      gc();
      const before = Deno.memoryUsage().rss;
      const store = SqliteStore.open({ path: Deno.args[0], serverId: 1 });
      const [e] = store.register([{ type: ["gateway", "device7", "data", "point99007"] }]);
      gc();
      console.log(JSON.stringify({ rss: Deno.memoryUsage().rss - before, type: e.type }));
      store.close();`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", "--v8-flags=--expose-gc", script, path],
      stderr: "inherit",
    }).output();
    const { rss, type } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(type, ["gateway", "device7", "data", "point99007"]);
    const check = new DatabaseSync(path, { readOnly: true });
    assert.equal(
      (check.prepare("SELECT count(*) AS n FROM event_types").get() as {
        n: number;
      }).n,
      100_000,
    );
    check.close();
    assert.ok(
      rss < 16 * 2 ** 20,
      `restart took ${(rss / 2 ** 20).toFixed(1)} MiB`,
    );
  });
});

Deno.test("every query result is capped in bytes and pages on", () => {
  const cap = 1024 * 1024;
  using store = SqliteStore.open({
    path: ":memory:",
    serverId: 1,
    maxResultBytes: cap,
  });
  const big = 100 * 1024;
  const registered: Event[] = [];
  for (let i = 0; i < 30; i++) {
    registered.push(...store.register([
      {
        type: ["bin", String(i)],
        payload: {
          kind: "binary",
          type: "t",
          data: new Uint8Array(big).fill(i),
        },
      },
      {
        type: ["json", String(i % 3)],
        payload: { kind: "json", data: "j".repeat(big) },
      },
    ]));
  }
  store.flush();
  const encoded = (events: readonly Event[]) => {
    const w = new Writer();
    writeEvents(w, events);
    return w.bytes().length;
  };
  const pages = (params: QueryParams) => {
    const all: Event[][] = [];
    let lastEventId: EventId | null = null;
    for (;;) {
      const page = store.query({ ...params, lastEventId } as QueryParams);
      all.push(page.events);
      if (!page.moreFollows) return all;
      lastEventId = page.events.at(-1)!.id;
    }
  };
  const bins = registered.filter((e) => e.type[0] === "bin");
  const jsons = registered.filter((e) => e.type[0] === "json");
  const cases: [QueryParams, Event[]][] = [
    [{ kind: "timeseries", order: "ascending" }, registered],
    [{ kind: "timeseries", eventTypes: [["json", "*"]] }, jsons.toReversed()],
    [{ kind: "timeseries", eventTypes: [["bin", "?"]] }, bins.toReversed()],
    [{ kind: "server", serverId: 1 }, registered],
  ];
  for (const [params, expected] of cases) {
    const got = pages(params);
    assert.ok(got.length > 1);
    for (const page of got) {
      const bytes = encoded(page);
      assert.ok(bytes <= cap, `${bytes} bytes`);
      // Not much less: the estimate is close.
      if (page !== got.at(-1)) assert.ok(bytes > cap - 2 * big, `${bytes}`);
    }
    assert.deepEqual(plainEvents(got.flat()), plainEvents(expected));
  }
  // Latest: as many types as fit; moreFollows says some were left out.
  const latest = store.query({ kind: "latest" });
  assert.equal(latest.moreFollows, true);
  assert.ok(encoded(latest.events) <= cap);
  assert.ok(latest.events.length >= 5);
  const json = store.query({ kind: "latest", eventTypes: [["json", "*"]] });
  assert.deepEqual(json.moreFollows, false);
  assert.equal(json.events.length, 3);
  // One event beyond the cap still comes, alone.
  using small = SqliteStore.open({
    path: ":memory:",
    serverId: 1,
    maxResultBytes: 10,
  });
  small.register([{
    type: ["a"],
    payload: { kind: "json", data: "x".repeat(100) },
  }]);
  small.register([{ type: ["a"] }]);
  assert.deepEqual(ids(small.query({ kind: "server", serverId: 1 })), [
    [[1, 1]],
    true,
  ]);
});

Deno.test("a stepped query under the byte cap answers what query answers at its last step", () => {
  let seed = 11;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  using store = SqliteStore.open({
    path: ":memory:",
    serverId: 1,
    maxResultBytes: 64 * 1024,
  });
  const event = (i: number): RegisterEvent => ({
    type: ["t", String(i)],
    payload: { kind: "json", data: "x".repeat(rnd(3) === 0 ? 2000 : 10) },
  });
  for (let batch = 0; batch < 4; batch++) {
    store.register(
      Array.from({ length: 500 }, (_, i) => event(i + 500 * batch)),
    );
  }
  const params: QueryParams[] = [
    { kind: "latest" },
    { kind: "latest", eventTypes: [["t", "*"]] },
    { kind: "timeseries" },
    { kind: "timeseries", order: "ascending" },
    { kind: "server", serverId: 1 },
  ];
  for (const p of params) {
    for (let round = 0; round < 3; round++) {
      const query = store.startQuery(p);
      let result: QueryResult | undefined;
      let steps = 0;
      // Newer events replacing small ones by large ones and the reverse:
      // the result's end moves both ways.
      while ((result = query.step()) === undefined) {
        if (steps++ % 2 === 0) store.register([event(rnd(2100))]);
        if (steps % 5 === 0) store.flush();
      }
      assert.ok(steps > 1);
      assert.deepEqual(result, store.query(p), JSON.stringify(p));
      assert.equal(result.moreFollows, true);
    }
  }
  // Types made small meanwhile (every one, or every other one): more
  // fit, the scan reads on, more of the older events are fetched.
  for (const p of params.slice(0, 2)) {
    for (const every of [1, 2]) {
      store.register(Array.from({ length: 2000 }, (_, i) => ({
        type: ["t", String(i)],
        payload: { kind: "json", data: "x".repeat(2000) },
      })));
      const query = store.startQuery(p);
      let result: QueryResult | undefined;
      let steps = 0;
      const before = store.query(p).events.length;
      while ((result = query.step()) === undefined) {
        if (steps++ === 1) {
          store.register(Array.from({ length: 2000 / every }, (_, i) => ({
            type: ["t", String(i * every)],
          })));
        }
      }
      assert.deepEqual(result, store.query(p));
      assert.ok(result.events.length > before, `${result.events.length}`);
    }
  }
});

Deno.test("a request of any size is stored whole and in order", () => {
  using store = SqliteStore.open({ path: ":memory:", serverId: 1 });
  // 64 + 64 + 16 + 4 + 4 + 1 + 1 + ...: every statement size, and sizes
  // around them.
  let session = 0;
  for (const n of [1, 3, 4, 5, 17, 63, 64, 65, 149, 1000]) {
    const events = store.register(
      Array.from({ length: n }, (_, i) => ({
        type: ["n", String(n), String(i % 7)],
        payload: { kind: "json", data: i },
      })),
    );
    session++;
    assert.deepEqual(
      events.map((e) => e.id),
      Array.from({ length: n }, (_, i) => id(session, i + 1)),
    );
  }
  store.flush();
  const all = store.query({ kind: "server", serverId: 1, maxResults: 2000 });
  assert.equal(
    all.events.length,
    1 + 3 + 4 + 5 + 17 + 63 + 64 + 65 + 149 + 1000,
  );
  const of149 = store.query({
    kind: "timeseries",
    eventTypes: [["n", "149", "*"]],
    order: "ascending",
  }).events;
  assert.deepEqual(
    of149.map((e) => [e.id.instance, e.payload?.data]),
    Array.from({ length: 149 }, (_, i) => [i + 1, i]),
  );
  const latest = store.query({
    kind: "latest",
    eventTypes: [["n", "1000", "*"]],
  });
  assert.deepEqual(
    latest.events.map((e) => e.id.instance).sort((a, b) => a - b),
    [994, 995, 996, 997, 998, 999, 1000],
  );
});

Deno.test("synced events take the next rows and their partitions: registering after them works, and timeseries queries answer them", () => {
  using store = SqliteStore.open({
    path: ":memory:",
    serverId: 1,
    storage: {
      timeseries: [{ orderBy: "timestamp", subscriptions: [["p", "*"]] }],
    },
  });
  store.register([{ type: ["p", "own"] }]);
  const synced = store.writeSynced([1, 2].map((session) => ({
    id: { server: 2, session, instance: 1 },
    type: ["p", "peer"],
    timestamp: ts(session),
    sourceTimestamp: null,
    payload: null,
  })));
  assert.equal(synced.length, 2);
  store.register([{ type: ["p", "own"] }, { type: ["q"] }]);
  store.flush();
  const { events } = store.query({ kind: "timeseries" });
  assert.deepEqual(
    events.map((e) => `${e.id.server}/${e.id.session}`).sort(),
    ["1/1", "1/2", "2/1", "2/2"],
  );
});
