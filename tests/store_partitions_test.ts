// Timeseries partitions (storage.timeseries) of the SQLite store: which
// events each keeps, which one a query reads (the reference's rule), and
// what a changed configuration does to a database.

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SqliteStore, type StorageRules } from "../store/mod.ts";
import type {
  Event,
  EventType,
  QueryParams,
  RegisterEvent,
} from "../common/event/mod.ts";
import { ts } from "./_store_contract.ts";
import { connect } from "../mod.ts";
import { startEventServer } from "../event_server/mod.ts";

const PARTITIONS: StorageRules = {
  timeseries: [
    { orderBy: "timestamp", subscriptions: [["a", "*"]] },
    { orderBy: "timestamp", subscriptions: [["b", "*"]] },
    { orderBy: "sourceTimestamp", subscriptions: [["*"]] },
  ],
};

async function withTempDir(fn: (dir: string) => Promise<void> | void) {
  const dir = await Deno.makeTempDir({ prefix: "store_partitions_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function reg(type: string, source?: number): RegisterEvent {
  return {
    type: type.split("/"),
    sourceTimestamp: source === undefined ? null : ts(source),
  };
}

// Types of the events of a query, as "a/1".
function types(store: SqliteStore, params: Partial<QueryParams>): string[] {
  const result = store.query({
    kind: "timeseries",
    order: "ascending",
    ...params,
  } as QueryParams);
  return result.events.map((e: Event) => e.type.join("/"));
}

function indexes(path: string): string[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND sql NOT NULL ORDER BY name",
    ).all().map((row) => row.name as string);
  } finally {
    db.close();
  }
}

const q = (...t: string[]): EventType[] => t.map((s) => s.split("/"));

Deno.test("a timeseries query reads the first partition of its order sharing a type with it", async () => {
  await withTempDir((dir) => {
    using store = SqliteStore.open({
      path: `${dir}/events.db`,
      serverId: 1,
      storage: PARTITIONS,
    });
    store.register([reg("a/1", 5), reg("b/1"), reg("c/1", 3)]);
    store.register([reg("a/2", 1)]);
    store.flush();
    // No query types: the first partition by timestamp.
    assert.deepEqual(types(store, {}), ["a/1", "a/2"]);
    assert.deepEqual(types(store, { eventTypes: q("b/*") }), ["b/1"]);
    // Overlapping the first partition: read there, filtered by the query.
    assert.deepEqual(types(store, { eventTypes: q("?/1") }), ["a/1"]);
    // No partition shares a type: nothing, though c/1 is stored.
    assert.deepEqual(types(store, { eventTypes: q("c/*") }), []);
    // By source timestamp: every type, only events with one.
    assert.deepEqual(types(store, { orderBy: "sourceTimestamp" }), [
      "a/2",
      "c/1",
      "a/1",
    ]);
    // Latest and server queries answer every stored event.
    assert.deepEqual(
      store.query({ kind: "latest" }).events.map((e) => e.type.join("/"))
        .sort(),
      ["a/1", "a/2", "b/1", "c/1"],
    );
    assert.equal(
      store.query({ kind: "server", serverId: 1 }).events.length,
      4,
    );
    // Events registered while a query runs join it by the same partition.
    const running = store.startQuery({
      kind: "timeseries",
      order: "ascending",
    });
    store.register([reg("b/3"), reg("a/3")]);
    let result;
    while ((result = running.step()) === undefined);
    assert.deepEqual(result.events.map((e) => e.type.join("/")), [
      "a/1",
      "a/2",
      "a/3",
    ]);
  });
});

Deno.test("a changed partition configuration keeps the partitions that stay, starts new ones empty", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/events.db`;
    {
      using store = SqliteStore.open({
        path,
        serverId: 1,
        storage: PARTITIONS,
      });
      store.register([reg("a/1"), reg("b/1", 2), reg("c/1", 1)]);
    }
    assert.deepEqual(indexes(path), [
      "events_p1",
      "events_p2",
      "events_p3",
      "events_stale_7",
      "events_unkept",
      "runs_id",
      "runs_t",
    ]);
    {
      using store = SqliteStore.open({
        path,
        serverId: 1,
        storage: {
          timeseries: [
            { orderBy: "timestamp", subscriptions: [["b", "*"]] },
            { orderBy: "timestamp", subscriptions: [["c", "*"]] },
          ],
        },
      });
      assert.deepEqual(types(store, {}), ["b/1"]);
      assert.deepEqual(types(store, { eventTypes: q("c/*") }), []);
      store.register([reg("c/2")]);
      assert.deepEqual(types(store, { eventTypes: q("c/*") }), ["c/2"]);
      assert.deepEqual(types(store, { eventTypes: q("a/*") }), []);
      assert.deepEqual(types(store, { orderBy: "sourceTimestamp" }), []);
    }
    assert.deepEqual(indexes(path), [
      "events_p2",
      "events_p4",
      "events_stale_10",
      "events_unkept",
      "runs_id",
      "runs_t",
    ]);
    // Without partitions: every event in the implicit two again.
    {
      using store = SqliteStore.open({ path, serverId: 1 });
      assert.deepEqual(types(store, {}), ["a/1", "b/1", "c/1", "c/2"]);
      assert.deepEqual(types(store, { orderBy: "sourceTimestamp" }), [
        "c/1",
        "b/1",
      ]);
    }
    assert.deepEqual(indexes(path), [
      "events_source_t",
      "runs_id",
      "runs_t",
    ]);
  });
});

Deno.test("storage rules this store cannot follow are refused, naming the field", () => {
  const open = (storage: unknown) =>
    SqliteStore.open({
      path: ":memory:",
      serverId: 1,
      storage: storage as StorageRules,
    });
  for (
    const [storage, message] of [
      [
        { timeseries: [{ orderBy: "time", subscriptions: [] }] },
        /storage\.timeseries\[0\]\.orderBy/,
      ],
      [
        {
          timeseries: [{
            orderBy: "timestamp",
            subscriptions: [["*"]],
            limit: { maxEntries: -1 },
          }],
        },
        /storage\.timeseries\[0\]\.limit\.maxEntries must be an integer >= 0, got number -1/,
      ],
      [
        { timeseries: [{ orderBy: "timestamp", subscriptions: [["*", "a"]] }] },
        /storage\.timeseries\[0\]\.subscriptions\[0\]/,
      ],
    ] as const
  ) {
    assert.throws(() => open(storage), message);
  }
});

Deno.test("the Event Server's storage option gives its store the partitions", async () => {
  await withTempDir(async (dir) => {
    await using server = await startEventServer({
      db: `${dir}/events.db`,
      port: 0,
      storage: {
        timeseries: [{ orderBy: "timestamp", subscriptions: [["b", "*"]] }],
      },
    });
    await using client = await connect(server.addresses[0], "test");
    await client.register([reg("a/1"), reg("b/1")], true);
    const result = await client.query({ kind: "timeseries" });
    // Not the engine's own events, nor a/1: only partition b/*.
    assert.deepEqual(result.events.map((e) => e.type.join("/")), ["b/1"]);
  });
});
