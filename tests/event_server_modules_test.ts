// Engine modules through the network: a session's module output
// registered, notified and committed with it in the reference's order,
// the engine's own events offered to modules, engine.register and
// engine.query from a module, and isolation of modules that throw, hang,
// return what the store refuses or answer each other for ever.

import assert from "node:assert/strict";
import {
  connect,
  type Event,
  type RegisterEvent,
  Subscription,
} from "../mod.ts";
import {
  type Engine,
  type EventServer,
  EventServerError,
  type EventServerOptions,
  type Module,
  type Source,
  startEventServer,
} from "../event_server/mod.ts";
import { captureLog, deadline, until } from "./_net.ts";

function start(options: Partial<EventServerOptions>): Promise<EventServer> {
  return startEventServer({ db: ":memory:", port: 0, ...options });
}

const json = (data: number | string) => ({ kind: "json" as const, data });
const types = (events: readonly Event[]) => events.map((e) => e.type.join("/"));
const src = (s: Source) => `${s.type}:${s.id}`;

// A module answering each event of `on` with one event of `out`.
function relay(on: string[], out: string[], seen?: string[]): Module {
  return {
    subscription: new Subscription([on]),
    process(source, event) {
      seen?.push(`${event.type.join("/")}<-${src(source)}`);
      return [{ type: out, payload: json(event.id.instance) }];
    },
  };
}

Deno.test("modules: output joins the session, in the reference's order, notified and committed together", async () => {
  const calls: string[] = [];
  const seenA: string[] = [];
  const seenB: string[] = [];
  const a = relay(["a"], ["b"], seenA);
  a.onSessionStart = (s) => void calls.push(`start ${s}`);
  a.onSessionStop = (s) => void calls.push(`stop ${s}`);
  await using server = await start({
    modules: [a, relay(["b"], ["c"], seenB), relay(["a"], ["d"])],
  });
  const notified: Event[][] = [];
  await using _sub = await connect(server.addresses[0], "sub", {
    subscriptions: [["*"]],
    persisted: true,
    eventsCb: (_c, events) => void notified.push(events),
  });
  await using c = await connect(server.addresses[0], "c");
  const own = await c.register([{ type: ["a"] }, { type: ["x"] }], true);
  assert.ok(own);
  // The response holds the client's events only.
  assert.deepEqual(types(own), ["a", "x"]);
  const session = own[0].id.session;
  // A committed answer: the persisted server query has the whole session.
  const all = (await c.query({ kind: "server", serverId: 1, persisted: true }))
    .events.filter((e) => e.id.session === session);
  // Round 1: module 0 then module 2 on the client's events; round 2:
  // module 1 on module 0's b.
  assert.deepEqual(types(all), ["a", "x", "b", "d", "c"]);
  assert.deepEqual(all.map((e) => e.id.instance), [1, 2, 3, 4, 5]);
  assert.ok(all.every((e) => e.timestamp.s === own[0].timestamp.s));
  assert.match(seenA.at(-1)!, /^a<-eventer:\d+$/);
  assert.deepEqual(seenB, ["b<-module:0"]);
  assert.ok(
    calls.includes(`start ${session}`) && calls.includes(`stop ${session}`),
  );
  // One notification carries the whole session.
  await until(() => notified.flat().some((e) => e.type[0] === "c"));
  const batch = notified.find((n) => n.some((e) => e.id.session === session));
  assert.deepEqual(types(batch!.filter((e) => e.id.session === session)), [
    "a",
    "x",
    "b",
    "d",
    "c",
  ]);
});

Deno.test("modules: the engine's and the clients' own events go through them", async () => {
  const seen: string[] = [];
  await using server = await start({
    modules: [{
      subscription: new Subscription([["event", "*"]]),
      process(source, event) {
        seen.push(
          `${event.type.slice(2).join("/")} ${
            (event.payload as { data: string }).data
          } ${source.type}`,
        );
      },
    }],
  });
  await using _c = await connect(server.addresses[0], "one");
  await until(() => seen.length >= 2);
  assert.deepEqual(seen, [
    "engine STARTED engine",
    "eventer/one CONNECTED eventer",
  ]);
});

Deno.test("modules: engine.register and engine.query from a module, and info/conf specs", async () => {
  let engine: Engine | undefined;
  let self: Source | undefined;
  await using server = await start({
    modules: [{
      info: {
        create(conf, e, source): Module {
          engine = e;
          self = source;
          assert.equal(conf.greeting, "hi");
          return { subscription: new Subscription([]), process() {} };
        },
      },
      conf: { greeting: "hi" },
    }],
  });
  assert.deepEqual(self, { type: "module", id: 0 });
  assert.equal(engine!.serverId, 1);
  const registered = await engine!.register(self!, [{ type: ["m", "x"] }]);
  assert.deepEqual(types(registered!), ["m/x"]);
  const latest = await engine!.query({
    kind: "latest",
    eventTypes: [["m", "*"]],
  });
  assert.deepEqual(
    latest.events.map((e) => e.id),
    registered!.map((e) => e.id),
  );
  await using _c = await connect(server.addresses[0], "named");
  assert.deepEqual(engine!.getClientNames().map(([, n]) => n), ["named"]);
  // Refused events: null, the engine goes on.
  using _log = captureLog();
  assert.equal(await engine!.register(self!, [{ type: ["*"] }]), null);
});

Deno.test("modules: a module that throws, hangs or returns bad events loses its output, then is disabled; the rest go on", async () => {
  using log = captureLog();
  let calls = 0;
  let hangs = 0;
  await using server = await start({
    moduleTimeout: 50,
    moduleMaxFailures: 3,
    modules: [
      {
        subscription: new Subscription([["throw"]]),
        process() {
          calls++;
          throw new Error("boom");
        },
      },
      {
        subscription: new Subscription([["hang"]]),
        process: () => {
          hangs++;
          return new Promise<RegisterEvent[]>(() => {});
        },
      },
      {
        subscription: new Subscription([["bad"]]),
        process: () => [{ type: ["no", "*"] }],
      },
      {
        subscription: new Subscription([["throw"], ["hang"], ["bad"]]),
        process: () => [{ type: ["ok"] }],
      },
    ],
  });
  await using c = await connect(server.addresses[0], "c");
  const session = async (type: string) => {
    const own = await deadline(c.register([{ type: [type] }], true), 2000);
    assert.ok(own, type);
    const { events } = await c.query({ kind: "server", serverId: 1 });
    return types(events.filter((e) => e.id.session === own[0].id.session));
  };
  for (let i = 0; i < 4; i++) {
    assert.deepEqual(await session("throw"), ["throw", "ok"]);
  }
  assert.equal(calls, 3, "disabled after 3 failures in a row");
  const t0 = performance.now();
  assert.deepEqual(await session("hang"), ["hang", "ok"]);
  assert.ok(performance.now() - t0 >= 45, "waited the budget");
  assert.deepEqual(await session("bad"), ["bad", "ok"]);
  assert.equal(hangs, 1);
  const texts = log.records.map((r) => r.text).join("\n");
  assert.match(texts, /module 0 process failed \(1 in a row\).*boom/);
  assert.match(texts, /module 0 disabled after 3 failures/);
  assert.match(texts, /module 1 process failed.*no answer within 50 ms/);
  assert.match(texts, /module 2 process failed/);
  assert.equal(server.status, "operational");
});

Deno.test("modules: modules answering each other stop at maxSessionEvents", async () => {
  using log = captureLog();
  await using server = await start({
    maxSessionEvents: 50,
    moduleMaxFailures: 0,
    modules: [relay(["ping"], ["pong"]), relay(["pong"], ["ping"])],
  });
  await using c = await connect(server.addresses[0], "c");
  const own = await deadline(c.register([{ type: ["ping"] }], true), 2000);
  assert.ok(own);
  const { events } = await c.query({ kind: "server", serverId: 1 });
  assert.equal(
    events.filter((e) => e.id.session === own[0].id.session).length,
    50,
  );
  assert.match(log.records.map((r) => r.text).join("\n"), /past 50 events/);
});

Deno.test("modules: a module that cannot be created stops the start with code MODULE", async () => {
  await assert.rejects(
    start({
      modules: [() => {
        throw new Error("no config");
      }],
    }),
    (e: unknown) =>
      e instanceof EventServerError && e.code === "MODULE" &&
      /module 0 cannot be created: no config/.test(e.message),
  );
  await assert.rejects(
    start({ modules: [{ info: { create: () => ({}) as Module } }] }),
    (e: unknown) => e instanceof EventServerError && e.code === "MODULE",
  );
});
