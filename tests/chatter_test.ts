// Chatter over real loopback sockets: conversations, ids, Ping/Pong,
// back-pressure, frame limits, malformed input and TLS (SPEC §2).

import assert from "node:assert/strict";
import * as chatter from "../common/chatter/mod.ts";
import {
  BackpressureError,
  type Connection,
  ConnectionError,
  convKey,
  Msg,
  ProtocolError,
} from "../common/chatter/mod.ts";
import {
  captureLog,
  chatterServer,
  deadline,
  delay,
  frame,
  gate,
  header,
  LOCAL,
  RawListener,
  RawPeer,
  stillPending,
} from "./_net.ts";

const PING = "HatChatter.Ping";
const PONG = "HatChatter.Pong";

/** Every message `conn` receives until it closes. */
function collect(conn: Connection): { msgs: Msg[]; done: Promise<unknown> } {
  const msgs: Msg[] = [];
  const done = (async () => {
    for (;;) {
      const msg = await conn.receive();
      const { conv, first, last, token, type } = msg;
      const data = msg.data.slice();
      msgs.push(new Msg(conv, first, last, token, type, data, 0, data.length));
    }
  })().catch((e) => e);
  return { msgs, done };
}

function bytes(n: number, fill: number): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

Deno.test("chatter: conversations as seen by each side (owner, firstId, first, last)", async () => {
  await using s = await chatterServer();
  await using client = await chatter.connect(s.addr);
  const conn = await s.next();

  const conv1 = client.sendNow("T.A", new Uint8Array([1, 2, 3]), {
    last: false,
  });
  const conv2 = await client.send("T.B", (w) => w.string("x"));
  assert.deepEqual(conv1, { owner: true, firstId: 1 });
  assert.deepEqual(conv2, { owner: true, firstId: 2 });

  const m1 = await conn.receive();
  assert.deepEqual(m1.conv, { owner: false, firstId: 1 });
  assert.equal(m1.first, true);
  assert.equal(m1.last, false);
  assert.equal(m1.token, true);
  assert.equal(m1.type, "T.A");
  assert.deepEqual([...m1.data], [1, 2, 3]);
  const m2 = await conn.receive();
  assert.deepEqual(m2.conv, { owner: false, firstId: 2 });
  assert.equal(m2.first, true);
  assert.equal(m2.last, true);
  assert.deepEqual([...m2.data], [0x81, 0x78]); // SBS String "x"

  // A reply stays in the conversation; a new message starts the server's own.
  assert.deepEqual(conn.sendNow("T.C", null, { conv: m1.conv }), m1.conv);
  assert.deepEqual(conn.sendNow("T.D", null, { last: false }), {
    owner: true,
    firstId: 2,
  });

  const r1 = await client.receive();
  assert.deepEqual(r1.conv, conv1);
  assert.equal(convKey(r1.conv), convKey(conv1));
  assert.equal(r1.first, false);
  assert.equal(r1.last, true);
  assert.equal(r1.type, "T.C");
  assert.equal(r1.data.length, 0);
  const r2 = await client.receive();
  assert.deepEqual(r2.conv, { owner: false, firstId: 2 });
  assert.equal(r2.first, true);
  assert.equal(r2.last, false);
  // Same firstId, other owner: a different conversation.
  assert.notEqual(convKey(r2.conv), convKey(conv2));
});

Deno.test("chatter: large bytes payloads sent by reference arrive whole and in order", async () => {
  await using s = await chatterServer();
  await using client = await chatter.connect(s.addr);
  const conn = await s.next();
  // Small and large (written from the caller's buffer) mixed in one turn,
  // one shared buffer sent twice, sizes across the 16 KiB threshold.
  const big = (n: number, seed: number) =>
    new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);
  const shared = big(100_000, 7);
  const sent = [
    big(10, 1),
    shared,
    big(16383, 2),
    big(16384, 3),
    shared,
    big(0, 4),
    big(300_000, 5),
    big(17, 6),
  ];
  for (const [i, data] of sent.entries()) {
    client.sendNow(`T.${i}`, data, { last: i % 2 === 0 });
  }
  await client.drain();
  for (const [i, data] of sent.entries()) {
    const m = await conn.receive();
    assert.equal(m.type, `T.${i}`);
    assert.equal(m.last, i % 2 === 0);
    assert.equal(m.data.length, data.length, `message ${i}`);
    assert.ok(m.data.every((b, j) => b === data[j]), `message ${i}`);
  }
  // Sent later, after the first flush: the connection keeps working.
  client.sendNow("T.after", shared);
  const after = await conn.receive();
  assert.equal(after.type, "T.after");
  assert.ok(after.data.every((b, j) => b === shared[j]));
});

Deno.test("chatter: ids count from 1 and the wire fields follow SPEC §2", async () => {
  using raw = new RawListener();
  await using ours = await chatter.connect(raw.addr);
  using peer = await raw.accept();

  ours.sendNow("T.A", null, { last: false });
  ours.sendNow("T.B", null, { token: false });
  const a = await peer.expect();
  assert.deepEqual(
    [a.id, a.first, a.owner, a.token, a.last, a.type, a.data.length],
    [1, 1, true, true, false, "T.A", 0],
  );
  const b = await peer.expect();
  assert.deepEqual(
    [b.id, b.first, b.owner, b.token, b.last],
    [2, 2, true, false, true],
  );

  // The peer answers in our conversation 1, starts its conversation 2 and
  // continues it with id 3.
  await peer.send({ id: 1, first: 1, owner: false, last: false, type: "T.R" });
  await peer.send({ id: 2, first: 2, owner: true, last: false, type: "T.N" });
  await peer.send({ id: 3, first: 2, owner: true, last: false, type: "T.M" });
  const r = await ours.receive();
  assert.deepEqual([r.conv, r.first, r.last], [
    { owner: true, firstId: 1 },
    false,
    false,
  ]);
  const n = await ours.receive();
  assert.deepEqual([n.conv, n.first], [{ owner: false, firstId: 2 }, true]);
  const m = await ours.receive();
  assert.deepEqual([m.conv, m.first], [{ owner: false, firstId: 2 }, false]);

  ours.sendNow("T.X", null, { conv: r.conv, last: false });
  ours.sendNow("T.Y", null, { conv: n.conv });
  const x = await peer.expect();
  assert.deepEqual([x.id, x.first, x.owner, x.last], [3, 1, true, false]);
  const y = await peer.expect();
  assert.deepEqual([y.id, y.first, y.owner, y.last], [4, 2, false, true]);
});

Deno.test("chatter: Ping is answered with Pong and never reaches the application", async () => {
  await using s = await chatterServer({ pingDelay: 0 });
  using peer = await RawPeer.connect(s.addr);
  const conn = await s.next();
  const got = collect(conn);

  await peer.send({ id: 1, first: 1, owner: true, last: false, type: PING });
  const pong = await peer.expect();
  assert.deepEqual(
    [pong.type, pong.id, pong.first, pong.owner, pong.last, pong.data.length],
    [PONG, 1, 1, false, true, 0],
  );

  // A stray Pong is dropped; the application sees only its own message.
  await peer.send({ id: 2, first: 2, type: PONG });
  await peer.send({ id: 3, first: 3, type: "T.App", last: false });
  await peer.send({ id: 4, first: 4, owner: true, last: false, type: PING });
  const pong2 = await peer.expect();
  assert.deepEqual([pong2.id, pong2.first, pong2.owner, pong2.last], [
    2,
    4,
    false,
    true,
  ]);
  peer.close();
  assert.ok(await deadline(got.done, 2000) instanceof ConnectionError);
  assert.deepEqual(got.msgs.map((m) => m.type), ["T.App"]);
  assert.deepEqual(got.msgs[0].conv, { owner: false, firstId: 3 });
});

Deno.test("chatter: the connecting side answers Ping too", async () => {
  using raw = new RawListener();
  await using ours = await chatter.connect(raw.addr, { pingDelay: 0 });
  using peer = await raw.accept();
  await peer.send({ id: 1, first: 1, last: false, type: PING });
  const pong = await peer.expect();
  assert.deepEqual([pong.type, pong.first, pong.owner, pong.last], [
    PONG,
    1,
    false,
    true,
  ]);
  assert.equal(ours.tryReceive(), undefined);
});

Deno.test("chatter: Ping after pingDelay of silence, close after pingTimeout without answer", async () => {
  using log = captureLog();
  using raw = new RawListener();
  const start = performance.now();
  await using ours = await chatter.connect(raw.addr, {
    pingDelay: 100,
    pingTimeout: 100,
  });
  using peer = await raw.accept();
  const ping = await peer.expect();
  const pingAt = performance.now();
  assert.deepEqual(
    [ping.type, ping.id, ping.first, ping.owner, ping.last],
    [PING, 1, 1, true, false],
  );
  assert.ok(pingAt - start >= 90, `ping after ${pingAt - start} ms`);
  assert.equal(ours.isOpen, true);

  await deadline(ours.waitClosing(), 2000, "ping timeout");
  const closedAfter = performance.now() - pingAt;
  assert.ok(closedAfter >= 80 && closedAfter < 1000, `${closedAfter} ms`);
  assert.ok(ours.closeReason instanceof ConnectionError);
  assert.match(ours.closeReason.message, /ping timeout/);
  await assert.rejects(ours.receive(), ConnectionError);
  await peer.eof();
  assert.ok(log.records.some((r) => /ping timeout/.test(r.text)));
});

Deno.test("chatter: any incoming message postpones Ping; a Pong keeps the connection", async () => {
  using raw = new RawListener();
  await using ours = await chatter.connect(raw.addr, {
    pingDelay: 150,
    pingTimeout: 100,
  });
  using peer = await raw.accept();
  const start = performance.now();
  const pingsAt: number[] = [];
  const reader = (async () => {
    for (;;) {
      const msg = await peer.recv();
      if (!msg) return;
      if (msg.type !== PING) throw new Error(`unexpected ${msg.type}`);
      pingsAt.push(performance.now() - start);
      await peer.send({
        id: 1000 + pingsAt.length,
        first: msg.first,
        owner: false,
        type: PONG,
      });
    }
  })();
  // Phase 1: traffic every 30 ms, so no Ping is due.
  for (let i = 0; i < 10; i++) {
    await peer.send({ type: "T.Keep" });
    await delay(30);
  }
  const phase1 = performance.now() - start;
  // Phase 2: silence; Pings come and are answered.
  await delay(500);
  assert.equal(ours.isOpen, true);
  assert.ok(pingsAt.every((t) => t > phase1), `pings at ${pingsAt}`);
  assert.ok(pingsAt.length >= 2, `pings at ${pingsAt}`);
  let keeps = 0;
  while (ours.tryReceive()) keeps++;
  assert.equal(keeps, 10);
  await ours.asyncClose();
  await deadline(reader, 2000);
});

Deno.test("chatter: a Ping goes out pingDelay after the last incoming data, at most a sixth late", async () => {
  using raw = new RawListener();
  const delayMs = 300;
  await using ours = await chatter.connect(raw.addr, {
    pingDelay: delayMs,
    pingTimeout: 5000,
  });
  using peer = await raw.accept();
  // One message a third into the first pingDelay, in the middle of a
  // check interval; then silence.
  await delay(delayMs / 3);
  await peer.send({ type: "T.Keep" });
  const sentAt = performance.now();
  const ping = await deadline(peer.expect(), 3000, "ping");
  const after = performance.now() - sentAt;
  assert.equal(ping.type, PING);
  assert.ok(after >= delayMs - 5, `ping ${after} ms after the data`);
  // 1/8 check interval + 1/64 grid = 0.164 of pingDelay, plus timer slack.
  assert.ok(after <= delayMs * 1.17 + 60, `ping ${after} ms after the data`);
  assert.ok(ours.tryReceive());
});

Deno.test("chatter: pingDelay 0 never pings", async () => {
  using raw = new RawListener();
  const ours = await chatter.connect(raw.addr, {
    pingDelay: 0,
    pingTimeout: 10,
  });
  using peer = await raw.accept();
  await delay(250);
  assert.equal(ours.isOpen, true);
  await ours.asyncClose();
  assert.deepEqual(await peer.eof(), []);
});

Deno.test("chatter: a full receive queue stops reading until the application catches up", async () => {
  const count = 400;
  const size = 64 * 1024;
  await using s = await chatterServer({ receiveQueueSize: 1 });
  await using client = await chatter.connect(s.addr);
  const conn = await s.next();
  for (let i = 0; i < count; i++) client.sendNow("T.Big", bytes(size, i));
  // 25 MB cannot fit into socket buffers: the writer must be stuck.
  const drained = client.drain();
  assert.ok(await stillPending(drained, 300), "reader did not stop");
  for (let i = 0; i < count; i++) {
    const msg = await deadline(conn.receive(), 5000);
    assert.equal(msg.data.length, size);
    assert.equal(msg.data[size - 1], i & 0xff);
  }
  await deadline(drained, 5000, "drain");
  assert.equal(client.backlog, 0);
  assert.equal(conn.tryReceive(), undefined);
});

Deno.test("chatter: send waits while the send queue is full; sendNow throws BackpressureError", async () => {
  const count = 400;
  const size = 64 * 1024;
  await using s = await chatterServer({ receiveQueueSize: 1 });
  await using client = await chatter.connect(s.addr, { sendQueueSize: 4 });
  const conn = await s.next();
  let sent = 0;
  const sender = (async () => {
    for (let i = 0; i < count; i++) {
      await client.send("T.Big", bytes(size, i));
      sent++;
    }
  })();
  await delay(300);
  assert.ok(sent < count, `all ${sent} sends completed`);
  assert.equal(client.backlog, 4);
  assert.throws(
    () => client.sendNow("T.Never", null),
    (e) => e instanceof BackpressureError && e instanceof ConnectionError,
  );
  const stuckAt = sent;
  await delay(50);
  assert.equal(sent, stuckAt);
  for (let i = 0; i < count; i++) {
    const msg = await deadline(conn.receive(), 5000);
    assert.equal(msg.type, "T.Big");
    assert.equal(msg.data[0], i & 0xff);
  }
  await deadline(sender, 5000);
  assert.equal(sent, count);
  await client.drain();
});

Deno.test("chatter: closing while stalled rejects drain and the waiting send", async () => {
  await using s = await chatterServer({ receiveQueueSize: 1 });
  const client = await chatter.connect(s.addr, { sendQueueSize: 2 });
  await s.next();
  const sender = (async () => {
    for (;;) await client.send("T.Big", bytes(64 * 1024, 1));
  })();
  await delay(200);
  const drained = client.drain();
  assert.ok(await stillPending(sender, 0));
  client.close();
  await assert.rejects(drained, ConnectionError);
  await assert.rejects(sender, ConnectionError);
  // The queued output lingers (bounded) until the peer goes away.
  await s.srv.asyncClose();
  await deadline(client.waitClosed(), 2000);
});

Deno.test("chatter: a header announcing 1 TB closes that connection before allocating", async () => {
  using log = captureLog();
  await using s = await chatterServer();
  using peer = await RawPeer.connect(s.addr);
  const conn = await s.next();
  const received = conn.receive();
  // 2^40 bytes: m = 6, k = 01 00 00 00 00 00.
  const tb = header(2n ** 40n);
  assert.deepEqual([...tb], [6, 1, 0, 0, 0, 0, 0]);
  await peer.write(tb);
  await assert.rejects(
    received,
    (e) => e instanceof ConnectionError && e.cause instanceof ProtocolError,
  );
  assert.ok(conn.closeReason instanceof ProtocolError);
  assert.match(conn.closeReason.message, /maximum/);
  await peer.eof();
  assert.ok(
    log.records.some((r) => r.text.includes(`:${peer.port}:`)),
    JSON.stringify(log.records),
  );
});

Deno.test("chatter: maxFrameSize is the largest accepted body", async () => {
  using _log = captureLog();
  await using s = await chatterServer({ maxFrameSize: 64 });
  using peer = await RawPeer.connect(s.addr);
  const conn = await s.next();
  const withBody = (size: number) => {
    for (let n = 0;; n++) {
      const f = frame({ id: 1, type: "T", data: new Uint8Array(n) });
      if (f.length - 1 - f[0] === size) return f;
    }
  };
  await peer.write(withBody(64));
  assert.equal((await conn.receive()).type, "T");
  await peer.write(withBody(65));
  await assert.rejects(conn.receive(), ConnectionError);
  assert.ok(conn.closeReason instanceof ProtocolError);
  await peer.eof();
});

Deno.test("chatter: a truncated frame then end of stream closes with a reason", async () => {
  using log = captureLog();
  await using s = await chatterServer();
  using peer = await RawPeer.connect(s.addr);
  const conn = await s.next();
  const whole = frame({ id: 1, type: "T.Whole" });
  const cut = frame({ id: 2, type: "T.Cut", data: new Uint8Array(10) });
  await peer.write(whole);
  await peer.write(cut.subarray(0, cut.length - 4));
  await peer.conn.closeWrite();
  await deadline(conn.waitClosing(), 2000);
  // What arrived whole before the close is still readable.
  assert.equal((await conn.receive()).type, "T.Whole");
  await assert.rejects(conn.receive(), ConnectionError);
  assert.ok(conn.closeReason instanceof ProtocolError, `${conn.closeReason}`);
  assert.ok(log.records.some((r) => r.text.includes(`:${peer.port}:`)));
});

Deno.test("chatter: a clean end of stream closes without a reason", async () => {
  await using s = await chatterServer();
  using peer = await RawPeer.connect(s.addr);
  const conn = await s.next();
  await peer.write(frame({ id: 1, type: "T.Whole" }));
  peer.close();
  await deadline(conn.waitClosing(), 2000);
  assert.equal(conn.closeReason, null);
  assert.equal((await conn.receive()).type, "T.Whole");
  await assert.rejects(conn.receive(), ConnectionError);
});

Deno.test("chatter: garbage bodies close only their own connection", async () => {
  using log = captureLog();
  await using s = await chatterServer();
  await using good = await chatter.connect(s.addr);
  const goodConn = await s.next();
  const garbage: [string, Uint8Array][] = [
    ["truncated integer", new Uint8Array([1, 4, 0xff, 0, 0, 0])],
    ["empty body", new Uint8Array([1, 0])],
    [
      "invalid UTF-8 type",
      (() => {
        const f = frame({ id: 1, type: "T.ab" });
        f[f.length - 3] = 0xff; // inside the type string
        return f;
      })(),
    ],
    [
      "trailing bytes",
      (() => {
        const f = frame({ id: 1, type: "T" });
        const g = new Uint8Array(f.length + 1);
        g.set(f);
        g[1] += 1;
        return g;
      })(),
    ],
    [
      "id beyond 2^53",
      (() => {
        const g = new Uint8Array(20).fill(0x7f);
        g[0] = 19;
        g[1] = 0x00;
        g[19] = 0xff;
        return g;
      })(),
    ],
  ];
  for (const [what, bytes] of garbage) {
    using peer = await RawPeer.connect(s.addr);
    const conn = await s.next();
    const received = conn.receive();
    await peer.write(bytes);
    await assert.rejects(received, ConnectionError, what);
    assert.ok(conn.closeReason instanceof ProtocolError, what);
    await peer.eof();
    assert.ok(
      log.records.some((r) => r.text.includes(`:${peer.port}:`)),
      what,
    );
  }
  // The well-behaved connection is untouched.
  good.sendNow("T.Still", null);
  assert.equal((await deadline(goodConn.receive(), 2000)).type, "T.Still");
  assert.equal(goodConn.isOpen, true);
});

Deno.test("chatter: after close, buffered messages are readable, then ConnectionError", async () => {
  await using s = await chatterServer();
  const client = await chatter.connect(s.addr);
  const conn = await s.next();
  conn.sendNow("T.1", null);
  conn.sendNow("T.2", null);
  await conn.drain();
  await conn.asyncClose();
  await deadline(client.waitClosing(), 2000);
  assert.equal((await client.receive()).type, "T.1");
  assert.equal(client.tryReceive()?.type, "T.2");
  await assert.rejects(client.receive(), ConnectionError);
  assert.throws(() => client.sendNow("T", null), ConnectionError);
  await assert.rejects(client.send("T", null), ConnectionError);
  await client.drain(); // nothing queued: resolves
  await client.waitClosed();
  assert.equal(client.isClosed, true);
});

Deno.test("chatter: a pending receive rejects with ConnectionError when closed", async () => {
  await using s = await chatterServer();
  const client = await chatter.connect(s.addr);
  await s.next();
  const pending = client.receive();
  assert.throws(() => client.receive(), /already pending/);
  client.close();
  await assert.rejects(pending, ConnectionError);
  await client.waitClosed();
});

Deno.test("chatter: connecting to a closed port or with an aborted signal fails", async () => {
  const listener = Deno.listen(LOCAL);
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    chatter.connect({ hostname: "127.0.0.1", port }),
    ConnectionError,
  );
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  await assert.rejects(
    chatter.connect({ hostname: "127.0.0.1", port }, {
      signal: controller.signal,
    }),
    /stop/,
  );
});

const haveOpenssl = await (async () => {
  try {
    const out = await new Deno.Command("openssl", {
      args: ["version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
})();

async function selfSigned(): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(new TextDecoder().decode(out.stderr));
    }
    return {
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      key: await Deno.readTextFile(`${dir}/key.pem`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: haveOpenssl
    ? "chatter: TLS with a self-signed certificate"
    : "chatter: TLS with a self-signed certificate (SKIPPED: openssl not available)",
  ignore: !haveOpenssl,
  async fn() {
    using _log = captureLog();
    const { cert, key } = await selfSigned();
    await using s = await chatterServer({ tls: { cert, key } });
    await using client = await chatter.connect(s.addr, {
      tls: { caCerts: [cert] },
    });
    const conv = client.sendNow("T.Secure", new Uint8Array([7]), {
      last: false,
    });
    const conn = await s.next();
    const msg = await deadline(conn.receive(), 2000);
    assert.deepEqual([msg.type, [...msg.data]], ["T.Secure", [7]]);
    conn.sendNow("T.Reply", null, { conv: msg.conv });
    const reply = await deadline(client.receive(), 2000);
    assert.deepEqual(reply.conv, conv);

    // A client that does not trust the certificate gets nothing through.
    const untrusting = await chatter.connect(s.addr, { tls: {} }).catch((e) =>
      e
    );
    if (untrusting instanceof Error) {
      assert.ok(untrusting instanceof ConnectionError);
    } else {
      // Deno completes the handshake on first use: the failure closes it.
      const done = gate<unknown>();
      untrusting.receive().then(done.resolve, done.resolve);
      assert.ok(await deadline(done.promise, 2000) instanceof ConnectionError);
      assert.match(String(untrusting.closeReason), /certificate|issuer/i);
      await untrusting.asyncClose();
    }
  },
});

Deno.test("chatter: a consumer gets the messages buffered before it and after, in order", async () => {
  await using s = await chatterServer();
  await using client = await chatter.connect(s.addr);
  const conn = await s.next();
  client.sendNow("T.1", null);
  client.sendNow("T.2", null);
  await client.drain();
  await delay(50); // both buffered before the consumer exists
  const seen: string[] = [];
  let calls = 0;
  const got = gate();
  conn.consume(() => {
    calls++;
    for (let m = conn.tryReceive(); m; m = conn.tryReceive()) {
      seen.push(m.type);
      if (m.type === "T.4") got.resolve();
    }
    return undefined;
  }, () => {});
  assert.throws(() => conn.receive(), /go to a consumer/);
  assert.throws(() => conn.consume(() => undefined, () => {}), /pending/);
  client.sendNow("T.3", null);
  client.sendNow("T.4", null);
  await deadline(got.promise, 2000);
  assert.deepEqual(seen, ["T.1", "T.2", "T.3", "T.4"]);
  // Called per arrival, not per message, and never while idle.
  assert.ok(calls >= 2 && calls <= 3, `${calls} calls`);
  await delay(30);
  assert.ok(calls <= 3);
});

Deno.test("chatter: a busy consumer is not called again until its promise settles, and stops the reading", async () => {
  const size = 64 * 1024;
  const count = 400;
  await using s = await chatterServer({ receiveQueueSize: 1 });
  await using client = await chatter.connect(s.addr);
  const conn = await s.next();
  let room = gate();
  let taken = 0;
  let busyCalls = 0;
  let busy = false;
  conn.consume(() => {
    if (busy) busyCalls++;
    const m = conn.tryReceive();
    if (!m) return undefined;
    taken++;
    busy = true;
    room = gate();
    return room.promise.then(() => {
      busy = false;
    });
  }, () => {});
  for (let i = 0; i < count; i++) client.sendNow("T.Big", bytes(size, i));
  const drained = client.drain();
  assert.ok(await stillPending(drained, 300), "reader did not stop");
  assert.equal(taken, 1);
  while (taken < count) {
    const before = taken;
    room.resolve();
    await deadline(
      (async () => {
        while (taken === before) await delay(0);
      })(),
      5000,
    );
  }
  room.resolve();
  await deadline(drained, 5000, "drain");
  assert.equal(busyCalls, 0);
});

Deno.test("chatter: a consumer that throws closes the connection; end is called once, after close", async () => {
  await using s = await chatterServer();
  await using client = await chatter.connect(s.addr);
  const conn = await s.next();
  const seen: string[] = [];
  let ends = 0;
  const ended = gate();
  conn.consume(() => {
    for (let m = conn.tryReceive(); m; m = conn.tryReceive()) {
      seen.push(m.type);
      if (m.type === "T.bad") throw new Error("cannot handle T.bad");
    }
    return undefined;
  }, () => {
    ends++;
    assert.equal(conn.isOpen, false);
    ended.resolve();
  });
  using _log = captureLog();
  client.sendNow("T.ok", null);
  client.sendNow("T.bad", null);
  client.sendNow("T.after", null);
  await deadline(ended.promise, 2000);
  await conn.waitClosed();
  assert.equal(ends, 1);
  assert.match(conn.closeReason?.message ?? "", /cannot handle T.bad/);
  // Nothing was handed over after the failure.
  assert.equal(seen.includes("T.after"), false);
});

Deno.test("chatter: after close a consumer still gets what was buffered; the group waits for end", async () => {
  await using s = await chatterServer();
  const client = await chatter.connect(s.addr);
  const conn = await s.next();
  const seen: string[] = [];
  const finish = gate();
  let endedAt = -1;
  let hold = gate();
  client.consume(() => {
    // Busy until released: T.2 is still buffered when the peer closes.
    const m = client.tryReceive();
    if (m) seen.push(m.type);
    hold = gate();
    return hold.promise;
  }, () => {
    endedAt = seen.length;
    return finish.promise;
  });
  conn.sendNow("T.1", null);
  conn.sendNow("T.2", null);
  await conn.drain();
  await conn.asyncClose();
  await deadline(client.waitClosing(), 2000);
  assert.deepEqual(seen, ["T.1"]);
  hold.resolve();
  await delay(10);
  hold.resolve();
  const closed = client.waitClosed();
  assert.ok(await stillPending(closed, 100), "closed before end settled");
  assert.deepEqual(seen, ["T.1", "T.2"]);
  assert.equal(endedAt, 2);
  finish.resolve();
  await deadline(closed, 2000);
});

Deno.test("chatter: released messages let receive buffers be filled again; unreleased ones are never overwritten", async () => {
  await using s = await chatterServer();
  await using client = await chatter.connect(s.addr);
  const conn = await s.next();
  const count = 300;
  const sizeOf = (i: number) => (i % 4 === 0 ? 70_000 : 200 + i);
  const pattern = (i: number) =>
    new Uint8Array(sizeOf(i)).map((_, j) => (i * 7 + j) & 0xff);
  const kept: { i: number; data: Uint8Array }[] = [];
  let seen = 0;
  const done = gate();
  conn.consume(() => {
    for (let m = conn.tryReceive(); m; m = conn.tryReceive()) {
      const i = seen++;
      assert.deepEqual(m.data, pattern(i), `message ${i}`);
      // Every 7th is kept (like a binary payload view), the rest released.
      if (i % 7 === 0) kept.push({ i, data: m.data });
      else conn.release(m);
      if (seen === count) done.resolve();
    }
    return undefined;
  }, () => {});
  for (let i = 0; i < count; i++) {
    client.sendNow("T.data", pattern(i));
    // Bursts and pauses: drained sockets between frames, as under load.
    if (i % 10 === 9) await delay(i % 20 === 19 ? 60 : 0);
  }
  await deadline(done.promise, 10_000);
  for (const { i, data } of kept) {
    assert.deepEqual(data, pattern(i), `kept ${i}`);
  }
});

Deno.test("chatter: one unreleased message keeps its whole receive buffer from being refilled", async () => {
  await using s = await chatterServer();
  await using client = await chatter.connect(s.addr);
  const conn = await s.next();
  // Each burst: small messages, then a large frame still arriving while
  // the small ones are handled (and all but the very first released).
  const sizeOf = (i: number) => (i % 41 === 40 ? 300_000 : 1000);
  const pattern = (i: number) =>
    new Uint8Array(sizeOf(i)).map((_, j) => (i * 13 + j) & 0xff);
  let kept: Uint8Array | null = null;
  let seen = 0;
  let arrived = gate();
  conn.consume(() => {
    for (let m = conn.tryReceive(); m; m = conn.tryReceive()) {
      const i = seen++;
      assert.deepEqual(m.data, pattern(i), `message ${i}`);
      if (i === 0) kept = m.data;
      else conn.release(m);
      if (seen % 41 === 0) arrived.resolve();
    }
    return undefined;
  }, () => {});
  for (let burst = 0; burst < 6; burst++) {
    for (let i = 0; i < 41; i++) {
      client.sendNow("T.data", pattern(burst * 41 + i));
    }
    await deadline(arrived.promise, 5000);
    arrived = gate();
    await delay(5); // less than the spare's lifetime
    assert.deepEqual(kept, pattern(0), `after burst ${burst}`);
  }
});

Deno.test("chatter: small request/response traffic alternates between two receive buffers; an unreleased one is left alone", async () => {
  await using s = await chatterServer();
  await using client = await chatter.connect(s.addr);
  const conn = await s.next();
  const pattern = (i: number) =>
    new Uint8Array(100 + (i % 30)).map((_, j) => (i * 11 + j) & 0xff);
  const buffers = new Set<ArrayBufferLike>();
  let kept: { i: number; data: Uint8Array } | null = null;
  let seen = 0;
  conn.consume(() => {
    for (let m = conn.tryReceive(); m; m = conn.tryReceive()) {
      const i = seen++;
      assert.deepEqual(m.data, pattern(i), `message ${i}`);
      buffers.add(m.data.buffer);
      // One message of the second half is held, like a binary payload.
      if (i === 300) kept = { i, data: m.data };
      else conn.release(m);
      conn.sendNow("T.ack", null, { conv: m.conv });
    }
    return undefined;
  }, () => {});
  let answered = gate();
  client.consume(() => {
    for (let m = client.tryReceive(); m; m = client.tryReceive()) {
      client.release(m);
      answered.resolve();
    }
    return undefined;
  }, () => {});
  for (let i = 0; i < 600; i++) {
    client.sendNow("T.data", pattern(i), { last: false });
    await deadline(answered.promise, 2000);
    answered = gate();
    if (i === 299) {
      // Idle reads at the start use a few buffers at most; then two.
      assert.ok(buffers.size <= 3, `${buffers.size} buffers for 300 messages`);
    }
  }
  // The held message's buffer is replaced by a new one, not refilled.
  assert.ok(buffers.size <= 5, `${buffers.size} buffers for 600 messages`);
  assert.deepEqual(kept!.data, pattern(kept!.i));
});

Deno.test("chatter: a receive buffer let go of after a pause serves another connection's frames; unreleased ones never do", async () => {
  await using s = await chatterServer();
  await using clientA = await chatter.connect(s.addr);
  const connA = await s.next();
  await using clientB = await chatter.connect(s.addr);
  const connB = await s.next();
  const size = 150_000;
  const pattern = (i: number) =>
    new Uint8Array(size).map((_, j) => (i * 29 + j) & 0xff);
  // Buffers of released messages, and of kept ones (like binary payload
  // views), by connection.
  const released = new Map<ArrayBufferLike, string>();
  const keptBuffers = new Set<ArrayBufferLike>();
  const kept: { i: number; data: Uint8Array }[] = [];
  let crossed = 0;
  let arrived = gate();
  const consumer = (conn: Connection, name: string) => () => {
    for (let m = conn.tryReceive(); m; m = conn.tryReceive()) {
      const i = Number(m.type.slice(2));
      assert.deepEqual(m.data, pattern(i), `message ${i} on ${name}`);
      const buffer = m.data.buffer;
      assert.ok(!keptBuffers.has(buffer), `${name} got a kept buffer`);
      const before = released.get(buffer);
      if (before !== undefined && before !== name) crossed++;
      // Every third message A receives is kept.
      if (name === "A" && i % 3 === 0) {
        kept.push({ i, data: m.data });
        keptBuffers.add(buffer);
      } else {
        released.set(buffer, name);
        conn.release(m);
      }
      arrived.resolve();
    }
    return undefined;
  };
  connA.consume(consumer(connA, "A"), () => {});
  connB.consume(consumer(connB, "B"), () => {});
  for (let i = 0; i < 12; i++) {
    // Alternately to A and B, each after a pause longer than a
    // connection keeps its spare buffer (SPARE_MS).
    (i % 2 === 0 ? clientA : clientB).sendNow(`T.${i}`, pattern(i));
    await deadline(arrived.promise, 5000);
    arrived = gate();
    await delay(120);
  }
  for (const { i, data } of kept) {
    assert.deepEqual(data, pattern(i), `kept ${i}`);
  }
  assert.ok(crossed > 0, "no receive buffer served both connections");
});
