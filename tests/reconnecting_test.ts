// The reconnecting client (issue 29): options in milliseconds, refused when
// they are not durations; register overloads; status() events across
// restarts; several addresses; jitter; maxReconnectAttempts and init errors
// ending in gaveUp; the onConnected hook, with notifications held while it
// runs. Over loopback sockets, against our server started and stopped.

import assert from "node:assert/strict";
import { EventerInitError } from "../client.ts";
import { type Address, ConnectionError } from "../common/chatter/mod.ts";
import type { Event, RegisterEvent } from "../common/event/mod.ts";
import {
  connectReconnecting,
  type ReconnectOptions,
  type ReconnectStatus,
} from "../reconnecting_client.ts";
import { listen, type Server } from "../server.ts";
import { captureLog, deadline, delay, ev, LOCAL, until } from "./_net.ts";

// True when A and B are the same type (not merely assignable).
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends
  (<T>() => T extends B ? 1 : 2) ? true : false;
function assertType<_ extends true>(): void {}

function registered(events: RegisterEvent[]): Event[] {
  return events.map((e, i) => ev(e.type, i + 1));
}

// A loopback address nothing listens on (bound, then closed).
function freeAddress(): Address {
  const probe = Deno.listen(LOCAL);
  const { hostname, port } = probe.addr as Deno.NetAddr;
  probe.close();
  return { hostname, port };
}

// Every value until the iterator ends.
async function collect<T>(it: AsyncIterable<T>, ms = 5000): Promise<T[]> {
  const values: T[] = [];
  await deadline(
    (async () => {
      for await (const v of it) values.push(v);
    })(),
    ms,
    "the iterator's end",
  );
  return values;
}

// Status events read into an array as they come, until the iterator ends.
function record(it: AsyncIterable<ReconnectStatus>): {
  seen: ReconnectStatus[];
  done: Promise<void>;
} {
  const seen: ReconnectStatus[] = [];
  const done = (async () => {
    for await (const s of it) seen.push(s);
  })();
  return { seen, done };
}

// A status event in a few words, to compare sequences.
function brief(s: ReconnectStatus): string {
  switch (s.type) {
    case "connecting":
    case "connected":
      return `${s.type} ${s.address.port}`;
    case "disconnected":
      return `${s.type} ${s.address.port} ${s.reason.name}`;
    case "reconnecting":
      return `${s.type} ${s.attempt} ${s.reason.name}`;
    case "gaveUp":
      return `${s.type} ${s.reason.name}`;
  }
}

// A ConnectionError of code GAVE_UP caused by `reason`.
function gaveUp(reason: Error): (e: Error) => boolean {
  return (e) =>
    e instanceof ConnectionError && e.code === "GAVE_UP" &&
    e.cause === reason && e.message.endsWith(`gave up: ${reason.message}`);
}

function echo(addr: Address = LOCAL): Promise<Server> {
  return listen(addr, {
    status: "operational",
    registerCb: (_info, events) => registered(events),
  });
}

Deno.test("reconnecting client: register has the client's overloads, for true, false and a boolean", async () => {
  await using server = await echo();
  await using rc = connectReconnecting(server.addresses[0], "rc");
  const events = [{ type: ["a", "b"] }];
  const withResponse = await rc.register(events, true);
  const without = await rc.register(events, false);
  const omitted = await rc.register(events);
  const flag: boolean = Math.random() < 2;
  const either = await rc.register(events, flag);
  assertType<Equal<typeof withResponse, Event[] | null>>();
  assertType<Equal<typeof without, null>>();
  assertType<Equal<typeof omitted, null>>();
  assertType<Equal<typeof either, Event[] | null>>();
  assert.deepEqual(withResponse?.map((e) => e.type), [["a", "b"]]);
  assert.equal(without, null);
  assert.equal(omitted, null);
  assert.deepEqual(either?.map((e) => e.type), [["a", "b"]]);
});

Deno.test("reconnecting client: minDelay and maxDelay are milliseconds, and a value that is no duration is a TypeError naming the option", () => {
  const addr = { hostname: "127.0.0.1", port: 1 };
  const bad: [ReconnectOptions, RegExp][] = [
    [{ minDelay: -1 }, /^minDelay must be a finite non-negative number/],
    [{ minDelay: NaN }, /^minDelay must be/],
    [{ maxDelay: Infinity }, /^maxDelay must be/],
    [{ maxDelay: "100" as unknown as number }, /^maxDelay must be .*string/],
    [{ minDelay: 200, maxDelay: 100 }, /minDelay .* must not exceed maxDelay/],
    [{ minDelay: 20_000 }, /minDelay .* must not exceed maxDelay \(10000 ms/],
    [{ jitter: 1.5 }, /^jitter must be a number from 0 to 1, got 1.5/],
    [{ jitter: NaN }, /^jitter must be/],
    [{ maxReconnectAttempts: -2 }, /^maxReconnectAttempts must be -1/],
    [{ maxReconnectAttempts: 1.5 }, /^maxReconnectAttempts must be/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => connectReconnecting(addr, "rc", options),
      (e: Error) => e instanceof TypeError && message.test(e.message),
      JSON.stringify(options),
    );
  }
  assert.throws(
    () => connectReconnecting([], "rc"),
    (e: Error) => e instanceof TypeError && /addresses/.test(e.message),
  );
});

Deno.test("reconnecting client: status() reports connecting, connected, then disconnected, reconnecting rounds and connected again across a server restart", async () => {
  using _log = captureLog(); // the refused redials
  let server = await echo();
  const addr = server.addresses[0];
  const port = addr.port;
  const rc = connectReconnecting(addr, "rc", { minDelay: 5, maxDelay: 20 });
  const { seen, done } = record(rc.status());
  try {
    await until(() => seen.length === 2, 2000, "connected");
    assert.deepEqual(seen.map(brief), [
      `connecting ${port}`,
      `connected ${port}`,
    ]);
    await server.asyncClose();
    await until(
      () => seen.some((s) => s.type === "reconnecting" && s.attempt === 3),
      3000,
      "three rounds refused",
    );
    server = await echo(addr);
    await until(() => seen.at(-1)?.type === "connected", 3000, "reconnected");
    const registered = await rc.register([{ type: ["a", "b"] }], true);
    assert.deepEqual(registered?.[0].type, ["a", "b"]);
  } finally {
    await rc.asyncClose();
    await server.asyncClose();
  }
  await deadline(done, 1000, "status() ends when the client closes");
  const rounds = (seen.length - 4) / 2;
  assert.deepEqual(seen.map(brief), [
    `connecting ${port}`,
    `connected ${port}`,
    `disconnected ${port} ConnectionError`,
    ...Array.from({ length: rounds }, (_, i) => [
      `reconnecting ${i + 1} ConnectionError`,
      `connecting ${port}`,
    ]).flat(),
    `connected ${port}`,
  ]);
  // The first round's reason is the lost connection, then each refusal.
  const disconnected = seen[2] as { reason: Error };
  assert.equal((seen[3] as { reason: Error }).reason, disconnected.reason);
  assert.match(disconnected.reason.message, /lost/);
  assert.match((seen[5] as { reason: Error }).reason.message, /cannot connect/);
  // A late consumer starts with the latest status; a closed client's
  // iterator ends after it.
  assert.deepEqual((await collect(rc.status())).map(brief), [
    `connected ${port}`,
  ]);
});

Deno.test("reconnecting client: several addresses are tried in turn within a round, with no delay; the next round starts again at the first", async () => {
  using _log = captureLog();
  const refusing = freeAddress();
  let server = await echo();
  const addr = server.addresses[0];
  const rc = connectReconnecting([refusing, addr], "rc", {
    minDelay: 10,
    maxDelay: 20,
  });
  const { seen, done } = record(rc.status());
  try {
    await deadline(rc.waitConnected(), 2000, "connected to the second");
    assert.deepEqual(rc.client?.isOpen, true);
    await server.asyncClose();
    await until(
      () => seen.some((s) => s.type === "reconnecting" && s.attempt === 2),
      3000,
      "a second round",
    );
    server = await echo(addr);
    await until(() => seen.at(-1)?.type === "connected", 3000, "reconnected");
  } finally {
    await rc.asyncClose();
    await server.asyncClose();
  }
  await done;
  const [a, b] = [refusing.port, addr.port];
  const rounds = (seen.length - 5) / 3;
  assert.deepEqual(seen.map(brief), [
    `connecting ${a}`,
    `connecting ${b}`,
    `connected ${b}`,
    `disconnected ${b} ConnectionError`,
    ...Array.from({ length: rounds }, (_, i) => [
      `reconnecting ${i + 1} ConnectionError`,
      `connecting ${a}`,
      `connecting ${b}`,
    ]).flat(),
    `connected ${b}`,
  ]);
});

Deno.test("reconnecting client: after maxReconnectAttempts failed rounds it gives up: status gaveUp, held and later requests reject with GAVE_UP caused by the reason, and it closes", async () => {
  using log = captureLog();
  const addr = freeAddress();
  const rc = connectReconnecting(addr, "rc", {
    minDelay: 5,
    maxDelay: 10,
    maxReconnectAttempts: 2,
  });
  const held = rc.query({ kind: "latest" });
  held.catch(() => {});
  const seen = await collect(rc.status(), 3000);
  assert.deepEqual(seen.map(brief), [
    `connecting ${addr.port}`,
    "reconnecting 1 ConnectionError",
    `connecting ${addr.port}`,
    "reconnecting 2 ConnectionError",
    `connecting ${addr.port}`,
    "gaveUp ConnectionError",
  ]);
  const reason = (seen[5] as { reason: Error }).reason;
  assert.ok(reason instanceof ConnectionError);
  assert.equal((reason as ConnectionError).code, "CONNECTION_REFUSED");
  await assert.rejects(held, gaveUp(reason));
  await deadline(rc.waitClosed(), 1000, "closed");
  await assert.rejects(rc.register([{ type: ["a"] }], true), gaveUp(reason));
  await assert.rejects(rc.waitConnected(), gaveUp(reason));
  assert.deepEqual((await collect(rc.status())).map(brief), [
    "gaveUp ConnectionError",
  ]);
  assert.ok(
    log.records.some((r) => r.level === "error" && /gave up/.test(r.text)),
  );

  // 0: the first round only.
  await using once = connectReconnecting(addr, "rc", {
    maxReconnectAttempts: 0,
  });
  assert.deepEqual((await collect(once.status())).map(brief), [
    `connecting ${addr.port}`,
    "gaveUp ConnectionError",
  ]);
});

Deno.test("reconnecting client: jitter takes up to its share off each exponential delay, as the reconnecting events report", async () => {
  using _log = captureLog();
  const addr = freeAddress();
  const rounds = 10;
  const delays = async (jitter: number) => {
    await using rc = connectReconnecting(addr, "rc", {
      minDelay: 2,
      maxDelay: 16,
      jitter,
      maxReconnectAttempts: rounds,
    });
    const seen = await collect(rc.status());
    return seen.flatMap((s) => s.type === "reconnecting" ? [s] : []);
  };
  const base = (attempt: number) => Math.min(16, 2 * 2 ** (attempt - 1));

  const jittered = await delays(0.5);
  assert.deepEqual(
    jittered.map((s) => s.attempt),
    Array.from({ length: rounds }, (_, i) => i + 1),
  );
  for (const { attempt, delay } of jittered) {
    assert.ok(
      delay >= base(attempt) * 0.5 && delay <= base(attempt),
      `attempt ${attempt}: ${delay} ms`,
    );
  }
  // Ten draws all at the top of their range: not jittered at all.
  assert.ok(jittered.some(({ attempt, delay }) => delay < base(attempt)));

  const exact = await delays(0);
  assert.deepEqual(exact.map((s) => s.delay), [
    2,
    4,
    8,
    16,
    16,
    16,
    16,
    16,
    16,
    16,
  ]);
});

Deno.test("reconnecting client: a server refusing the client (EventerInitError) is not redialed unless retryOnInitError", async () => {
  using _log = captureLog();
  let inits = 0;
  await using server = await listen(LOCAL, {
    connectedCb: () => {
      inits++;
      throw new Error("invalid client token");
    },
  });
  const addr = server.addresses[0];
  const rc = connectReconnecting(addr, "rc", { minDelay: 5, maxDelay: 10 });
  const held = rc.register([{ type: ["a"] }], true);
  held.catch(() => {});
  const seen = await collect(rc.status(), 3000);
  assert.deepEqual(seen.map(brief), [
    `connecting ${addr.port}`,
    "gaveUp EventerInitError",
  ]);
  const reason = (seen[1] as { reason: Error }).reason;
  assert.ok(reason instanceof EventerInitError);
  assert.equal(reason.message, "invalid client token");
  assert.equal(reason.code, "INIT_REFUSED");
  await assert.rejects(held, gaveUp(reason));
  await deadline(rc.waitClosed(), 1000, "closed");
  assert.equal(inits, 1);

  // Asked to: redialed like any failure, within maxReconnectAttempts.
  inits = 0;
  await using retrying = connectReconnecting(addr, "rc", {
    minDelay: 5,
    maxDelay: 10,
    retryOnInitError: true,
    maxReconnectAttempts: 2,
  });
  assert.deepEqual((await collect(retrying.status(), 3000)).map(brief), [
    `connecting ${addr.port}`,
    "reconnecting 1 EventerInitError",
    `connecting ${addr.port}`,
    "reconnecting 2 EventerInitError",
    `connecting ${addr.port}`,
    "gaveUp EventerInitError",
  ]);
  assert.equal(inits, 3);
});

Deno.test("reconnecting client: a status() consumer that does not read keeps the latest maxPending events, not all of them", async () => {
  using _log = captureLog();
  const rc = connectReconnecting(freeAddress(), "rc", {
    minDelay: 1,
    maxDelay: 1,
    maxReconnectAttempts: 20,
  });
  const small = rc.status({ maxPending: 3 });
  const all = await collect(rc.status({ maxPending: 1000 }), 5000);
  assert.equal(all.length, 1 + 2 * 20 + 1);
  assert.deepEqual(await collect(small), all.slice(-3));
  assert.throws(() => rc.status({ maxPending: 0 }), RangeError);
});

Deno.test("reconnecting client: onConnected runs on every connection before notifications resume; those arriving meanwhile come after it, in order, and held requests go after it too", async () => {
  using _log = captureLog();
  let server = await echo();
  const addr = server.addresses[0];
  const steps: string[] = [];
  let connections = 0;
  const rc = connectReconnecting(addr, "rc", {
    subscriptions: [["a", "*"]],
    minDelay: 5,
    maxDelay: 10,
    onConnected: async (client) => {
      const n = ++connections;
      steps.push(`hook ${n}`);
      // Sent to this client now, while the hook runs: a notification, a
      // status change, another notification.
      server.notifyEvents([ev(["a", `${n}.1`], 1)], false);
      void server.setStatus("standby");
      server.notifyEvents([ev(["a", `${n}.2`], 2)], false);
      // Its reply comes after them on the one connection: by then they
      // have arrived, and wait.
      await client.query({ kind: "latest" });
      await delay(20);
      assert.equal(client.status, "operational");
      steps.push(`hook ${n} done`);
    },
    statusCb: (_client, status) => {
      steps.push(`status ${status}`);
    },
    eventsCb: (_client, events) => {
      steps.push(`events ${events[0].type[1]}`);
    },
  });
  const batches = rc.events();
  try {
    const held = rc.query({ kind: "latest" }).then(() =>
      steps.push("held query answered")
    );
    await deadline(held, 2000, "the held query");
    await until(() => steps.length === 6, 2000, "first connection");
    assert.deepEqual(steps.slice(0, 2), ["hook 1", "hook 1 done"]);
    assert.deepEqual(
      steps.filter((s) => !s.startsWith("held")).slice(2),
      ["events 1.1", "status standby", "events 1.2"],
    );
    assert.equal(rc.serverStatus, "standby");

    steps.length = 0;
    await server.asyncClose();
    server = await echo(addr);
    await until(() => steps.length === 5, 3000, "second connection");
    assert.deepEqual(steps, [
      "hook 2",
      "hook 2 done",
      "events 2.1",
      "status standby",
      "events 2.2",
    ]);
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      got.push((await batches.next()).value![0].type[1]);
    }
    assert.deepEqual(got, ["1.1", "1.2", "2.1", "2.2"]);
  } finally {
    await rc.asyncClose();
    await server.asyncClose();
  }
});

Deno.test("reconnecting client: an onConnected that throws drops the connection and its held notifications; the client redials as after a failed dial", async () => {
  using log = captureLog();
  await using server = await echo();
  const addr = server.addresses[0];
  const delivered: string[] = [];
  let calls = 0;
  const rc = connectReconnecting(addr, "rc", {
    subscriptions: [["a", "*"]],
    minDelay: 5,
    maxDelay: 10,
    onConnected: async (client) => {
      calls++;
      server.notifyEvents([ev(["a", String(calls)], 1)], false);
      await client.query({ kind: "latest" });
      if (calls === 1) throw new Error("resync failed");
    },
    eventsCb: (_client, events) => {
      delivered.push(events[0].type[1]);
    },
  });
  const { seen, done } = record(rc.status());
  try {
    await deadline(rc.waitConnected(), 2000, "connected");
    await until(() => delivered.length === 1, 2000, "delivered");
    assert.deepEqual(delivered, ["2"]);
    assert.deepEqual(seen.map(brief), [
      `connecting ${addr.port}`,
      "reconnecting 1 Error",
      `connecting ${addr.port}`,
      `connected ${addr.port}`,
    ]);
    assert.equal(
      (seen[1] as { reason: Error }).reason.message,
      "resync failed",
    );
    assert.ok(log.records.some((r) => /onConnected failed/.test(r.text)));
  } finally {
    await rc.asyncClose();
  }
  await done;
});
