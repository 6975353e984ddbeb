// Load: 1,000 concurrent clients of our server in this process, each with
// a random mix of exact, `?` and `*` subscriptions, while several of them
// register events that the server notifies as it registers them. Every
// event must reach each matching subscriber exactly once, in order.
// LOAD_CLIENTS=<n> and LOAD_SEED=<n> change the scale and the draw.

import assert from "node:assert/strict";
import { type Client, connect } from "../../client.ts";
import { listen, type Server } from "../../server.ts";
import { Subscription } from "../../common/event/mod.ts";
import type {
  Event,
  EventType,
  RegisterEvent,
} from "../../common/event/mod.ts";
import { Rng, seedFromEnv } from "../_rng.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
const CLIENTS = Number(Deno.env.get("LOAD_CLIENTS") ?? 1000);
const REGISTRARS = 20;
const REGISTRATIONS = 25;
const EVENTS_PER_REGISTRATION = 5;
const CONNECT_CONCURRENCY = 100;
const SEED = seedFromEnv("LOAD_SEED");

const A = ["a0", "a1", "a2", "a3"];
const B = ["b0", "b1", "b2", "b3"];
const C = ["c0", "c1", "c2", "c3"];

function randomEventType(rng: Rng): EventType {
  const depth = rng.pick([1, 2, 3, 3, 3]);
  return [rng.pick(A), rng.pick(B), rng.pick(C)].slice(0, depth);
}

function randomQueryType(rng: Rng): EventType {
  switch (rng.int(3)) {
    case 0: // exact
      return randomEventType(rng);
    case 1: // one or two `?`
      return rng.pick([
        [rng.pick(A), "?", rng.pick(C)],
        ["?", rng.pick(B)],
        [rng.pick(A), rng.pick(B), "?"],
        ["?", "?", rng.pick(C)],
      ]);
    default: // `*`, rarely the match-everything one
      return rng.chance(0.02) ? ["*"] : rng.pick([
        [rng.pick(A), "*"],
        [rng.pick(A), rng.pick(B), "*"],
        ["?", rng.pick(B), "*"],
      ]);
  }
}

async function pool<T>(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

Deno.test(`load: ${CLIENTS} concurrent clients, every notification exactly once and in order`, async () => {
  const rng = new Rng(SEED);
  console.log(`load seed ${SEED} (replay with LOAD_SEED=${SEED})`);
  const all: Event[] = [];
  let instance = 0;
  const server: Server = await listen(LOCAL, {
    status: "operational",
    registerCb: async (_info, events: RegisterEvent[]) => {
      const out = events.map((e): Event => ({
        id: { server: 1, session: 1, instance: ++instance },
        type: e.type,
        timestamp: { s: 1700000000, us: instance },
        sourceTimestamp: null,
        payload: e.payload ?? null,
      }));
      all.push(...out);
      await server.notifyEvents(out, false);
      return out;
    },
    queryCb: () => ({ events: all.slice(-10), moreFollows: false }),
  });
  const clients: Client[] = [];
  try {
    const addr = server.addresses[0];
    const subscriptions: EventType[][] = [];
    const received: number[][] = [];
    for (let i = 0; i < CLIENTS; i++) {
      subscriptions.push(
        Array.from({ length: 1 + rng.int(3) }, () => randomQueryType(rng)),
      );
      received.push([]);
    }
    const t0 = performance.now();
    clients.push(
      ...await pool(
        CLIENTS,
        CONNECT_CONCURRENCY,
        (i) =>
          connect(addr, `load-${i}`, {
            subscriptions: subscriptions[i],
            eventsCb: (_c, events) => {
              for (const e of events) received[i].push(e.id.instance);
            },
          }),
      ),
    );
    const connectMs = performance.now() - t0;
    assert.equal(server.getConnInfos().length, CLIENTS);

    // Several clients register concurrently, each waiting for responses.
    const t1 = performance.now();
    const registrars = clients.slice(0, REGISTRARS);
    await Promise.all(registrars.map(async (c, r) => {
      for (let k = 0; k < REGISTRATIONS; k++) {
        const events = Array.from(
          { length: EVENTS_PER_REGISTRATION },
          (_, j): RegisterEvent => ({
            type: randomEventType(rng),
            payload: { kind: "json", data: { r, k, j } },
          }),
        );
        const res = await c.register(events, true);
        assert.equal(res?.length, EVENTS_PER_REGISTRATION);
      }
    }));
    const registerMs = performance.now() - t1;

    // Expected per client: every event whose type its subscription
    // matches, in registration (= id) order.
    const expected = subscriptions.map((s) => {
      const sub = new Subscription(s);
      return all.filter((e) => sub.matches(e.type)).map((e) => e.id.instance);
    });
    const total = expected.reduce((n, e) => n + e.length, 0);
    const deadline = performance.now() + 20_000;
    let got = 0;
    while (performance.now() < deadline) {
      got = received.reduce((n, r) => n + r.length, 0);
      if (got >= total) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const deliverMs = performance.now() - t1;
    // A little longer, so that duplicates would have time to show.
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < CLIENTS; i++) {
      assert.deepEqual(
        received[i],
        expected[i],
        `client ${i} (${JSON.stringify(subscriptions[i])}), seed ${SEED}`,
      );
    }
    // Queries are still answered promptly by a sample of the crowd.
    const t2 = performance.now();
    await Promise.all(
      clients.filter((_, i) => i % 10 === 0).map((c) =>
        c.query({ kind: "latest" })
      ),
    );
    const queryMs = performance.now() - t2;
    const mem = Deno.memoryUsage();
    console.log(
      [
        `load (seed ${SEED}): ${CLIENTS} clients connected and subscribed in ${
          connectMs.toFixed(0)
        } ms`,
        `  ${all.length} events registered by ${REGISTRARS} clients ` +
        `(${REGISTRARS * REGISTRATIONS} requests) in ${
          registerMs.toFixed(0)
        } ms`,
        `  ${total} notifications expected, ${total} delivered exactly once ` +
        `and in order, all within ${deliverMs.toFixed(0)} ms (${
          (total / deliverMs * 1000).toFixed(0)
        } events/s)`,
        `  ${Math.ceil(CLIENTS / 10)} concurrent queries in ${
          queryMs.toFixed(0)
        } ms; RSS ${(mem.rss / 1048576).toFixed(0)} MiB, heap ${
          (mem.heapUsed / 1048576).toFixed(0)
        } MiB`,
      ].join("\n"),
    );
  } finally {
    await Promise.all(clients.map((c) => c.asyncClose()));
    await server.asyncClose();
  }
});
