// Error codes (issue 29): each code of ErrorCode produced where it can be,
// over real sockets: a closed port, an HTTP server, TLS on one side only,
// a silent peer, a refused init, a subscriber that does not read, a busy
// port, malformed bytes, a client that never inits, a reconnecting client
// that gives up or holds too much. Each checks the code, the cause and
// that the message says what to do.

import assert from "node:assert/strict";
import {
  BackpressureError,
  connect,
  ConnectionError,
  connectReconnecting,
  ErrorCode,
  type Event,
  EventerError,
  EventerInitError,
  InvalidQueryTypeError,
  listen,
  ProtocolError,
  ReconnectingQueueFullError,
  SbsError,
} from "../mod.ts";
import { EventServerError, startEventServer } from "../event_server/mod.ts";
import type { Address } from "../common/chatter/mod.ts";
import * as m from "../common/eventer/mod.ts";
import { CA_PEM, CERT_PEM, KEY_PEM } from "./_certs.ts";
import {
  captureLog,
  deadline,
  frame,
  header,
  initReq,
  LOCAL,
  RawListener,
  RawPeer,
  until,
} from "./_net.ts";

// A loopback address nothing listens on (bound, then closed).
function freeAddress(): Address {
  const probe = Deno.listen(LOCAL);
  const { hostname, port } = probe.addr as Deno.NetAddr;
  probe.close();
  return { hostname, port };
}

// Asserts that `e` is an EventerError of `code` (and of `type`), and
// returns it.
function coded<T extends EventerError>(
  e: unknown,
  code: ErrorCode,
  type: abstract new (...args: never[]) => T,
): T {
  assert.ok(e instanceof type, `${e}`);
  assert.ok(e instanceof EventerError);
  assert.equal(e.code, code, e.message);
  return e;
}

// What `promise` rejects with (it must reject).
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await deadline(promise, 5000, "a rejection");
  } catch (e) {
    return e;
  }
  throw new Error("resolved instead of rejecting");
}

// A raw server side: accepts one client, answers its init with success,
// then does what the test says (or nothing at all).
function rawServer(): {
  addr: Address;
  peer: Promise<RawPeer>;
  listener: RawListener;
} {
  const listener = new RawListener();
  const peer = (async () => {
    const p = await listener.accept();
    const init = await p.expect();
    await p.write(frame({
      id: 1,
      first: init.first,
      owner: false,
      type: m.MsgType.InitRes,
      data: (w) => m.writeInitRes(w, { type: "success", status: "standby" }),
    }));
    return p;
  })();
  return { addr: listener.addr, peer, listener };
}

// A raw client that completed the init handshake, and then reads nothing.
async function rawClient(addr: Address, name = "raw"): Promise<RawPeer> {
  const peer = await RawPeer.connect(addr);
  await peer.send({
    type: m.MsgType.InitReq,
    last: false,
    data: (w) =>
      m.writeInitReq(
        w,
        initReq({ clientName: name, subscriptions: [["*"]] }),
      ),
  });
  assert.equal((await peer.expect()).type, m.MsgType.InitRes);
  return peer;
}

// The library's log lines closing a connection for `code`.
function closedFor(records: { text: string }[], code: ErrorCode): string[] {
  return records.map((r) => r.text).filter((t) =>
    t.startsWith("closing connection") && t.endsWith(`[${code}]`)
  );
}

Deno.test("errors: ErrorCode names each code by itself, and EventerError carries one", () => {
  for (const [key, value] of Object.entries(ErrorCode)) {
    assert.equal(key, value);
  }
  const cause = new Error("under");
  const e = new EventerError("x", { code: "CLOSED", cause });
  assert.deepEqual([e.name, e.code, e.cause], [
    "EventerError",
    "CLOSED",
    cause,
  ]);
  // Each class has its default, and keeps its 0.1 base.
  assert.equal(new ConnectionError().code, "CLOSED");
  assert.equal(new ProtocolError("p").code, "PROTOCOL");
  assert.equal(new BackpressureError().code, "BACKPRESSURE");
  assert.ok(new BackpressureError() instanceof ConnectionError);
  assert.equal(new EventerInitError("no").code, "INIT_REFUSED");
  assert.equal(new EventerInitError("no").message, "no");
  assert.equal(new SbsError("bad", 3).code, "PROTOCOL");
  assert.equal(new ReconnectingQueueFullError(1).code, "QUEUE_FULL");
  assert.equal(
    new InvalidQueryTypeError(["*", "a"]).code,
    "INVALID_QUERY_TYPE",
  );
  assert.equal(new EventServerError("e").code, "STORE");
});

Deno.test("errors: CONNECTION_REFUSED for a port nothing listens on, with Deno's error as cause", async () => {
  const addr = freeAddress();
  const e = coded(
    await rejection(connect(addr, "c")),
    "CONNECTION_REFUSED",
    ConnectionError,
  );
  assert.ok(e.cause instanceof Deno.errors.ConnectionRefused);
  assert.match(
    e.message,
    new RegExp(
      `^cannot connect to 127\\.0\\.0\\.1:${addr.port}: .*is the Event Server running`,
    ),
  );
});

Deno.test("errors: NOT_EVENTER for an HTTP server, quoting its answer", async () => {
  using _log = captureLog();
  await using http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("hello"),
  );
  const e = coded(
    await rejection(connect(http.addr, "c")),
    "NOT_EVENTER",
    ConnectionError,
  );
  // The connection's reason, as the cause, is what the peer sent.
  coded(e.cause, "NOT_EVENTER", ProtocolError);
  assert.match(
    e.message,
    /^127\.0\.0\.1:\d+ is not speaking Chatter: it answered "HTTP\/1\.1 400 Bad Request" \(a web server\)/,
  );
  assert.match(e.message, /is this a Hat Event Server port\?/);
});

Deno.test("errors: NOT_EVENTER for a peer that sends a banner and waits, once connectTimeout passes", async () => {
  using listener = new RawListener();
  const served = (async () => {
    using peer = await listener.accept();
    await peer.write(new TextEncoder().encode("SSH-2.0-OpenSSH_9.6\r\n"));
    await peer.eof(5000).catch(() => {});
  })();
  const e = coded(
    await rejection(connect(listener.addr, "c", { connectTimeout: 200 })),
    "NOT_EVENTER",
    ConnectionError,
  );
  coded(e.cause, "NOT_EVENTER", ProtocolError);
  assert.match(e.message, /it answered "SSH-2\.0-OpenSSH_9\.6"/);
  await served;
});

Deno.test("errors: CONNECT_TIMEOUT for a server that accepts and never answers", async () => {
  using listener = new RawListener();
  const e = coded(
    await rejection(connect(listener.addr, "c", { connectTimeout: 100 })),
    "CONNECT_TIMEOUT",
    ConnectionError,
  );
  assert.match(e.message, /timed out after 100 ms \(connectTimeout\)/);
});

Deno.test("errors: TLS for a TLS client on a plain port, on both sides", async () => {
  using log = captureLog();
  await using server = await listen(LOCAL);
  const e = coded(
    await rejection(
      connect(server.addresses[0], "c", { tls: { caCerts: [CA_PEM] } }),
    ),
    "TLS",
    ConnectionError,
  );
  assert.ok(e.cause instanceof Error);
  assert.match(
    e.message,
    /^TLS handshake with .* is this a plain \(non-TLS\) port\?/,
  );
  await until(() => closedFor(log.records, "TLS").length > 0);
  assert.match(
    closedFor(log.records, "TLS")[0],
    /the client started a TLS handshake on this plain port/,
  );
});

Deno.test("errors: TLS for a plain client on a TLS port, on both sides", async () => {
  using log = captureLog();
  await using server = await listen(LOCAL, {
    tls: { cert: CERT_PEM, key: KEY_PEM },
  });
  const e = coded(
    await rejection(connect(server.addresses[0], "c")),
    "TLS",
    ConnectionError,
  );
  assert.match(
    e.message,
    /answered in TLS \(a TLS alert\): it is a TLS port; connect with tls/,
  );
  await until(() => closedFor(log.records, "TLS").length > 0);
  assert.match(
    closedFor(log.records, "TLS")[0],
    /the client is not speaking TLS/,
  );
});

Deno.test("errors: TLS for a certificate the client does not trust", async () => {
  using _log = captureLog();
  await using server = await listen(LOCAL, {
    tls: { cert: CERT_PEM, key: KEY_PEM },
  });
  const e = coded(
    await rejection(connect(server.addresses[0], "c", { tls: {} })),
    "TLS",
    ConnectionError,
  );
  assert.match(e.message, /UnknownIssuer.*not trusted here.*tls\.caCerts/);
  // Trusted, it connects.
  await using ok = await connect(server.addresses[0], "c", {
    tls: { caCerts: [CA_PEM] },
  });
  assert.ok(ok.isOpen);
});

Deno.test("errors: TLS for a certificate listen cannot use", async () => {
  const e = coded(
    await rejection(listen(LOCAL, { tls: { cert: "not PEM", key: KEY_PEM } })),
    "TLS",
    EventerError,
  );
  assert.match(e.message, /check the TLS certificate and key/);
});

Deno.test("errors: INIT_REFUSED with the server's text", async () => {
  await using server = await listen(LOCAL, {
    connectedCb: () => {
      throw new Error("invalid client token");
    },
  });
  const e = coded(
    await rejection(connect(server.addresses[0], "c")),
    "INIT_REFUSED",
    EventerInitError,
  );
  assert.equal(e.message, "invalid client token");
});

Deno.test("errors: PING_TIMEOUT for a silent server, on the request pending meanwhile", async () => {
  using _log = captureLog();
  const raw = rawServer();
  using _listener = raw.listener;
  await using client = await connect(raw.addr, "c", {
    pingDelay: 50,
    pingTimeout: 100,
  });
  using _peer = await raw.peer;
  const e = coded(
    await rejection(client.query({ kind: "latest" })),
    "PING_TIMEOUT",
    ConnectionError,
  );
  coded(e.cause, "PING_TIMEOUT", ConnectionError);
  assert.match(e.message, /ping timeout: nothing received within 100 ms/);
  // And what is asked afterwards fails the same way.
  coded(
    await rejection(client.query({ kind: "latest" })),
    "PING_TIMEOUT",
    ConnectionError,
  );
});

Deno.test("errors: PING_TIMEOUT for a silent client, as the server's disconnectedCb reason", async () => {
  using _log = captureLog();
  const reasons: ConnectionError[] = [];
  await using server = await listen(LOCAL, {
    pingDelay: 50,
    pingTimeout: 100,
    disconnectedCb: (_info, reason) => void reasons.push(reason),
  });
  using _peer = await rawClient(server.addresses[0]);
  await until(() => reasons.length > 0, 3000, "the disconnect");
  coded(reasons[0], "PING_TIMEOUT", ConnectionError);
});

Deno.test("errors: PROTOCOL for a malformed frame, with the SbsError under it", async () => {
  using _log = captureLog();
  const raw = rawServer();
  using _listener = raw.listener;
  await using client = await connect(raw.addr, "c");
  using peer = await raw.peer;
  const pending = client.query({ kind: "latest" });
  await peer.write(new Uint8Array([1, 4, 0xff, 0, 0, 0]));
  const e = coded(await rejection(pending), "PROTOCOL", ConnectionError);
  const reason = coded(e.cause, "PROTOCOL", ProtocolError);
  assert.ok(reason.cause instanceof SbsError);
  assert.match(reason.message, /^malformed frame/);
});

Deno.test("errors: FRAME_TOO_LARGE for a frame beyond maxFrameSize, after the first one", async () => {
  using log = captureLog();
  const raw = rawServer();
  using _listener = raw.listener;
  await using client = await connect(raw.addr, "c", { maxFrameSize: 1024 });
  using peer = await raw.peer;
  const pending = client.query({ kind: "latest" });
  await peer.write(header(2n ** 20n));
  const e = coded(await rejection(pending), "FRAME_TOO_LARGE", ConnectionError);
  coded(e.cause, "FRAME_TOO_LARGE", ProtocolError);
  assert.match(
    e.message,
    /more than the 1024-byte maximum.*raise maxFrameSize/,
  );

  // On a server, a first frame beyond initMaxFrameSize is one too (a
  // Chatter header, not some other protocol).
  await using server = await listen(LOCAL, { initMaxFrameSize: 1024 });
  using big = await RawPeer.connect(server.addresses[0]);
  await big.write(header(2n ** 20n));
  await big.eof();
  await until(() => closedFor(log.records, "FRAME_TOO_LARGE").length > 1);
});

Deno.test("errors: NOT_EVENTER on a server for an HTTP request, at once or at initTimeout", async () => {
  using log = captureLog();
  await using server = await listen(LOCAL, { initTimeout: 200 });
  const addr = server.addresses[0];
  using curl = await RawPeer.connect(addr);
  await curl.write(new TextEncoder().encode(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${addr.port}\r\n` +
      "User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
  ));
  await curl.eof();
  // A request too short for a frame header: seen at the init deadline.
  using short = await RawPeer.connect(addr);
  await short.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
  await short.eof();
  const lines = closedFor(log.records, "NOT_EVENTER");
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(
    lines[0],
    /the client is not speaking Chatter: it sent "GET \/ HTTP\/1\.1": not a Hat Eventer client/,
  );
  assert.match(lines[1], /it sent "GET \/ HTTP\/1\.0"/);
});

Deno.test("errors: INIT_TIMEOUT for a client that sends nothing", async () => {
  using log = captureLog();
  await using server = await listen(LOCAL, { initTimeout: 100 });
  using silent = await RawPeer.connect(server.addresses[0]);
  await silent.eof();
  await until(() => closedFor(log.records, "INIT_TIMEOUT").length > 0);
  assert.match(
    closedFor(log.records, "INIT_TIMEOUT")[0],
    /no MsgInitReq within 100 ms \(initTimeout\)/,
  );
});

Deno.test("errors: SLOW_CONSUMER for a subscriber that stops reading, as the disconnectedCb reason", async () => {
  using log = captureLog();
  const reasons: ConnectionError[] = [];
  await using server = await listen(LOCAL, {
    status: "operational",
    sendQueueSize: 4,
    sendQueueBytes: 1 << 20,
    disconnectedCb: (_info, reason) => void reasons.push(reason),
  });
  using _slow = await rawClient(server.addresses[0], "slow");
  const data = new Uint8Array(1 << 20);
  const big: Event[] = [{
    id: { server: 1, session: 1, instance: 1 },
    type: ["big"],
    timestamp: { s: 1700000000, us: 0 },
    sourceTimestamp: null,
    payload: { kind: "binary", type: "blob", data },
  }];
  // The socket's buffers take some megabytes first.
  for (let i = 0; i < 200 && reasons.length === 0; i++) {
    await server.notifyEvents(big, false);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await until(() => reasons.length > 0, 3000, "the slow consumer cut");
  const e = coded(reasons[0], "SLOW_CONSUMER", ConnectionError);
  const reason = coded(e.cause, "SLOW_CONSUMER", BackpressureError);
  assert.match(
    reason.message,
    /^slow consumer: send queue full .*client slow does not read/,
  );
  assert.equal(closedFor(log.records, "SLOW_CONSUMER").length, 1);
});

Deno.test("errors: CALLBACK_FAILED for a registerCb that throws, as the disconnectedCb reason", async () => {
  using _log = captureLog();
  const boom = new Error("boom");
  const reasons: ConnectionError[] = [];
  await using server = await listen(LOCAL, {
    registerCb: () => {
      throw boom;
    },
    disconnectedCb: (_info, reason) => void reasons.push(reason),
  });
  await using client = await connect(server.addresses[0], "c");
  // The client only sees the server close.
  coded(
    await rejection(client.register([{ type: ["a"] }], true)),
    "CLOSED",
    ConnectionError,
  );
  await until(() => reasons.length > 0);
  const e = coded(reasons[0], "CALLBACK_FAILED", ConnectionError);
  const reason = coded(e.cause, "CALLBACK_FAILED", EventerError);
  assert.equal(reason.cause, boom);
  assert.match(
    reason.message,
    /handling HatEventer\.MsgRegisterReq failed: boom/,
  );
});

Deno.test("errors: CLOSED for a request after close, and for a client closed by the server", async () => {
  await using server = await listen(LOCAL);
  const client = await connect(server.addresses[0], "c");
  await client.asyncClose();
  const e = coded(
    await rejection(client.query({ kind: "latest" })),
    "CLOSED",
    ConnectionError,
  );
  assert.equal(e.cause, undefined);

  const other = await connect(server.addresses[0], "c");
  const pending = other.query({ kind: "latest" }, {});
  await server.asyncClose();
  // Answered before the close, or closed: never anything but CLOSED.
  await pending.then(() => {}, (err) => coded(err, "CLOSED", ConnectionError));
  await other.waitClosed();
  coded(
    await rejection(other.register([{ type: ["a"] }])),
    "CLOSED",
    ConnectionError,
  );
});

Deno.test("errors: ADDRESS_IN_USE from listen and startEventServer on a busy port", async () => {
  await using first = await listen(LOCAL);
  const busy = first.addresses[0];
  const e = coded(
    await rejection(listen(busy)),
    "ADDRESS_IN_USE",
    EventerError,
  );
  assert.ok(e.cause instanceof Deno.errors.AddrInUse);
  assert.match(
    e.message,
    new RegExp(
      `^cannot listen on 127\\.0\\.0\\.1:${busy.port}: .*choose another port`,
    ),
  );
  const s = coded(
    await rejection(startEventServer({ db: ":memory:", port: busy.port })),
    "ADDRESS_IN_USE",
    EventServerError,
  );
  // The same message as listen's; its error is the cause.
  assert.equal(s.message, e.message);
  coded(s.cause, "ADDRESS_IN_USE", EventerError);
});

Deno.test("errors: LISTEN_FAILED for an address that is not this host's", async () => {
  const e = coded(
    await rejection(listen({ hostname: "192.0.2.1", port: 0 })),
    "LISTEN_FAILED",
    EventerError,
  );
  assert.ok(e.cause instanceof Error);
  assert.match(e.message, /^cannot listen on 192\.0\.2\.1:0: /);
});

Deno.test("errors: DATABASE_IN_USE and STORE from startEventServer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "errors_test_" });
  try {
    const db = `${dir}/events.db`;
    await using _first = await startEventServer({ db, port: 0 });
    const e = coded(
      await rejection(startEventServer({ db, port: 0 })),
      "DATABASE_IN_USE",
      EventServerError,
    );
    coded(e.cause, "DATABASE_IN_USE", EventerError);
    coded(
      await rejection(
        startEventServer({ db: `${dir}/no/such/dir.db`, port: 0 }),
      ),
      "STORE",
      EventServerError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors: QUEUE_FULL and GAVE_UP from the reconnecting client", async () => {
  using _log = captureLog();
  const addr = freeAddress();
  const rc = connectReconnecting(addr, "rc", {
    maxPending: 1,
    minDelay: 10_000,
    maxDelay: 10_000,
  });
  const held = rc.query({ kind: "latest" });
  held.catch(() => {});
  const full = coded(
    await rejection(rc.query({ kind: "latest" })),
    "QUEUE_FULL",
    ReconnectingQueueFullError,
  );
  assert.ok(full instanceof BackpressureError);
  await rc.asyncClose();
  coded(await rejection(held), "CLOSED", ConnectionError);

  const once = connectReconnecting(addr, "rc", { maxReconnectAttempts: 0 });
  const e = coded(
    await rejection(once.query({ kind: "latest" })),
    "GAVE_UP",
    ConnectionError,
  );
  coded(e.cause, "CONNECTION_REFUSED", ConnectionError);
  assert.match(e.message, /^reconnecting client rc gave up: cannot connect/);
  await once.waitClosed();
});

Deno.test("errors: INVALID_QUERY_TYPE; argument checks stay TypeError and RangeError, without a code", async () => {
  await using server = await listen(LOCAL);
  await using client = await connect(server.addresses[0], "c");
  const e = coded(
    await rejection(
      client.query({ kind: "latest", eventTypes: [["*", "a"]] }),
    ),
    "INVALID_QUERY_TYPE",
    InvalidQueryTypeError,
  );
  assert.match(e.message, /^params\.eventTypes\[0\]/);
  const bad = await rejection(
    client.register([{ type: "a" as unknown as string[] }]),
  );
  assert.ok(bad instanceof TypeError && !(bad instanceof EventerError));
  assert.equal("code" in bad, false);
  const range = await rejection(
    client.query({ kind: "timeseries", maxResults: 0 }),
  );
  assert.ok(range instanceof RangeError && !("code" in range));
});
