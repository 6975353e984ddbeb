// Version 0.2 of the API (issue 29): every duration in milliseconds and
// checked; types that accept what TypeScript users write (this file is
// type-checked by `deno test`: the first test is compile-time as much as
// run-time), timestamps of any exact integer; requests checked before
// anything is sent, naming the field, with the connection unharmed; an
// aborted signal sends nothing.

import assert from "node:assert/strict";
import {
  type Client,
  connect,
  type ConnectionInfo,
  type Event,
  InvalidQueryTypeError,
  listen,
  type QueryParams,
  type RegisterEvent,
  type Server,
  type Status,
} from "../mod.ts";
import { startEventServer } from "../event_server/mod.ts";
import { MIN_TIMESTAMP } from "../common/event/timestamp.ts";
import {
  MsgType,
  readInitRes,
  writeInitReq,
  writeInitRes,
} from "../common/eventer/mod.ts";
import {
  captureLog,
  deadline,
  decode,
  initReq,
  LOCAL,
  RawListener,
  RawPeer,
  until,
} from "./_net.ts";

const PING = "HatChatter.Ping";

function toEvents(events: readonly RegisterEvent[], session: number): Event[] {
  return events.map((e, i) => ({
    id: { server: 1, session, instance: i + 1 },
    type: e.type,
    timestamp: { s: 1700000000, us: 0 },
    sourceTimestamp: e.sourceTimestamp ?? null,
    payload: e.payload ?? null,
  }));
}

/** A server that records what reaches it. */
async function recorder(): Promise<{
  server: Server;
  registered: RegisterEvent[][];
  queries: QueryParams[];
}> {
  const registered: RegisterEvent[][] = [];
  const queries: QueryParams[] = [];
  const server = await listen(LOCAL, {
    status: "operational",
    registerCb: (_info, events) => {
      registered.push(events);
      return toEvents(events, registered.length);
    },
    queryCb: (_info, params) => {
      queries.push(params);
      return { events: [], moreFollows: false };
    },
  });
  return { server, registered, queries };
}

/** `promise` rejects with an instance of `cls` whose message matches. */
async function rejectsWith(
  promise: Promise<unknown>,
  cls: new (...args: never[]) => Error,
  message: RegExp,
): Promise<void> {
  const outcome = await promise.then(
    async (value) => {
      // A client or server made by mistake is closed, not leaked.
      await (value as { asyncClose?: () => Promise<void> })?.asyncClose?.();
      return value;
    },
    (e: unknown) => e,
  );
  assert.ok(
    outcome instanceof cls && message.test(outcome.message),
    `expected ${cls.name} ${message}, got ${String(outcome)}`,
  );
}

// -------------------------------------------------------------- durations

Deno.test("api durations: pingDelay is milliseconds, on the client and on the server", async () => {
  // The client: a Ping 100 ms after the init reply, not 100 s.
  using raw = new RawListener();
  const connecting = connect(raw.addr, "pinger", {
    pingDelay: 100,
    pingTimeout: 5000,
  });
  using peer = await raw.accept();
  const init = await peer.expect();
  await peer.send({
    type: MsgType.InitRes,
    first: init.first,
    owner: false,
    data: (w) => writeInitRes(w, { type: "success", status: "operational" }),
  });
  await using _client = await connecting;
  const start = performance.now();
  const ping = await peer.expect(1000);
  assert.equal(ping.type, PING);
  const after = performance.now() - start;
  assert.ok(after >= 80 && after < 400, `client ping after ${after} ms`);

  // The server: the same, to a client that sent its init.
  await using server = await listen(LOCAL, {
    status: "operational",
    pingDelay: 100,
  });
  using client = await RawPeer.connect(server.addresses[0]);
  await client.send({
    type: MsgType.InitReq,
    last: false,
    data: (w) => writeInitReq(w, initReq()),
  });
  assert.equal(decode(await client.expect(), readInitRes).type, "success");
  const sentAt = performance.now();
  assert.equal((await client.expect(1000)).type, PING);
  const waited = performance.now() - sentAt;
  assert.ok(waited >= 80 && waited < 400, `server ping after ${waited} ms`);
});

Deno.test("api durations: initTimeout and closeTimeout are milliseconds", async () => {
  using _log = captureLog();
  await using server = await listen(LOCAL, {
    initTimeout: 200,
    closeTimeout: 100,
    connectedCb: (info) => {
      if (info.clientName === "refused") throw new Error("no");
    },
  });
  // No init: closed after 200 ms.
  using silent = await RawPeer.connect(server.addresses[0]);
  let start = performance.now();
  await silent.eof(1500);
  let waited = performance.now() - start;
  assert.ok(waited >= 150 && waited < 1000, `closed after ${waited} ms`);
  // Refused and staying: closed 100 ms after the answer.
  using refused = await RawPeer.connect(server.addresses[0]);
  await refused.send({
    type: MsgType.InitReq,
    last: false,
    data: (w) => writeInitReq(w, initReq({ clientName: "refused" })),
  });
  assert.equal(decode(await refused.expect(), readInitRes).type, "error");
  start = performance.now();
  await refused.eof(1500);
  waited = performance.now() - start;
  assert.ok(waited >= 50 && waited < 1000, `closed after ${waited} ms`);
});

Deno.test("api durations: a duration that is not a finite number >= 0 is a TypeError naming the option", async () => {
  await using server = await listen(LOCAL, { status: "operational" });
  const addr = server.addresses[0];
  const bad: [Record<string, unknown>, RegExp][] = [
    [
      { pingDelay: -1 },
      /^pingDelay must be a finite number of milliseconds >= 0 or null, got -1$/,
    ],
    [{ pingDelay: "5000" }, /^pingDelay .* got "5000"$/],
    [{ pingTimeout: NaN }, /^pingTimeout .* got NaN$/],
    [{ pingTimeout: null }, /^pingTimeout must be .* >= 0, got null$/],
    [{ connectTimeout: Infinity }, /^connectTimeout .* got Infinity$/],
    [{ connectTimeout: -5 }, /^connectTimeout .* got -5$/],
  ];
  for (const [options, message] of bad) {
    await rejectsWith(connect(addr, "bad", options), TypeError, message);
  }
  for (
    const [options, message] of [
      ...bad.slice(0, 4),
      [{ closeTimeout: -0.5 }, /^closeTimeout .* got -0.5$/],
      [{ initTimeout: Infinity }, /^initTimeout .* got Infinity$/],
    ] as [Record<string, unknown>, RegExp][]
  ) {
    await rejectsWith(listen(LOCAL, options), TypeError, message);
  }
  for (
    const [options, message] of [
      [{ flushDelay: -1 }, /^flushDelay .* got -1$/],
      [{ pingDelay: NaN }, /^pingDelay .* got NaN$/],
      [{ initTimeout: -1 }, /^initTimeout .* got -1$/],
    ] as [Record<string, unknown>, RegExp][]
  ) {
    await rejectsWith(
      startEventServer({ db: ":memory:", port: 0, ...options }),
      TypeError,
      message,
    );
  }
  // null keeps its meaning where it has one: never ping, no timeout.
  await using client = await connect(addr, "nulls", {
    pingDelay: null,
    connectTimeout: null,
  });
  assert.equal(client.status, "operational");
});

// ------------------------------------------------------------------ types

Deno.test("api types: callbacks may return a value, inputs may be readonly, register takes a boolean", async () => {
  const statuses: Status[] = [];
  const seen: Event[] = [];
  const infos: ConnectionInfo[] = [];
  const stored: readonly Event[] = Object.freeze(
    toEvents([{ type: ["a", "stored"] }], 1),
  );
  let session = 0;
  let server: Server | null = null;
  server = await listen(LOCAL, {
    status: "operational",
    // Each callback returns a number (Array.prototype.push).
    connectedCb: (info) => infos.push(info),
    disconnectedCb: (info) => infos.push(info),
    // A readonly array, and a PromiseLike rather than a Promise.
    registerCb: (_info, events): PromiseLike<readonly Event[]> => {
      const out: readonly Event[] = Object.freeze(toEvents(events, ++session));
      void server?.notifyEvents(out, false);
      return { then: (ok, fail) => Promise.resolve(out).then(ok, fail) };
    },
    queryCb: () => ({ events: stored, moreFollows: false }),
  });
  await using _server = server;
  const subscriptions = [["a", "*"]] as const;
  const client: Client = await connect(server.addresses[0], "types", {
    subscriptions,
    statusCb: (_client, status) => statuses.push(status),
    eventsCb: (_client, events) => seen.push(...events),
  });
  await using _client = client;

  const events = [{ type: ["a", "b"] }] as const;
  const withResponse: boolean = Math.random() < 2;
  const registered: Event[] | null = await client.register(
    events,
    withResponse,
  );
  assert.deepEqual(registered?.map((e) => e.type), [["a", "b"]]);
  const withoutResponse: null = await client.register(events);
  assert.equal(withoutResponse, null);
  // A register with response is `Event[] | null`: the server may answer
  // failure, so the type says so and the caller handles it.
  const answer = await client.register(events, true);
  if (answer === null) throw new Error("the server refused the events");
  assert.equal(answer.length, 1);

  const types = [["a", "*"], ["b", "?"]] as const;
  const latest = await client.query({ kind: "latest", eventTypes: types });
  assert.deepEqual(latest.events, stored);
  const params = {
    kind: "timeseries",
    eventTypes: [["a", "*"]],
    order: "ascending",
    maxResults: 10,
    lastEventId: { server: 1, session: 1, instance: 1 },
  } as const;
  await client.query(params);

  await until(() => seen.length >= 2, 2000, "notifications");
  assert.deepEqual(statuses, []);
  assert.equal(infos.length, 1);
});

Deno.test("api timestamps: Timestamp.s takes any exact integer number or bigint in range", async () => {
  const { server, registered, queries } = await recorder();
  await using _server = server;
  await using client = await connect(server.addresses[0], "timestamps");
  // The reference's -2^63 sentinel as a number (a power of two), a number
  // beyond 2^53, or a bigint.
  const bounded = await client.register([
    { type: ["a", "min"], sourceTimestamp: { s: -(2 ** 63), us: 0 } },
    { type: ["a", "big"], sourceTimestamp: { s: 2 ** 60, us: 999999 } },
    { type: ["a", "max"], sourceTimestamp: { s: 2n ** 63n - 1n, us: 5 } },
  ], true);
  assert.deepEqual(bounded?.map((e) => e.sourceTimestamp), [
    MIN_TIMESTAMP,
    { s: 2n ** 60n, us: 999999 },
    { s: 2n ** 63n - 1n, us: 5 },
  ]);
  await client.query({
    kind: "timeseries",
    tFrom: { s: -(2 ** 63), us: 0 },
    sourceTTo: { s: 2n ** 63n - 1n, us: 999999 },
  });

  assert.deepEqual(registered[0].map((e) => e.sourceTimestamp), [
    MIN_TIMESTAMP,
    { s: 2n ** 60n, us: 999999 },
    { s: 2n ** 63n - 1n, us: 5 },
  ]);
  assert.deepEqual(queries.map((q) => q.kind === "timeseries" && q.tFrom), [
    MIN_TIMESTAMP,
  ]);
});

// -------------------------------------------------------------- validation

Deno.test("api checks: an invalid register event is refused by name, nothing is sent, the connection goes on", async () => {
  const { server, registered } = await recorder();
  await using _server = server;
  await using client = await connect(server.addresses[0], "checks");
  const ok = { type: ["ok"] };
  const bad: [unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    [
      [ok, ok, ok, { type: ["x"], sourceTimestamp: { s: 1, us: 2e6 } }],
      RangeError,
      /^events\[3\]\.sourceTimestamp\.us must be an integer in \[0, 1e6\), got 2000000$/,
    ],
    [
      [{ type: ["x"], sourceTimestamp: { s: 1.5, us: 0 } }],
      RangeError,
      /^events\[0\]\.sourceTimestamp\.s must be an integer in \[-2\^63, 2\^63 - 1\], got 1\.5$/,
    ],
    [
      [{ type: ["x"], sourceTimestamp: { s: 2 ** 63, us: 0 } }],
      RangeError,
      /^events\[0\]\.sourceTimestamp\.s .* got 9223372036854775808$/,
    ],
    [
      [{ type: ["x"], sourceTimestamp: { s: -(2n ** 63n) - 1n, us: 0 } }],
      RangeError,
      /^events\[0\]\.sourceTimestamp\.s .* got -9223372036854775809n$/,
    ],
    [
      [{ type: ["x"], sourceTimestamp: { s: "1", us: 0 } }],
      TypeError,
      /^events\[0\]\.sourceTimestamp\.s must be a number or a bigint, got "1"$/,
    ],
    [
      [{ type: ["x"], sourceTimestamp: { s: 1, us: -1 } }],
      RangeError,
      /^events\[0\]\.sourceTimestamp\.us .* got -1$/,
    ],
    [
      [ok, { type: "gateway/x" }],
      TypeError,
      /^events\[1\]\.type must be an array of strings, got "gateway\/x"$/,
    ],
    [
      [{ type: ["a", 1] }],
      TypeError,
      /^events\[0\]\.type\[1\] must be a string, got 1$/,
    ],
    [
      [{ type: ["x"], payload: { kind: "xml", data: "<a/>" } }],
      TypeError,
      /^events\[0\]\.payload\.kind must be "json" or "binary", got "xml"$/,
    ],
    [
      [{ type: ["x"], payload: { kind: "binary", type: "t", data: [1] } }],
      TypeError,
      /^events\[0\]\.payload\.data must be a Uint8Array, got an array$/,
    ],
    [null, TypeError, /^events must be an array, got null$/],
    [[null], TypeError, /^events\[0\] must be an object, got null$/],
  ];
  for (const [events, cls, message] of bad) {
    for (const withResponse of [true, false]) {
      await rejectsWith(
        client.register(events as RegisterEvent[], withResponse),
        cls,
        message,
      );
    }
    // The connection is unharmed; the server saw nothing of the request
    // (requests are handled in order: it would have come first).
    const after = await client.register([{ type: ["after"] }], true);
    assert.deepEqual(after?.map((e) => e.type), [["after"]]);
  }
  assert.ok(
    registered.every((r) => r.length === 1 && r[0].type[0] === "after"),
  );
  assert.equal(registered.length, bad.length);
  assert.equal(client.isOpen, true);
});

Deno.test("api checks: invalid query parameters are refused by name, nothing is sent, the connection goes on", async () => {
  const { server, queries } = await recorder();
  await using _server = server;
  await using client = await connect(server.addresses[0], "checks");
  const bad: [unknown, new (...args: never[]) => Error, RegExp][] = [
    [
      { kind: "latest", eventTypes: [["a"], ["*", "a"]] },
      InvalidQueryTypeError,
      /^params\.eventTypes\[1\] is an invalid query type \["\*","a"\]: "\*" is only allowed as the last segment$/,
    ],
    [
      { kind: "timeseries", eventTypes: [["a", 5]] },
      TypeError,
      /^params\.eventTypes\[0\]\[1\] must be a string, got 5$/,
    ],
    [
      { kind: "timeseries", maxResults: -1 },
      RangeError,
      /^params\.maxResults must be an integer >= 1, got -1$/,
    ],
    [
      { kind: "server", serverId: 1, maxResults: 1.5 },
      RangeError,
      /^params\.maxResults must be an integer >= 1, got 1\.5$/,
    ],
    [
      { kind: "server", serverId: 1, maxResults: 0 },
      RangeError,
      /^params\.maxResults .* got 0$/,
    ],
    [
      { kind: "server", serverId: 1, maxResults: "10" },
      TypeError,
      /^params\.maxResults must be a number, got "10"$/,
    ],
    [
      { kind: "timeseries", tFrom: { s: 1, us: 2e6 } },
      RangeError,
      /^params\.tFrom\.us must be an integer in \[0, 1e6\), got 2000000$/,
    ],
    [
      { kind: "timeseries", sourceTTo: { s: 2 ** 64, us: 0 } },
      RangeError,
      /^params\.sourceTTo\.s must be an integer in/,
    ],
    [
      { kind: "timeseries", order: "up" },
      TypeError,
      /^params\.order must be "descending" or "ascending", got "up"$/,
    ],
    [
      {
        kind: "timeseries",
        lastEventId: { server: 1, session: 1.5, instance: 1 },
      },
      RangeError,
      /^params\.lastEventId\.session must be a safe integer, got 1\.5$/,
    ],
    [
      { kind: "server", serverId: 2 ** 53 },
      RangeError,
      /^params\.serverId must be a safe integer, got 9007199254740992$/,
    ],
    [
      { kind: "server", serverId: 1, persisted: "yes" },
      TypeError,
      /^params\.persisted must be a boolean, got "yes"$/,
    ],
    [
      { kind: "newest" },
      TypeError,
      /^params\.kind must be "latest", "timeseries" or "server", got "newest"$/,
    ],
  ];
  for (const [params, cls, message] of bad) {
    await rejectsWith(client.query(params as QueryParams), cls, message);
    const after = await client.query({ kind: "latest" });
    assert.deepEqual(after, { events: [], moreFollows: false });
  }
  assert.equal(queries.length, bad.length);
  assert.ok(queries.every((q) => q.kind === "latest" && q.eventTypes === null));
});

Deno.test("api checks: connect refuses invalid subscriptions and server ids by name", async () => {
  const { server } = await recorder();
  await using _server = server;
  const addr = server.addresses[0];
  await rejectsWith(
    connect(addr, "c", { subscriptions: [["a"], ["*", "b"]] }),
    InvalidQueryTypeError,
    /^subscriptions\[1\] is an invalid query type \["\*","b"\]/,
  );
  await rejectsWith(
    connect(addr, "c", { subscriptions: ["a/*" as unknown as string[]] }),
    TypeError,
    /^subscriptions\[0\] must be an array of strings, got "a\/\*"$/,
  );
  await rejectsWith(
    connect(addr, "c", { serverId: 1.5 }),
    RangeError,
    /^serverId must be a safe integer, got 1\.5$/,
  );
  assert.deepEqual(server.getConnInfos(), []);
});

Deno.test("api checks: an aborted signal sends nothing, also while waiting for room in the send queue", async () => {
  const { server, registered, queries } = await recorder();
  await using _server = server;
  await using client = await connect(server.addresses[0], "abort", {
    sendQueueSize: 1,
  });
  const aborted = new AbortController();
  aborted.abort(new Error("gave up"));
  const signal = aborted.signal;
  await rejectsWith(
    client.register([{ type: ["no"] }], false, { signal }),
    Error,
    /^gave up$/,
  );
  await rejectsWith(
    client.register([{ type: ["no"] }], true, { signal }),
    Error,
    /^gave up$/,
  );
  await rejectsWith(
    client.query({ kind: "latest" }, { signal }),
    Error,
    /^gave up$/,
  );
  // The first fills the send queue (flushed at the end of the turn); the
  // second waits for room, and is aborted meanwhile.
  const first = client.register([{ type: ["first"] }]);
  const late = new AbortController();
  const second = client.register([{ type: ["second"] }], false, {
    signal: late.signal,
  });
  late.abort(new Error("too late"));
  await first;
  await rejectsWith(second, Error, /^too late$/);
  const after = await deadline(
    client.register([{ type: ["after"] }], true),
    2000,
  );
  assert.deepEqual(after?.map((e) => e.type), [["after"]]);
  assert.deepEqual(registered.map((r) => r[0].type), [["first"], ["after"]]);
  assert.equal(queries.length, 0);
});
