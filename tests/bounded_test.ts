// Bounded and fair: no peer can stall, starve or exhaust a connection, a
// client or a server. Each test reproduces, over real sockets, a way the
// library used to be made to hang a request, kill a healthy connection,
// hold memory for one slow reader or starve the event loop.

import assert from "node:assert/strict";
import { type Client, connect } from "../client.ts";
import { listen } from "../server.ts";
import { startEventServer } from "../event_server/mod.ts";
import { DEFAULT_MAX_FRAME_SIZE } from "../common/chatter/mod.ts";
import * as m from "../common/eventer/mod.ts";
import type { Event, QueryResult } from "../common/event/mod.ts";
import {
  captureLog,
  deadline,
  decode,
  delay,
  frame,
  initReq,
  LOCAL,
  RawPeer,
  until,
} from "./_net.ts";

function events(
  n: number,
  type: string[],
  size = 0,
  session = 1,
): Event[] {
  const data = size ? (blobs[size] ??= new Uint8Array(size)) : EMPTY;
  return Array.from({ length: n }, (_, i) => ({
    id: { server: 1, session, instance: i + 1 },
    type,
    timestamp: { s: 1700000000, us: i },
    sourceTimestamp: null,
    payload: size ? { kind: "binary", type: "blob", data } : null,
  }));
}

// Payloads of each size, made once: the tests measure the server's memory.
const blobs: Record<number, Uint8Array> = {};
const EMPTY = new Uint8Array(0);

// ----------------------------------------------- replies are never dropped

Deno.test("bounded: with a full send queue, pipelined requests wait and every one is answered", async () => {
  const result: QueryResult = {
    events: events(100, ["a"], 300),
    moreFollows: false,
  };
  await using server = await listen(LOCAL, {
    sendQueueSize: 1,
    queryCb: () => result,
  });
  await using client = await connect(server.addresses[0], "pipeline");
  const answers = await deadline(
    Promise.all(
      Array.from({ length: 3 }, () => client.query({ kind: "latest" })),
    ),
    5000,
    "three pipelined queries with sendQueueSize 1",
  );
  for (const a of answers) assert.equal(a.events.length, 100);
});

Deno.test("bounded: thousands of pipelined queries of large results are all answered", async () => {
  // ~30 KB a result: 2,000 of them are 60 MB, near the send queue's
  // 64 MiB; the server reads requests only while replies fit.
  const result: QueryResult = {
    events: events(100, ["a"], 300),
    moreFollows: false,
  };
  await using server = await listen(LOCAL, { queryCb: () => result });
  await using client = await connect(server.addresses[0], "pipeline");
  const n = 2000;
  const answers = await deadline(
    Promise.all(
      Array.from({ length: n }, () => client.query({ kind: "latest" })),
    ),
    60_000,
    `${n} pipelined queries`,
  );
  assert.equal(answers.filter((a) => a.events.length === 100).length, n);
});

// ---------------------------------------------- keepalive never kills live

Deno.test("bounded: a busy producer whose send queue stays full is not closed by its own keepalive", async () => {
  let received = 0;
  await using server = await listen(LOCAL, {
    registerCb: (_info, evs) => {
      received += evs.length;
      return null;
    },
  });
  await using client = await connect(server.addresses[0], "producer", {
    pingDelay: 50,
    pingTimeout: 100,
    sendQueueSize: 4,
  });
  // Registers without response as fast as the queue takes them: it is
  // full whenever a Ping is due, many times over.
  const data = new Uint8Array(64 * 1024);
  const batch = [{
    type: ["a"],
    payload: { kind: "binary" as const, type: "x", data },
  }];
  let sent = 0;
  const end = performance.now() + 1000;
  while (performance.now() < end && client.isOpen) {
    await client.register(batch, false);
    sent++;
  }
  assert.ok(client.isOpen, `closed after ${sent} registers`);
  await until(() => received === sent, 5000, "every register to arrive");
});

// ------------------------------------------- slow consumers, by bytes too

Deno.test("bounded: a subscriber that does not read is cut by bytes as a slow consumer; the others get every event once, in order", async () => {
  const CLIENTS = Number(Deno.env.get("BOUNDED_CLIENTS") ?? 100);
  // The server in a process of its own: its memory is its alone.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("./_notifier.ts", import.meta.url).pathname,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const line = async () => {
    while (!text.includes("\n")) {
      const { value, done } = await out.read();
      if (done) throw new Error("the server process ended");
      text += value;
    }
    const i = text.indexOf("\n");
    const l = text.slice(0, i);
    text = text.slice(i + 1);
    return l;
  };
  const clients: Client[] = [];
  try {
    const addr = { hostname: "127.0.0.1", port: Number(await line()) };
    // It subscribes to the big events, then never reads another byte.
    using slow = await RawPeer.connect(addr);
    await slow.write(frame({
      id: 1,
      type: m.MsgType.InitReq,
      last: false,
      data: (w) =>
        m.writeInitReq(
          w,
          initReq({ clientName: "slow", subscriptions: [["big", "*"]] }),
        ),
    }));
    assert.equal((await slow.expect()).type, m.MsgType.InitRes);
    const received: number[][] = [];
    for (let c = 0; c < CLIENTS; c++) {
      const seen: number[] = [];
      received.push(seen);
      clients.push(
        await connect(addr, `good-${c}`, {
          subscriptions: [["small", "*"]],
          eventsCb: (_c, evs) => {
            for (const e of evs) seen.push(e.id.session);
          },
        }),
      );
    }
    await stdin.write(new TextEncoder().encode("go\n"));
    const cost = JSON.parse(await line()) as {
      rssBefore: number;
      rssMax: number;
      cut: { name: string; code?: string }[];
    };
    const BIG = 30;
    await until(
      () => received.every((r) => r.length === BIG),
      20_000,
      "every good client to receive every small event",
    );
    for (const r of received) {
      assert.deepEqual(r, Array.from({ length: BIG }, (_, i) => i));
    }
    for (const c of clients) assert.ok(c.isOpen);
    assert.deepEqual(cost.cut, [{ name: "slow", code: "SLOW_CONSUMER" }]);
    const grown = (cost.rssMax - cost.rssBefore) / 1048576;
    assert.ok(grown < 100, `the server grew by ${grown.toFixed(0)} MiB`);
    console.log(
      `slow subscriber sent 30 x 10 MB: cut; server RSS +${
        grown.toFixed(0)
      } MiB at most; ${CLIENTS} other clients got ${BIG} events each, in order`,
    );
  } finally {
    for (const c of clients) await c.asyncClose();
    await stdin.close().catch(() => {});
    await child.status;
    await out.cancel().catch(() => {});
  }
});

// ------------------------------------------------------ handshake deadline

Deno.test("bounded: a connection without a MsgInitReq is closed at initTimeout", async () => {
  using log = captureLog();
  await using server = await listen(LOCAL, { initTimeout: 300 });
  const peers: RawPeer[] = [];
  try {
    for (let i = 0; i < 50; i++) {
      const peer = await RawPeer.connect(server.addresses[0]);
      peers.push(peer);
      // Half a frame header, or nothing at all.
      if (i % 2) await peer.write(new Uint8Array([4, 0, 0]));
    }
    const start = performance.now();
    await Promise.all(peers.map((p) => p.eof(3000)));
    const took = performance.now() - start;
    assert.ok(took < 1500, `closed after ${took.toFixed(0)} ms`);
    assert.ok(
      log.records.some((r) => /no MsgInitReq within 300 ms/.test(r.text)),
    );
  } finally {
    for (const p of peers) p.close();
  }
});

// ------------------------------------------------------- init before auth

Deno.test("bounded: a subscription over maxSubscriptions is refused with its reason", async () => {
  using _log = captureLog();
  let connected = 0;
  await using server = await listen(LOCAL, {
    maxSubscriptions: 100,
    connectedCb: () => void connected++,
  });
  using peer = await RawPeer.connect(server.addresses[0]);
  await peer.send({
    type: m.MsgType.InitReq,
    last: false,
    data: (w) =>
      m.writeInitReq(
        w,
        initReq({
          subscriptions: Array.from({ length: 101 }, (_, i) => ["a", `${i}`]),
        }),
      ),
  });
  const res = decode(await peer.expect(), m.readInitRes);
  assert.deepEqual(res, {
    type: "error",
    error: "too many subscriptions: 101 (at most 100)",
  });
  await peer.eof();
  assert.equal(connected, 0);
});

Deno.test("bounded: clients with a wrong token and huge subscriptions do not slow an authorised client", async () => {
  using _log = captureLog();
  await using server = await startEventServer({
    db: ":memory:",
    port: 0,
    serverToken: "secret",
  });
  const addr = server.addresses[0];
  await using client = await connect(addr, "good", { clientToken: "secret" });
  const batch = [{ type: ["a"], payload: null }];
  async function rate(ms: number): Promise<number> {
    let n = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await client.register(batch, true);
      n++;
    }
    return n / ms * 1000;
  }
  const alone = await rate(1000);
  // Four attackers in their own process, each init within the pre-init
  // frame limit.
  const attackers = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("./_wrong_token.ts", import.meta.url).pathname,
      String(addr.port),
      "4",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = attackers.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let refused = 0;
  const counting = (async () => {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) return;
      const last = value.trim().split("\n").pop();
      if (last) refused = Number(last);
    }
  })();
  try {
    await delay(300);
    const attacked = await rate(1000);
    assert.ok(refused > 0, "no attacker was refused");
    // The attackers' bytes take most of the server's CPU (some 200 MB/s of
    // inits); before the token was checked first, the client got 0.2 %.
    assert.ok(
      attacked >= alone / 12,
      `${attacked.toFixed(0)} registers/s under attack (${refused} inits ` +
        `refused), ${alone.toFixed(0)} alone`,
    );
    console.log(
      `authorised client: ${alone.toFixed(0)} registers/s alone, ${
        attacked.toFixed(0)
      } with 4 wrong-token clients (${refused} inits refused)`,
    );
  } finally {
    attackers.kill();
    await attackers.status;
    await counting;
  }
});

// ------------------------------------------------------- accept on EMFILE

Deno.test("bounded: out of file descriptors, the accept loop backs off instead of spinning", async () => {
  const serverUrl = new URL("../server.ts", import.meta.url).href;
  // Deno sets up its signal handling lazily, with a descriptor of its
  // own, and panics if the process is out of them by then: a listener set
  // first makes it do so now.
  const code = `
    Deno.addSignalListener("SIGUSR2", () => {});
    import { listen } from ${JSON.stringify(serverUrl)};
    const s = await listen({ hostname: "127.0.0.1", port: 0 });
    console.log(s.addresses[0].port);`;
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      'ulimit -n 64 && exec "$0" eval "$1"',
      Deno.execPath(),
      code,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const peers: Deno.Conn[] = [];
  try {
    const reader = child.stdout.getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    await child.stdout.cancel();
    const port = Number(text.trim());
    // More connections than the child has descriptors left.
    for (let i = 0; i < 100; i++) {
      peers.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    // CPU seconds used by the child, from ps (reading /proc needs more
    // permissions than the test suite has).
    const cpu = async () => {
      const out = await new Deno.Command("ps", {
        args: ["-o", "times=", "-p", String(child.pid)],
      }).output();
      return Number(new TextDecoder().decode(out.stdout).trim());
    };
    await delay(300);
    const before = await cpu();
    const t = performance.now();
    await delay(2000);
    const used = (await cpu() - before) / ((performance.now() - t) / 1000);
    for (const p of peers) p.close();
    peers.length = 0;
    child.kill();
    await child.status;
    // One line a spell: the connections without an init are closed after
    // initTimeout (2 s), which frees descriptors, and a new spell may begin.
    const lines = (await stderr).split("\n").filter((l) =>
      /accept failed/.test(l)
    );
    assert.ok(used < 0.2, `the child used ${(used * 100).toFixed(0)} % CPU`);
    assert.ok(lines.length <= 3, lines.join("\n"));
    assert.match(lines[0] ?? "", /too many open files|os error 24/i);
  } finally {
    for (const p of peers) p.close();
    try {
      child.kill();
    } catch {
      // Exited.
    }
    await child.status;
    await stderr;
  }
});

// ------------------------------------------------------------ decode budget

Deno.test("bounded: frames over the 32 MiB default are refused before they are read", async () => {
  assert.equal(DEFAULT_MAX_FRAME_SIZE, 32 * 1024 * 1024);
  using log = captureLog();
  await using server = await listen(LOCAL, {});
  await using client = await connect(server.addresses[0], "big");
  // A register of 33 MiB: the server closes the connection.
  const data = new Uint8Array(33 * 1024 * 1024);
  await assert.rejects(
    client.register([{
      type: ["a"],
      payload: { kind: "binary", type: "x", data },
    }], true),
  );
  assert.ok(
    log.records.some((r) => /more than the 33554432-byte maximum/.test(r.text)),
  );
});
