// Faults: peers that vanish without FIN, a consumer that never reads,
// closes from either side mid-conversation, callbacks that throw, and a
// server that answers garbage. Deno's sanitizers stay on throughout: no
// op, resource or timer may outlive its test.

import assert from "node:assert/strict";
import { type Client, connect } from "../client.ts";
import { listen } from "../server.ts";
import {
  ConnectionError,
  frameBodyLength,
  ProtocolError,
  readChatterMsg,
  writeFrame,
} from "../common/chatter/mod.ts";
import { type Logger, setLogger } from "../common/log.ts";
import * as m from "../common/eventer/mod.ts";
import { Writer } from "../common/sbs/mod.ts";
import type { Event, RegisterEvent } from "../common/event/mod.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
const PING_DELAY = 200;
const PING_TIMEOUT = 200;
// Timers fire late on a loaded 2-core box; this is the allowed lateness.
const SLACK_MS = 300;

// ------------------------------------------------------------ helpers

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(cond: () => boolean, ms: number, what: string) {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out: ${what}`);
    await delay(5);
  }
}

/** `p`, or a rejection naming `what` after `ms`: a fault must not hang. */
async function deadline<T>(p: Promise<T>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error(`hung: ${what}`)), ms)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when `p` is still pending after `ms`. */
async function stillPending(p: Promise<unknown>, ms: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    p.then(() => false, () => false),
    new Promise<true>((resolve) => timer = setTimeout(resolve, ms, true)),
  ]);
  clearTimeout(timer);
  return r;
}

/** Route the library's log into `lines` until disposed. */
function captureLog(): { lines: string[] } & Disposable {
  const lines: string[] = [];
  const put = (level: string) => (msg: string, ...args: unknown[]) =>
    lines.push(`${level} ${[msg, ...args.map(String)].join(" ")}`);
  const logger: Logger = {
    debug: put("debug"),
    warn: put("warn"),
    error: put("error"),
  };
  setLogger(logger);
  return { lines, [Symbol.dispose]: () => setLogger(null) };
}

function frame(
  id: number,
  first: number,
  owner: boolean,
  last: boolean,
  type: string,
  payload: Uint8Array | ((w: Writer) => void) | null,
): Uint8Array {
  const w = new Writer(64);
  writeFrame(w, id, first, owner, true, last, type, payload);
  return w.bytes().slice();
}

function initReqFrame(subscriptions: string[][] = []): Uint8Array {
  return frame(1, 1, true, false, m.MsgType.InitReq, (w) =>
    m.writeInitReq(w, {
      clientName: "raw",
      clientToken: null,
      subscriptions,
      serverId: null,
      persisted: false,
    }));
}

/** A TCP peer speaking frames by hand, with no Chatter logic at all. */
class RawPeer implements Disposable {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async write(bytes: Uint8Array): Promise<void> {
    let n = 0;
    while (n < bytes.length) n += await this.conn.write(bytes.subarray(n));
  }

  /** Next frame's message (over a buffer never written again), or null at end of stream. */
  async recv() {
    for (;;) {
      const b = this.#buf;
      const k = frameBodyLength(b, 0, b.length, 1 << 30);
      if (k >= 0 && b.length >= 1 + b[0] + k) {
        const msg = readChatterMsg(b, 1 + b[0], 1 + b[0] + k);
        this.#buf = b.slice(1 + b[0] + k);
        return msg;
      }
      const chunk = new Uint8Array(65536);
      const n = await this.conn.read(chunk);
      if (n === null) return null;
      const next = new Uint8Array(b.length + n);
      next.set(b);
      next.set(chunk.subarray(0, n), b.length);
      this.#buf = next;
    }
  }

  [Symbol.dispose](): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

let instance = 0;

function toEvents(events: RegisterEvent[]): Event[] {
  return events.map((e) => ({
    id: { server: 1, session: 1, instance: ++instance },
    type: e.type,
    timestamp: { s: 1700000000, us: 0 },
    sourceTimestamp: e.sourceTimestamp ?? null,
    payload: e.payload ?? null,
  }));
}

// ------------------------------------------------------------ vanishing peers

/** Accept one raw connection and answer its init request with success. */
async function acceptInitRaw(listener: Deno.Listener): Promise<RawPeer> {
  const peer = new RawPeer(await listener.accept());
  const req = await peer.recv();
  assert.equal(req?.type, m.MsgType.InitReq);
  await peer.write(
    frame(
      1,
      req!.first,
      false,
      true,
      m.MsgType.InitRes,
      (w) => m.writeInitRes(w, { type: "success", status: "operational" }),
    ),
  );
  return peer;
}

Deno.test("faults: a server that vanishes without FIN: pending requests reject with ConnectionError within pingDelay + pingTimeout", async () => {
  using _log = captureLog();
  using listener = Deno.listen(LOCAL);
  const addr = listener.addr as Deno.NetAddr;
  // The fake server completes init, then neither reads nor writes again,
  // and never closes: what a powered-off host or a cut cable looks like.
  const accepted = acceptInitRaw(listener);
  const client = await connect(
    { hostname: addr.hostname, port: addr.port },
    "victim",
    { pingDelay: PING_DELAY, pingTimeout: PING_TIMEOUT },
  );
  using peer = await accepted;
  const start = performance.now();
  const register = client.register([{ type: ["a"] }], true);
  const query = client.query({ kind: "latest" });
  const outcomes = await deadline(
    Promise.allSettled([register, query]),
    3000,
    "requests to reject",
  );
  const elapsed = performance.now() - start;
  for (const o of outcomes) {
    assert.equal(o.status, "rejected");
    const e = (o as PromiseRejectedResult).reason;
    assert.ok(e instanceof ConnectionError, String(e));
    assert.match(e.message, /ping timeout/);
  }
  const bound = PING_DELAY + PING_TIMEOUT;
  assert.ok(elapsed < bound + SLACK_MS, `rejected after ${elapsed} ms`);
  assert.ok(elapsed > bound / 2, `rejected after only ${elapsed} ms`);
  await client.waitClosed();
  assert.ok(peer.conn);
  console.log(
    `client: pending requests rejected ${elapsed.toFixed(0)} ms after ` +
      `sending (pingDelay + pingTimeout = ${bound} ms)`,
  );
});

Deno.test("faults: a client that vanishes without FIN is dropped by the server within pingDelay + pingTimeout; a pending notify-with-ack ends", async () => {
  using log = captureLog();
  const gone = Promise.withResolvers<number>();
  await using server = await listen(LOCAL, {
    status: "operational",
    pingDelay: PING_DELAY,
    pingTimeout: PING_TIMEOUT,
    disconnectedCb: () => gone.resolve(performance.now()),
  });
  using peer = new RawPeer(await Deno.connect(server.addresses[0]));
  await peer.write(initReqFrame([["*"]]));
  const res = await peer.recv();
  assert.equal(res?.type, m.MsgType.InitRes);
  const start = performance.now();
  assert.equal(server.getConnInfos().length, 1);
  // From here on the raw client is silent and reads nothing.
  const acked = server.notifyEvents(toEvents([{ type: ["x"] }]), false, true);
  const end = await deadline(gone.promise, 3000, "server to drop the client");
  await deadline(acked, 1000, "notify-with-ack to end");
  const elapsed = end - start;
  const bound = PING_DELAY + PING_TIMEOUT;
  assert.ok(elapsed < bound + SLACK_MS, `dropped after ${elapsed} ms`);
  assert.equal(server.getConnInfos().length, 0);
  assert.ok(log.lines.some((l) => /ping timeout/.test(l)), log.lines.join());
  console.log(
    `server: silent client dropped ${elapsed.toFixed(0)} ms after init ` +
      `(bound ${bound} ms); log: ${log.lines.find((l) => /ping/.test(l))}`,
  );
});

// ------------------------------------------------------------ slow consumer

Deno.test("faults: a consumer that never reads is cut at sendQueueSize; the others keep receiving promptly", async () => {
  using log = captureLog();
  const SEND_QUEUE = 64;
  const BATCH = 500;
  const PAYLOAD = new Uint8Array(200).fill(0x5a);
  const disconnected: string[] = [];
  await using server = await listen(LOCAL, {
    status: "operational",
    sendQueueSize: SEND_QUEUE,
    disconnectedCb: (info) => void disconnected.push(info.clientName),
  });
  const addr = server.addresses[0];

  // The slow one subscribes, then never reads another byte.
  using slow = new RawPeer(await Deno.connect(addr));
  await slow.write(initReqFrame([["load", "*"]]));
  assert.equal((await slow.recv())?.type, m.MsgType.InitRes);

  // Three good clients: two sharing the slow one's subscription (one
  // encoding for the group), one with a subscription of its own.
  const received: number[][] = [[], [], []];
  const latest = [0, 0, 0];
  const clients: Client[] = [];
  const subs = [[["load", "*"]], [["load", "*"]], [["load", "?"]]];
  for (let i = 0; i < 3; i++) {
    clients.push(
      await connect(addr, `good-${i}`, {
        subscriptions: subs[i],
        eventsCb: (_c, events) => {
          const batch = events[0].id.session;
          received[i][batch] = performance.now();
          latest[i] = batch;
        },
      }),
    );
  }
  const sentAt: number[] = [];
  const heapBefore = Deno.memoryUsage();
  let cutAfter = -1;
  let heapAtCut = heapBefore;
  const MAX_BATCHES = 3000;
  let b = 0;
  for (; b < MAX_BATCHES; b++) {
    const events: Event[] = [];
    for (let i = 0; i < BATCH; i++) {
      events.push({
        id: { server: 1, session: b, instance: i + 1 },
        type: ["load", String(i % 10)],
        timestamp: { s: 1700000000, us: i },
        sourceTimestamp: null,
        payload: { kind: "binary", type: "blob", data: PAYLOAD },
      });
    }
    sentAt[b] = performance.now();
    await server.notifyEvents(events, false);
    // Let the good clients run; they must keep up batch by batch.
    await until(
      () => latest.every((l) => l === b),
      2000,
      `good clients to receive batch ${b}`,
    );
    if (cutAfter < 0 && disconnected.includes("raw")) {
      cutAfter = b;
      heapAtCut = Deno.memoryUsage();
    }
    if (cutAfter >= 0 && b >= cutAfter + 20) break;
  }
  assert.ok(cutAfter >= 0, `slow consumer never cut in ${b} batches`);
  const latencies = received.flatMap((r) =>
    r.map((t, batch) => t - sentAt[batch])
  ).sort((x, y) => x - y);
  const p = (q: number) => latencies[Math.floor(q * (latencies.length - 1))];
  const batchBytes = BATCH * (PAYLOAD.length + 30);
  assert.ok(
    log.lines.some((l) => /^warn closing connection .*send queue full/.test(l)),
    log.lines.join("\n"),
  );
  for (const c of clients) assert.ok(c.isOpen);
  assert.ok(p(1) < 1000, `a batch took ${p(1)} ms to reach a good client`);
  const mib = (n: number) => (n / 1048576).toFixed(1);
  console.log(
    [
      `slow consumer cut after batch ${cutAfter} of ${BATCH} events ` +
      `(~${mib(batchBytes * (cutAfter + 1))} MiB notified to it; ` +
      `sendQueueSize ${SEND_QUEUE})`,
      `  log: ${log.lines.find((l) => /send queue full/.test(l))}`,
      `  good clients, notify-to-callback latency over ${latencies.length} ` +
      `batches: p50 ${p(0.5).toFixed(1)} ms, p99 ${
        p(0.99).toFixed(1)
      } ms, max ${p(1).toFixed(1)} ms`,
      `  heap ${mib(heapBefore.heapUsed)} -> ${
        mib(heapAtCut.heapUsed)
      } MiB at the cut, RSS ${mib(heapBefore.rss)} -> ${
        mib(heapAtCut.rss)
      } MiB`,
    ].join("\n"),
  );
  // Bounded: the queue (64 batches) plus one in-flight write of as much
  // again, plus socket buffers; far below 'everything ever notified'.
  assert.ok(
    heapAtCut.heapUsed - heapBefore.heapUsed <
      (2 * SEND_QUEUE + 16) * batchBytes + 32 * 1048576,
    "heap grew beyond the per-connection bound",
  );
  for (const c of clients) await c.asyncClose();
});

Deno.test("faults: an ack due while the client's send queue is full waits for room; later notifications still arrive", async () => {
  // Regression: the ack was sent with sendNow, whose BackpressureError
  // ended the client's notification loop silently: the connection stayed
  // open and no later notification ever reached eventsCb.
  using _log = captureLog();
  using listener = Deno.listen(LOCAL);
  const addr = listener.addr as Deno.NetAddr;
  // The fake server reads nothing after init until told to.
  const accepted = acceptInitRaw(listener);
  const calls: number[] = [];
  const client = await connect(
    { hostname: addr.hostname, port: addr.port },
    "burst",
    {
      sendQueueSize: 4,
      eventsCb: (_c, events) => void calls.push(events[0].id.instance),
    },
  );
  using peer = await accepted;
  // A burst of 1 MiB registers fills the socket buffers, then the queue.
  const blob = new Uint8Array(1 << 20);
  const burst = Array.from({ length: 24 }, () =>
    client.register([{
      type: ["x"],
      payload: { kind: "binary", type: "blob", data: blob },
    }]).catch(() => {}));
  await delay(200);
  const notify = (id: number, last: boolean) =>
    frame(id, id, true, last, m.MsgType.EventsNotify, (w) =>
      m.writeEvents(w, [{
        id: { server: 1, session: 1, instance: id },
        type: ["a"],
        timestamp: { s: 1, us: 0 },
        sourceTimestamp: null,
        payload: null,
      }]));
  await peer.write(notify(2, false)); // wants an ack: the queue is full
  await peer.write(notify(3, true));
  await delay(100);
  // The server reads again: the queue drains and the ack goes out.
  let acks = 0;
  const reading = (async () => {
    for (;;) {
      const msg = await peer.recv().catch(() => null);
      if (!msg) return;
      if (msg.type === m.MsgType.EventsAck) acks++;
    }
  })();
  await until(() => calls.length === 2 && acks === 1, 5000, "ack, 2nd call");
  assert.deepEqual(calls, [2, 3]);
  assert.ok(client.isOpen);
  await client.asyncClose();
  await Promise.all(burst);
  await reading;
});

// ------------------------------------------------------------ closes mid-conversation

Deno.test("faults: the client closes while a query callback is pending on the server", async () => {
  using log = captureLog();
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  let callbackDone = false;
  const gone = Promise.withResolvers<void>();
  await using server = await listen(LOCAL, {
    queryCb: async () => {
      entered.resolve();
      await release.promise;
      callbackDone = true;
      return { events: [], moreFollows: false };
    },
    disconnectedCb: () => gone.resolve(),
  });
  const client = await connect(server.addresses[0], "quitter");
  // Observed from the start: it rejects while we await the close.
  const query = assert.rejects(
    client.query({ kind: "latest" }),
    ConnectionError,
  );
  await entered.promise;
  await deadline(client.asyncClose(), 2000, "client close");
  await deadline(query, 2000, "query to reject");
  await deadline(gone.promise, 2000, "server to see the disconnect");
  // The callback finishes into a closed connection: no error, no crash.
  release.resolve();
  await until(() => callbackDone, 1000, "callback to finish");
  await delay(20);
  assert.deepEqual(log.lines.filter((l) => l.startsWith("error")), []);
  // The server is unaffected.
  await using again = await connect(server.addresses[0], "again");
  assert.equal((await again.query({ kind: "latest" })).moreFollows, false);
});

Deno.test("faults: the server closes while a register with response is pending on the client", async () => {
  using _log = captureLog();
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const server = await listen(LOCAL, {
    registerCb: async (_info, events) => {
      entered.resolve();
      await release.promise;
      return toEvents(events);
    },
  });
  const client = await connect(server.addresses[0], "stayer");
  const register = assert.rejects(
    client.register([{ type: ["a"] }], true),
    ConnectionError,
  );
  await entered.promise;
  const closing = server.asyncClose();
  await deadline(register, 2000, "register to reject");
  await deadline(client.waitClosed(), 2000, "client to close");
  // JavaScript cannot cancel the callback: closing waits until it returns.
  const waited = await stillPending(closing, 50);
  release.resolve();
  await deadline(closing, 2000, "server close");
  assert.ok(server.isClosed && client.isClosed);
  console.log(
    `server close with a callback in flight: client rejected at once; ` +
      `asyncClose ${
        waited ? "waited for" : "did not wait for"
      } the callback to return`,
  );
});

Deno.test("faults: the client closes while its own register and a notify-with-ack are pending", async () => {
  using _log = captureLog();
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  await using server = await listen(LOCAL, {
    registerCb: async (_info, events) => {
      entered.resolve();
      await release.promise;
      return toEvents(events);
    },
  });
  const blocked = Promise.withResolvers<void>();
  const client = await connect(server.addresses[0], "c", {
    subscriptions: [["*"]],
    // Never acks: the events callback does not return before the close.
    eventsCb: () => blocked.promise,
  });
  const register = assert.rejects(
    client.register([{ type: ["a"] }], true),
    ConnectionError,
  );
  await entered.promise;
  const acked = server.notifyEvents(toEvents([{ type: ["b"] }]), false, true);
  await delay(20);
  assert.ok(await stillPending(acked, 10));
  client.close();
  await deadline(register, 2000, "register to reject");
  await deadline(acked, 2000, "notify-with-ack to end");
  // Like the server, the client cannot cancel a running callback: it is
  // fully closed only once the callback returns.
  const waited = await stillPending(client.waitClosed(), 50);
  blocked.resolve();
  release.resolve();
  await deadline(client.waitClosed(), 2000, "client to close");
  assert.ok(waited);
});

// ------------------------------------------------------------ throwing callbacks

Deno.test("faults: a throwing registerCb or queryCb closes that connection with a logged reason; the server serves others and newcomers", async () => {
  using log = captureLog();
  await using server = await listen(LOCAL, {
    registerCb: (info, events) => {
      if (info.clientName === "bad-register") {
        throw new Error("boom in registerCb");
      }
      return toEvents(events);
    },
    queryCb: (info) => {
      if (info.clientName === "bad-query") {
        return Promise.reject(new Error("boom in queryCb"));
      }
      return { events: [], moreFollows: false };
    },
  });
  const addr = server.addresses[0];
  await using good = await connect(addr, "good");
  const badRegister = await connect(addr, "bad-register");
  const badQuery = await connect(addr, "bad-query");
  await assert.rejects(
    badRegister.register([{ type: ["a"] }], true),
    ConnectionError,
  );
  await assert.rejects(badQuery.query({ kind: "latest" }), ConnectionError);
  await badRegister.waitClosed();
  await badQuery.waitClosed();
  assert.ok(
    log.lines.some((l) => /^warn closing .*boom in registerCb/.test(l)),
  );
  assert.ok(log.lines.some((l) => /^warn closing .*boom in queryCb/.test(l)));
  // The well-behaved client, connected all along, is untouched.
  assert.equal((await good.register([{ type: ["g"] }], true))?.length, 1);
  assert.equal((await good.query({ kind: "latest" })).moreFollows, false);
  // And new clients are accepted and served.
  await using late = await connect(addr, "late");
  assert.equal((await late.register([{ type: ["l"] }], true))?.length, 1);
  await until(() => server.getConnInfos().length === 2, 1000, "conn infos");
  assert.deepEqual(
    server.getConnInfos().map((i) => i.clientName).sort(),
    ["good", "late"],
  );
});

// ------------------------------------------------------------ hostile server

Deno.test("faults: a server answering garbage closes our client with ProtocolError; pending requests reject", async () => {
  using log = captureLog();
  using listener = Deno.listen(LOCAL);
  const addr = listener.addr as Deno.NetAddr;
  const fake = (async () => {
    const peer = await acceptInitRaw(listener);
    const q = await peer.recv();
    assert.equal(q?.type, m.MsgType.QueryReq);
    // A reply in the right conversation whose body is not a QueryResult.
    await peer.write(
      frame(
        2,
        q!.first,
        false,
        true,
        m.MsgType.QueryRes,
        new Uint8Array([0x81, 0x81]),
      ),
    );
    return peer;
  })();
  const client = await connect(
    { hostname: addr.hostname, port: addr.port },
    "c",
  );
  const query = client.query({ kind: "latest" }).then(() => null, (e) => e);
  using _peer = await fake;
  const e = await query;
  assert.ok(e instanceof ConnectionError, String(e));
  assert.ok(e.cause instanceof ProtocolError, String(e.cause));
  await client.waitClosed();
  assert.ok(log.lines.some((l) => /malformed/.test(l)), log.lines.join());
});
