/**
 * Storage rules (`storage` of SqliteStore.open and startEventServer):
 * `conditions` deciding which events are stored and `latest` which types
 * keep a latest entry, with the reference LMDB backend's semantics.
 */

import assert from "node:assert/strict";
import { connect, type Event, type RegisterEvent } from "../mod.ts";
import { startEventServer } from "../event_server/mod.ts";
import { SqliteStore, type StorageRules } from "../store/mod.ts";
import { pythonEquals, StorageConditions } from "../store/_conditions.ts";
import type { Condition, JsonPath } from "../store/storage_rules.ts";
import type { JsonValue } from "../common/json/mod.ts";

function withTempDir(fn: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = await Deno.makeTempDir();
    try {
      await fn(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
}

const json = (data: JsonValue) => ({ kind: "json" as const, data });

// Whether an event of type ["t"] with `data` as JSON payload meets `c`.
function meets(c: Condition, data: JsonValue): boolean {
  return new StorageConditions([{ subscriptions: [["t"]], condition: c }])
    .matches(["t"], json(data));
}

Deno.test("json conditions: the reference's paths, types and equality", () => {
  const data = { a: [1, { b: "x" }, [true, null]], "10": 2.0, n: null };
  const at = (dataPath: JsonPath) => (dataValue: JsonValue) =>
    meets({ type: "json", dataPath, dataValue }, data);
  // A key, an index, nested lists of them (flattened), negative indexes
  // from the end as Python's.
  assert.ok(at(["a", 1, "b"])("x"));
  assert.ok(at([["a"], [1, ["b"]]])("x"));
  assert.ok(at(["a", -1, 0])(true));
  assert.ok(at(["a", -3])(1));
  assert.ok(at("10")(2));
  // Nowhere is null (hat.json.get's default): an index past the end or
  // before the start, a key into an array, an index into an object.
  assert.ok(at(["a", 3])(null));
  assert.ok(at(["a", -4])(null));
  assert.ok(at(["a", "0"])(null));
  assert.ok(at([0])(null));
  assert.ok(at("missing")(null));
  assert.ok(
    meets({ type: "json", dataPath: "missing", dataType: "null" }, data),
  );
  // No path: the whole payload; no type or value: any JSON payload.
  assert.ok(meets({ type: "json" }, "anything"));
  assert.ok(meets({ type: "json", dataType: "object" }, data));
  assert.ok(!meets({ type: "json", dataType: "array" }, data));
  // Types: numbers are ints and floats (bigints too), not booleans.
  const type = (dataType: "number" | "boolean", v: JsonValue) =>
    meets({ type: "json", dataType }, v);
  assert.ok(type("number", 1.5));
  assert.ok(type("number", 2n ** 70n));
  assert.ok(!type("number", true));
  assert.ok(type("boolean", false));
  assert.ok(!type("boolean", 0));
  // Values: Python's ==.
  assert.ok(pythonEquals(1, 1.0));
  assert.ok(pythonEquals(true, 1));
  assert.ok(pythonEquals(0, false));
  assert.ok(!pythonEquals(true, 2));
  assert.ok(pythonEquals(2n ** 64n, 2 ** 64));
  assert.ok(!pythonEquals(2n ** 64n + 1n, 2 ** 64));
  assert.ok(!pythonEquals("1", 1));
  assert.ok(!pythonEquals(null, 0));
  assert.ok(!pythonEquals([], {}));
  assert.ok(
    pythonEquals({ a: [1, { b: true }], c: "x" }, {
      c: "x",
      a: [1.0, { b: 1 }],
    }),
  );
  assert.ok(!pythonEquals({ a: 1 }, { a: 1, b: 2 }));
  assert.ok(!pythonEquals([1, 2], [2, 1]));
  // A payload that is not JSON, or none, meets no json condition.
  const c = new StorageConditions([{
    subscriptions: [["t", "*"]],
    condition: { type: "json" },
  }]);
  assert.ok(!c.matches(["t"], null));
  assert.ok(
    !c.matches(["t", "x"], {
      kind: "binary",
      type: "",
      data: new Uint8Array(),
    }),
  );
  // Types no condition subscribes to are stored whatever their payload.
  assert.ok(c.matches(["u"], null));
});

Deno.test("all, any, and every condition whose subscriptions match", () => {
  const eq = (dataPath: string, dataValue: JsonValue): Condition => ({
    type: "json",
    dataPath,
    dataValue,
  });
  const all: Condition = { type: "all", conditions: [eq("a", 1), eq("b", 2)] };
  const any: Condition = { type: "any", conditions: [eq("a", 1), eq("b", 2)] };
  assert.ok(meets(all, { a: 1, b: 2 }));
  assert.ok(!meets(all, { a: 1, b: 3 }));
  assert.ok(meets(any, { a: 0, b: 2 }));
  assert.ok(!meets(any, { a: 0, b: 0 }));
  assert.ok(meets({ type: "all", conditions: [] }, 0));
  assert.ok(!meets({ type: "any", conditions: [] }, 0));
  const c = new StorageConditions([
    { subscriptions: [["g", "*"]], condition: eq("q", "good") },
    { subscriptions: [["g", "?", "v"]], condition: eq("v", 1) },
  ]);
  assert.ok(c.matches(["g", "x"], json({ q: "good" })));
  assert.ok(!c.matches(["g", "x", "v"], json({ q: "good" })));
  assert.ok(c.matches(["g", "x", "v"], json({ q: "good", v: true })));
});

Deno.test("storage rules are checked at open, naming the field", async () => {
  const refused: [unknown, RegExp][] = [
    [
      {
        timeseries: [{
          orderBy: "timestamp",
          subscriptions: [["*"]],
          limit: { maxEntries: 1.5 },
        }],
      },
      /^storage\.timeseries\[0\]\.limit\.maxEntries must be an integer >= 0, got number 1\.5$/,
    ],
    [
      {
        timeseries: [{
          orderBy: "timestamp",
          subscriptions: [["*"]],
          limit: { maxEntry: 1 },
        }],
      },
      /^storage\.timeseries\[0\]\.limit\.maxEntry is not/,
    ],
    [
      { timeseries: [{ orderBy: "TIMESTAMP", subscriptions: [["*"]] }] },
      /^storage\.timeseries\[0\]\.orderBy must be "timestamp" or "sourceTimestamp"/,
    ],
    [
      { cleanupPeriod: -1 },
      /^storage\.cleanupPeriod must be a number of milliseconds > 0/,
    ],
    [{ condition: [] }, /^storage\.condition is not a rule/],
    [{ conditions: {} }, /^storage\.conditions must be an array/],
    [
      { conditions: [{ subscriptions: [["a"]] }] },
      /^storage\.conditions\[0\]\.condition must be an object, got nothing/,
    ],
    [{
      conditions: [{
        subscriptions: [["*", "a"]],
        condition: { type: "json" },
      }],
    }, /^storage\.conditions\[0\]\.subscriptions\[0\] must be a query type/],
    [{
      conditions: [{
        subscriptions: [],
        condition: { type: "json", dataType: "int" },
      }],
    }, /^storage\.conditions\[0\]\.condition\.dataType must be one of/],
    [
      {
        conditions: [{
          subscriptions: [],
          condition: {
            type: "any",
            conditions: [{ type: "json", dataPath: ["a", 1.5] }],
          },
        }],
      },
      /^storage\.conditions\[0\]\.condition\.conditions\[0\]\.dataPath\[1\] must be a string, an integer/,
    ],
    [{
      conditions: [{
        subscriptions: [],
        condition: { type: "json", dataPath: true },
      }],
    }, /dataPath must be a string/],
    [{
      conditions: [{
        subscriptions: [],
        condition: { type: "json", dataValue: NaN },
      }],
    }, /dataValue must be a JSON value/],
    [
      { conditions: [{ subscriptions: [], condition: { type: "none" } }] },
      /condition\.type must be "all", "any" or "json"/,
    ],
    [{
      conditions: [{
        subscriptions: [],
        condition: { type: "json", data_path: "a" },
      }],
    }, /condition\.data_path is not a rule/],
    [
      { latest: { subscriptions: "*" } },
      /^storage\.latest\.subscriptions must be an array/,
    ],
    [{ latest: [] }, /^storage\.latest must be an object/],
  ];
  for (const [storage, message] of refused) {
    assert.throws(
      () =>
        SqliteStore.open({
          path: ":memory:",
          serverId: 1,
          storage: storage as StorageRules,
        }),
      (e) => e instanceof TypeError && message.test(e.message),
      JSON.stringify(storage),
    );
  }
  // The Event Server checks before opening anything: the database file
  // is never made.
  await withTempDir(async (dir) => {
    await assert.rejects(
      startEventServer({
        db: `${dir}/x.db`,
        port: 0,
        storage: { cleanupPeriod: -1 },
      }),
      (e) => e instanceof TypeError && /storage\.cleanupPeriod/.test(e.message),
    );
    await assert.rejects(Deno.stat(`${dir}/x.db`), Deno.errors.NotFound);
  })();
});

Deno.test("an event the conditions refuse gets its id but is not stored", () => {
  using store = SqliteStore.open({
    path: ":memory:",
    serverId: 1,
    storage: {
      conditions: [{
        subscriptions: [["m", "*"]],
        condition: { type: "json", dataPath: "quality", dataValue: "good" },
      }],
    },
  });
  const good = (v: number): RegisterEvent => ({
    type: ["m", "a"],
    payload: json({ quality: "good", v }),
  });
  const bad: RegisterEvent = {
    type: ["m", "a"],
    payload: json({ quality: "bad" }),
  };
  const first = store.register([good(1)]);
  const mixed = store.register([bad, { type: ["other"] }, {
    type: ["m", "b"],
  }]);
  assert.deepEqual(mixed.map((e) => e.id.instance), [1, 2, 3]);
  assert.equal(mixed[0].id.session, first[0].id.session + 1);
  assert.deepEqual(mixed[0].payload, bad.payload);
  const { committed } = store.flush();
  // Every registered event is reported committed (and so notified).
  assert.deepEqual(committed.flat().length, 4);
  assert.deepEqual(store.getLastEventId(), mixed[2].id);
  const types = (events: Event[]) => events.map((e) => e.type.join("/"));
  // Not stored: no query answers it, and the latest of its type stays
  // the previous event (as the reference, which skips it whole).
  assert.deepEqual(types(store.query({ kind: "server", serverId: 1 }).events), [
    "m/a",
    "other",
  ]);
  assert.deepEqual(types(store.query({ kind: "timeseries" }).events), [
    "other",
    "m/a",
  ]);
  const latest =
    store.query({ kind: "latest", eventTypes: [["m", "*"]] }).events;
  assert.deepEqual(latest.map((e) => e.id), [first[0].id]);
});

Deno.test("a synced event the conditions refuse is skipped and does not advance its server's last id; latest by the rules", () => {
  using store = SqliteStore.open({
    path: ":memory:",
    serverId: 1,
    storage: {
      conditions: [{
        subscriptions: [["m", "*"]],
        condition: { type: "json", dataPath: "quality", dataValue: "good" },
      }],
      latest: { subscriptions: [["m", "*"]] },
    },
  });
  const peer = (instance: number, type: string[], quality: string): Event => ({
    id: { server: 2, session: 1, instance },
    type,
    timestamp: { s: 100, us: 0 },
    sourceTimestamp: null,
    payload: json({ quality }),
  });
  const written = store.writeSynced([
    peer(1, ["m", "a"], "good"),
    peer(2, ["o"], "bad"),
    peer(3, ["m", "a"], "bad"),
  ]);
  assert.deepEqual(written.map((e) => e.id.instance), [1, 2]);
  assert.deepEqual(store.getLastEventId(2), {
    server: 2,
    session: 1,
    instance: 2,
  });
  assert.deepEqual(
    store.query({ kind: "latest" }).events.map((e) => e.type.join("/")),
    ["m/a"],
  );
});

Deno.test(
  "only the types of latest.subscriptions have a latest entry",
  withTempDir((dir) => {
    const path = `${dir}/events.db`;
    {
      using store = SqliteStore.open({ path, serverId: 1 });
      store.register([{ type: ["a", "1"] }, { type: ["b", "1"] }, {
        type: ["c", "1"],
        payload: json({ ok: false }),
      }]);
      store.flush();
    }
    const storage: StorageRules = {
      latest: { subscriptions: [["a", "*"], ["c", "*"]] },
      conditions: [{
        subscriptions: [["c", "*"]],
        condition: { type: "json", dataPath: "ok", dataValue: true },
      }],
    };
    using store = SqliteStore.open({ path, serverId: 1, storage });
    const latestTypes = (eventTypes?: string[][]) =>
      store.query({ kind: "latest", eventTypes }).events.map((e) =>
        e.type.join("/")
      );
    // At open, entries the rules no longer allow are gone: b/1 (not in
    // latest) and c/1 (its event fails the conditions now).
    assert.deepEqual(latestTypes(), ["a/1"]);
    // Newly registered: b/2 gets none, a/2 and c/2 do, before and after a
    // flush; a query naming b/2 answers nothing.
    store.register([{ type: ["a", "2"] }, { type: ["b", "2"] }, {
      type: ["c", "2"],
      payload: json({ ok: true }),
    }]);
    assert.deepEqual(latestTypes(), ["a/1", "a/2", "c/2"]);
    store.flush();
    assert.deepEqual(latestTypes(), ["a/1", "a/2", "c/2"]);
    assert.deepEqual(latestTypes([["b", "2"]]), []);
    assert.deepEqual(latestTypes([["b", "*"]]), []);
    // A stepped latest query meets the events registered while it runs
    // by the same rule.
    const query = store.startQuery({ kind: "latest" });
    query.step();
    store.register([{ type: ["b", "3"] }, { type: ["a", "3"] }]);
    let result;
    while ((result = query.step()) === undefined);
    assert.deepEqual(result.events.map((e) => e.type.join("/")), [
      "a/1",
      "a/2",
      "c/2",
      "a/3",
    ]);
    // Timeseries still have every stored event.
    assert.equal(
      store.query({ kind: "timeseries", eventTypes: [["b", "*"]] }).events
        .length,
      3,
    );
  }),
);

Deno.test("the Event Server notifies what it does not store, and keeps latest by the rules", async () => {
  await using server = await startEventServer({
    db: ":memory:",
    port: 0,
    storage: {
      latest: { subscriptions: [["m", "*"]] },
      conditions: [{
        subscriptions: [["m", "*"]],
        condition: { type: "json", dataType: "number" },
      }],
    },
  });
  const notified: Event[] = [];
  await using sub = await connect(server.addresses[0], "sub", {
    subscriptions: [["m", "*"], ["x"]],
    eventsCb: (_client, events) => void notified.push(...events),
  });
  await using c = await connect(server.addresses[0], "reg");
  const registered = await c.register([
    { type: ["m", "1"], payload: json(1.5) },
    { type: ["m", "1"], payload: json("not a number") },
    { type: ["x"] },
  ], true);
  assert.equal(registered?.length, 3);
  const until = Date.now() + 5000;
  while (notified.length < 3 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual(
    notified.map((e) => e.payload),
    registered!.map((e) => e.payload),
  );
  void sub;
  const latest = await c.query({
    kind: "latest",
    eventTypes: [["m", "*"], ["x"]],
  });
  assert.deepEqual(latest.events.map((e) => e.id), [registered![0].id]);
  const timeseries = await c.query({
    kind: "timeseries",
    eventTypes: [["m", "*"], ["x"]],
  });
  assert.deepEqual(timeseries.events.map((e) => e.id), [
    registered![2].id,
    registered![0].id,
  ]);
});

Deno.test("a reference configuration's partitions without limits are accepted", () => {
  using store = SqliteStore.open({
    path: ":memory:",
    serverId: 1,
    storage: {
      timeseries: [
        { orderBy: "timestamp", subscriptions: [["*"]] },
        { orderBy: "sourceTimestamp", subscriptions: [["a", "*"]] },
      ],
      cleanupPeriod: 60_000,
    },
  });
  store.register([{ type: ["a", "b"] }]);
  assert.equal(
    store.query({ kind: "timeseries", eventTypes: [["a", "*"]] }).events
      .length,
    1,
  );
});
