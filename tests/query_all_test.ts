// client.queryAll: every page of a query against our Event Server, with a
// small result cap so that it pages many times; no event lost or repeated.

import assert from "node:assert/strict";
import {
  type Client,
  connect,
  type Event,
  type EventId,
  listen,
  ProtocolError,
  type QueryParams,
  type QueryResult,
} from "../mod.ts";
import { startEventServer } from "../event_server/mod.ts";

const key = (id: EventId) => `${id.server}/${id.session}/${id.instance}`;

async function collect(
  client: Client,
  params: QueryParams,
): Promise<{ events: Event[]; requests: QueryParams[] }> {
  const requests: QueryParams[] = [];
  const query = client.query.bind(client);
  client.query = (p, o) => {
    requests.push(p);
    return query(p, o);
  };
  try {
    const events: Event[] = [];
    for await (const event of client.queryAll(params)) events.push(event);
    return { events, requests };
  } finally {
    client.query = query;
  }
}

Deno.test("queryAll follows every page, losing and repeating nothing", async () => {
  await using server = await startEventServer({
    db: ":memory:",
    port: 0,
    maxResults: 3,
  });
  await using client = await connect(server.addresses[0], "pager");
  // 25 requests of 1 to 3 events: events of one request share a timestamp,
  // so pages also break between events of equal timestamps.
  const registered: Event[] = [];
  for (let i = 0; i < 25; i++) {
    const events = Array.from({ length: 1 + i % 3 }, (_, j) => ({
      type: ["q", String((i + j) % 4)],
      payload: { kind: "json" as const, data: i * 10 + j },
    }));
    registered.push(...(await client.register(events, true))!);
  }
  const n = registered.length;
  assert.equal(n, 49);
  const ascending = registered.map((e) => key(e.id));

  for (const order of ["ascending", "descending"] as const) {
    for (const maxResults of [null, 1, 2, 7]) {
      const { events, requests } = await collect(client, {
        kind: "timeseries",
        eventTypes: [["q", "*"]],
        order,
        maxResults,
      });
      const expected = order === "ascending"
        ? ascending
        : ascending.toReversed();
      assert.deepEqual(
        events.map((e) => key(e.id)),
        expected,
        `${order} ${maxResults}`,
      );
      // Pages of min(maxResults, the server's 3), each request answered
      // in full.
      assert.equal(
        requests.length,
        Math.ceil(n / Math.min(maxResults ?? 3, 3)),
      );
      assert.equal(
        requests[0].kind === "timeseries" && requests[0].lastEventId,
        undefined,
      );
    }
  }

  // A server query: every event of server 1 (its own ones too) in id
  // order, each once.
  const { events: all, requests } = await collect(client, {
    kind: "server",
    serverId: 1,
  });
  const ids = all.map((e) => key(e.id));
  assert.equal(new Set(ids).size, ids.length, "no event twice");
  for (const k of ascending) assert.ok(ids.includes(k), k);
  assert.ok(requests.length >= Math.ceil(all.length / 3));
  for (let i = 1; i < all.length; i++) {
    const [a, b] = [all[i - 1].id, all[i].id];
    assert.ok(
      a.session < b.session ||
        (a.session === b.session && a.instance < b.instance),
    );
  }

  // A latest query is one request.
  const latest = await collect(client, {
    kind: "latest",
    eventTypes: [["q", "*"]],
  });
  assert.equal(latest.requests.length, 1);
  assert.equal(latest.events.length, 4);
});

Deno.test("queryAll: signal, laziness and bad parameters", async () => {
  await using server = await startEventServer({
    db: ":memory:",
    port: 0,
    maxResults: 2,
  });
  await using client = await connect(server.addresses[0], "pager");
  await client.register(
    Array.from({ length: 10 }, () => ({ type: ["a"] })),
    true,
  );
  let requests = 0;
  const query = client.query.bind(client);
  client.query = (p, o) => {
    requests++;
    return query(p, o);
  };
  const params: QueryParams = { kind: "timeseries", eventTypes: [["a"]] };

  // Nothing is sent before the first next().
  const idle = client.queryAll(params);
  assert.equal(requests, 0);
  await idle.return();

  // Aborting stops the iteration with the signal's reason, no request
  // sent after it.
  const controller = new AbortController();
  const seen: Event[] = [];
  await assert.rejects(async () => {
    for await (const e of client.queryAll(params, controller)) {
      seen.push(e);
      if (seen.length === 3) controller.abort(new Error("enough"));
    }
  }, /enough/);
  assert.equal(seen.length, 3);
  assert.equal(requests, 2);

  // Already aborted: rejects at the first next(), sends nothing.
  requests = 0;
  await assert.rejects(
    client.queryAll(params, { signal: AbortSignal.abort() }).next(),
    (e) => e instanceof DOMException && e.name === "AbortError",
  );
  assert.equal(requests, 0);

  // break sends no further request.
  for await (const _ of client.queryAll(params)) break;
  assert.equal(requests, 1);

  assert.throws(
    () => client.queryAll({ ...params, maxResults: 0 }),
    RangeError,
  );
});

Deno.test("queryAll refuses a page that says more follow but holds nothing", async () => {
  const results: QueryResult[] = [];
  await using stub = await listen({ hostname: "127.0.0.1", port: 0 }, {
    status: "operational",
    queryCb: () => results.shift() ?? { events: [], moreFollows: false },
  });
  await using client = await connect(stub.addresses[0], "pager");
  const event: Event = {
    id: { server: 1, session: 1, instance: 1 },
    type: ["a"],
    timestamp: { s: 0, us: 0 },
    sourceTimestamp: null,
    payload: null,
  };
  results.push({ events: [event], moreFollows: true }, {
    events: [],
    moreFollows: true,
  });
  const seen: Event[] = [];
  await assert.rejects(async () => {
    for await (const e of client.queryAll({ kind: "server", serverId: 1 })) {
      seen.push(e);
    }
  }, ProtocolError);
  assert.equal(seen.length, 1);

  // A latest result saying more follow is still one page.
  results.push({ events: [event], moreFollows: true });
  const latest: Event[] = [];
  for await (const e of client.queryAll({ kind: "latest" })) latest.push(e);
  assert.equal(latest.length, 1);
  assert.equal(results.length, 0);
});
