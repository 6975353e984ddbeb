// Retention of timeseries partitions (`limit`, `cleanupPeriod`): what a
// cleanup takes out, what it deletes, and that a database under retention
// stops growing (a simulated week on a fake clock).

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SqliteStore, type StorageRules } from "../store/mod.ts";
import type { QueryParams, Timestamp } from "../common/event/mod.ts";
import { connect } from "../mod.ts";
import { startEventServer } from "../event_server/mod.ts";

async function withTempDir(fn: (dir: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir({ prefix: "store_retention_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function cleanAll(store: SqliteStore, now?: Timestamp): number {
  let removed = 0;
  for (let i = 0;; i++) {
    assert.ok(i < 10_000, "cleanup never ends");
    const step = store.cleanup(now, 64);
    removed += step.removed;
    if (!step.more) return removed;
  }
}

const timeseries = (
  store: SqliteStore,
  params: Partial<QueryParams> = {},
) =>
  store.query({
    kind: "timeseries",
    order: "ascending",
    maxResults: 100_000,
    ...params,
  } as QueryParams).events;

Deno.test("a cleanup keeps the newest maxEntries, never fewer than minEntries, and deletes what nothing keeps", () => {
  const storage: StorageRules = {
    timeseries: [
      {
        orderBy: "timestamp",
        subscriptions: [["a", "*"]],
        limit: { maxEntries: 3 },
      },
      {
        orderBy: "timestamp",
        subscriptions: [["b", "*"]],
        limit: { maxEntries: 0, minEntries: 2 },
      },
      { orderBy: "timestamp", subscriptions: [["c", "*"]] },
    ],
  };
  using store = SqliteStore.open({ path: ":memory:", serverId: 1, storage });
  assert.equal(store.cleanupPeriod, 1000);
  for (let i = 0; i < 10; i++) {
    store.register([
      { type: ["a", String(i % 2)], payload: { kind: "json", data: i } },
      { type: ["b", String(i % 2)], payload: { kind: "json", data: i } },
      { type: ["c"], payload: { kind: "json", data: i } },
      { type: ["d"], payload: { kind: "json", data: i } },
    ]);
  }
  // Nothing while registered events wait for their commit.
  assert.deepEqual(store.cleanup(), {
    remasked: 0,
    removed: 0,
    deleted: 0,
    more: true,
  });
  store.flush();
  assert.equal(cleanAll(store), 7 + 8);
  const data = (types: string) =>
    timeseries(store, { eventTypes: [[types, "*"]] }).map((e) =>
      e.payload?.data
    );
  assert.deepEqual(data("a"), [7, 8, 9]);
  assert.deepEqual(data("b"), [8, 9]);
  assert.deepEqual(data("c"), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // Every type's latest event stays; the events no partition keeps any
  // more (nor d's, kept by none) are gone otherwise.
  assert.deepEqual(
    store.query({ kind: "latest" }).events.map((e) =>
      `${e.type.join("/")}=${e.payload?.data}`
    ).sort(),
    ["a/0=8", "a/1=9", "b/0=8", "b/1=9", "c=9", "d=9"],
  );
  assert.equal(
    store.query({ kind: "server", serverId: 1, maxResults: 1000 }).events
      .length,
    3 + 2 + 10 + 1,
  );
  // Nothing more to do.
  assert.equal(cleanAll(store), 0);
});

// Rows of the events table, and those without a mask, read apart.
function rows(path: string): { all: number; unmasked: number } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return {
      ...db.prepare(
        `SELECT count(*) AS "all",
           count(*) FILTER (WHERE partitions IS NULL) AS unmasked FROM events`,
      ).get() as { all: number; unmasked: number },
    };
  } finally {
    db.close();
  }
}

const json = (data: number) => ({ kind: "json" as const, data });

Deno.test("events stored without partitions join the partitions configured later, and their limits, even across a restart midway", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/events.db`;
    {
      // No storage rules: every event in the implicit partitions.
      using store = SqliteStore.open({ path, serverId: 1 });
      for (let i = 0; i < 100; i++) {
        store.register([
          { type: ["a", String(i % 2)], payload: json(i) },
          { type: ["b"], payload: json(i), sourceTimestamp: null },
          { type: ["c"], payload: json(i), sourceTimestamp: { s: i, us: 0 } },
        ]);
      }
    }
    const storage: StorageRules = {
      timeseries: [
        {
          orderBy: "timestamp",
          subscriptions: [["a", "*"]],
          limit: { maxEntries: 5 },
        },
        // Without a limit; c has source timestamps, b none.
        { orderBy: "sourceTimestamp", subscriptions: [["b"], ["c"]] },
      ],
    };
    {
      using store = SqliteStore.open({ path, serverId: 1, storage });
      // A limit configured: a cleanup runs. A few steps, then a restart.
      assert.equal(store.cleanupPeriod, 1000);
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(store.cleanup(undefined, 64), {
          remasked: 64,
          removed: 0,
          deleted: 0,
          more: true,
        });
      }
    }
    assert.deepEqual(rows(path), { all: 300, unmasked: 300 - 3 * 64 });
    {
      using store = SqliteStore.open({ path, serverId: 1, storage });
      cleanAll(store);
      const data = (params: Partial<QueryParams>) =>
        timeseries(store, params).map((e) => e.payload?.data);
      assert.deepEqual(data({ eventTypes: [["a", "*"]] }), [
        95,
        96,
        97,
        98,
        99,
      ]);
      assert.deepEqual(
        data({ eventTypes: [["c"]], orderBy: "sourceTimestamp" }),
        Array.from({ length: 100 }, (_, i) => i),
      );
      // b is in no partition: only its latest event stays.
      assert.deepEqual(
        data({ eventTypes: [["b"]], orderBy: "sourceTimestamp" }),
        [],
      );
      assert.deepEqual(
        store.query({ kind: "latest", eventTypes: [["b"]] }).events.map((e) =>
          e.payload?.data
        ),
        [99],
      );
    }
    // 5 of a (its latest two among them), b's latest, 100 of c.
    assert.deepEqual(rows(path), { all: 5 + 1 + 100, unmasked: 0 });
  });
});

Deno.test("events of a partition no longer configured stay, and come back with it, as the reference's", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/events.db`;
    const a = { orderBy: "timestamp" as const, subscriptions: [["a", "*"]] };
    const ab = {
      orderBy: "timestamp" as const,
      subscriptions: [["a", "1"], ["b"]],
    };
    {
      using store = SqliteStore.open({
        path,
        serverId: 1,
        storage: { timeseries: [a, ab] },
      });
      for (let i = 0; i < 10; i++) {
        store.register([
          { type: ["a", String(i % 2)], payload: json(i) },
          { type: ["b"], payload: json(i) },
        ]);
      }
    }
    {
      // `a` gone; no partition has a limit, yet a cleanup runs.
      using store = SqliteStore.open({
        path,
        serverId: 1,
        storage: { timeseries: [ab] },
      });
      assert.equal(store.cleanupPeriod, 1000);
      cleanAll(store);
      assert.deepEqual(
        timeseries(store).map((e) => `${e.type.join("/")}=${e.payload?.data}`)
          .filter((s) => s.startsWith("a")),
        ["a/1=1", "a/1=3", "a/1=5", "a/1=7", "a/1=9"],
      );
    }
    // a/0 is out of every configured partition's reach, but stays.
    assert.equal(rows(path).all, 10 + 10);
    {
      // `a` again: its entries with it.
      using store = SqliteStore.open({
        path,
        serverId: 1,
        storage: { timeseries: [a, ab] },
      });
      cleanAll(store);
      assert.deepEqual(
        timeseries(store, { eventTypes: [["a", "0"]] })
          .map((e) => e.payload?.data),
        [0, 2, 4, 6, 8],
      );
    }
  });
});

Deno.test("a week of traffic under a one-day duration: the database stops growing", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/events.db`;
    const HOUR = 3600;
    let clock = 1_700_000_000;
    const now = (): Timestamp => ({ s: clock, us: 0 });
    using store = SqliteStore.open({
      path,
      serverId: 1,
      now,
      maxResults: 100_000,
      storage: {
        timeseries: [{
          orderBy: "timestamp",
          subscriptions: [["*"]],
          limit: { duration: 24 * HOUR * 1000 },
        }],
      },
    });
    const reader = new DatabaseSync(path, { readOnly: true });
    const pages = () =>
      (reader.prepare("PRAGMA page_count").get() as { page_count: number })
        .page_count;
    const sizes: number[] = [];
    const payload = { kind: "json" as const, data: { value: 1.5, q: "good" } };
    for (let hour = 0; hour < 7 * 24; hour++) {
      clock += HOUR;
      store.register(
        Array.from({ length: 200 }, (_, i) => ({
          type: ["plant", `point${i % 50}`],
          payload,
        })),
      );
      store.flush();
      cleanAll(store, now());
      if (hour % 24 === 23) sizes.push(pages());
    }
    // A day's events, and one more hour's (the bound is inclusive).
    const kept = timeseries(store).length;
    assert.ok(kept >= 24 * 200 && kept <= 25 * 200, `${kept} events kept`);
    reader.close();
    console.log(`pages at the end of each day: ${sizes.join(", ")}`);
    // From the second day on, freed pages are reused: the file no longer
    // grows (the first day fills it).
    assert.ok(
      sizes[6] <= sizes[1] * 1.1,
      `pages ${sizes.join(", ")}`,
    );
  });
});

Deno.test("the Event Server cleans up every cleanupPeriod", async () => {
  await withTempDir(async (dir) => {
    await using server = await startEventServer({
      db: `${dir}/events.db`,
      port: 0,
      storage: {
        timeseries: [{
          orderBy: "timestamp",
          subscriptions: [["a", "*"]],
          limit: { maxEntries: 5 },
        }],
        cleanupPeriod: 20,
      },
    });
    await using client = await connect(server.addresses[0], "test");
    for (let i = 0; i < 4; i++) {
      await client.register(
        Array.from({ length: 5 }, (_, j) => ({
          type: ["a", String(j)],
          payload: { kind: "json", data: i * 5 + j },
        })),
        true,
      );
    }
    const deadline = Date.now() + 5000;
    let data: unknown[] = [];
    while (Date.now() < deadline) {
      const result = await client.query({
        kind: "timeseries",
        order: "ascending",
      });
      data = result.events.map((e) => e.payload?.data);
      if (data.length <= 5) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(data, [15, 16, 17, 18, 19]);
  });
});

Deno.test("a cleanup deletes the runs of the events it deleted; ids stay found through those left, across a restart", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/events.db`;
    const storage: StorageRules = {
      timeseries: [{
        orderBy: "timestamp",
        subscriptions: [["a"]],
        limit: { maxEntries: 3 },
      }],
    };
    const runs = () => {
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        return db.prepare("SELECT first_seq FROM runs ORDER BY first_seq")
          .all().map((row) => row.first_seq);
      } finally {
        db.close();
      }
    };
    const sessions = (store: SqliteStore, after?: number) =>
      store.query({
        kind: "server",
        serverId: 1,
        lastEventId: after === undefined
          ? undefined
          : { server: 1, session: after, instance: 1 },
      }).events.map((e) => e.id.session);
    {
      using store = SqliteStore.open({ path, serverId: 1, storage });
      for (let i = 0; i < 20; i++) store.register([{ type: ["a"] }]);
      store.flush();
      assert.equal(runs().length, 20);
      cleanAll(store);
      assert.deepEqual(sessions(store), [18, 19, 20]);
      assert.deepEqual(runs(), [18, 19, 20]);
    }
    using store = SqliteStore.open({ path, serverId: 1, storage });
    store.register([{ type: ["a"] }, { type: ["a"] }]);
    store.flush();
    assert.deepEqual(sessions(store, 19), [20, 21, 21]);
    assert.deepEqual(runs(), [18, 19, 20, 21]);
  });
});
