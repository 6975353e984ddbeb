// Bad input over real sockets: each offence closes only the offending
// connection, with a logged reason, while a well-behaved client keeps
// working; a client fed garbage rejects what it was waiting for.

import assert from "node:assert/strict";
import { type Client, connect } from "../client.ts";
import { ConnectionError, ProtocolError } from "../common/chatter/mod.ts";
import {
  MsgType,
  readInitReq,
  writeInitReq,
  writeInitRes,
  writeQueryParams,
} from "../common/eventer/mod.ts";
import type { Event } from "../common/event/mod.ts";
import { listen } from "../server.ts";
import {
  captureLog,
  deadline,
  decode,
  encode,
  ev,
  frame,
  header,
  initReq,
  LOCAL,
  type LogRecord,
  RawListener,
  RawPeer,
  until,
} from "./_net.ts";

/** An InitReq frame, as a raw client's first message. */
const INIT = frame({
  id: 1,
  last: false,
  type: MsgType.InitReq,
  data: (w) => writeInitReq(w, initReq({ clientName: "offender" })),
});

const TB = header(2n ** 40n);

/** A server, a well-behaved client querying all along, and log capture. */
async function serve() {
  const log = captureLog();
  let instance = 0;
  const server = await listen(LOCAL, {
    status: "operational",
    registerCb: (_info, events) =>
      events.map((e) => ev(e.type, ++instance, 1, { payload: e.payload })),
    queryCb: () => ({ events: [ev(["q"], 0)], moreFollows: false }),
  });
  const addr = server.addresses[0];
  const notified: Event[][] = [];
  const good = await connect(addr, "good", {
    subscriptions: [["*"]],
    eventsCb: (_c, events) => void notified.push(events),
  });
  // Concurrent traffic from the good client during the whole test.
  let stop = false;
  let queries = 0;
  const background = (async () => {
    while (!stop) {
      await good.query({ kind: "latest" });
      queries++;
    }
  })();
  return {
    server,
    addr,
    good,
    log: log.records,
    /** A raw TCP peer that completed the init handshake. */
    async initialised(): Promise<RawPeer> {
      const peer = await RawPeer.connect(addr);
      await peer.write(INIT);
      const res = await peer.expect();
      assert.equal(res.type, MsgType.InitRes);
      await until(() => server.getConnInfos().length === 2);
      return peer;
    },
    /** The peer is closed by the server, with a reason logged for it. */
    async assertClosed(peer: RawPeer, reason: RegExp): Promise<void> {
      await peer.eof();
      await until(() =>
        log.records.some((r) => r.text.includes(`:${peer.port}:`))
      );
      const mine = log.records.filter((r) => r.text.includes(`:${peer.port}:`));
      assert.ok(
        mine.some((r) => r.level === "warn" && reason.test(r.text)),
        JSON.stringify(mine),
      );
      await until(() => server.getConnInfos().length === 1);
    },
    /** The good client still registers, queries and is notified. */
    async assertHealthy(): Promise<void> {
      const before = queries;
      await until(() => queries > before + 1, 2000, "background queries");
      const events = await good.register([{ type: ["ok"] }], true);
      assert.deepEqual(events?.map((e) => e.type), [["ok"]]);
      assert.deepEqual(await good.query({ kind: "latest" }), {
        events: [ev(["q"], 0)],
        moreFollows: false,
      });
      await deadline(server.notifyEvents(events!, false, true), 2000);
      assert.deepEqual(notified.at(-1), events);
      assert.deepEqual(server.getConnInfos().map((i) => i.clientName), [
        "good",
      ]);
    },
    async [Symbol.asyncDispose](): Promise<void> {
      stop = true;
      await background;
      await good.asyncClose();
      await server.asyncClose();
      log[Symbol.dispose]();
    },
  };
}

Deno.test("bad input: truncated frames, before and after init", async () => {
  await using s = await serve();
  for (const cut of [1, 3, INIT.length - 1]) {
    using peer = await RawPeer.connect(s.addr);
    await peer.write(INIT.subarray(0, cut));
    await peer.conn.closeWrite();
    await s.assertClosed(peer, /inside a frame/);
  }
  using peer = await s.initialised();
  const req = frame({
    id: 2,
    last: false,
    type: MsgType.QueryReq,
    data: (w) => writeQueryParams(w, { kind: "latest" }),
  });
  await peer.write(req.subarray(0, req.length - 2));
  await peer.conn.closeWrite();
  await s.assertClosed(peer, /inside a frame/);
  await s.assertHealthy();
});

Deno.test("bad input: garbage bodies", async () => {
  await using s = await serve();
  const garbage = [
    new Uint8Array([1, 4, 0xff, 0, 0, 0]),
    new Uint8Array([1, 0]),
    new Uint8Array([2, 0, 3, 0x81, 0x81, 0x05]),
    (() => {
      const f = frame({ id: 1, type: MsgType.InitReq });
      f[f.length - 2] = 0xc3; // invalid UTF-8 in the type name
      return f;
    })(),
    new Uint8Array([4, 1, 0, 0, 0]), // 16 MiB: beyond initMaxFrameSize
  ];
  for (const bytes of garbage) {
    using peer = await RawPeer.connect(s.addr);
    await peer.write(bytes);
    await s.assertClosed(peer, /malformed frame/);
  }
  // 100 header bytes: no Chatter peer starts so (errors_test.ts has more).
  {
    using peer = await RawPeer.connect(s.addr);
    await peer.write(new Uint8Array(200).fill(0x64));
    await s.assertClosed(peer, /the client is not speaking Chatter/);
  }
  using peer = await s.initialised();
  await peer.write(garbage[0]);
  await s.assertClosed(peer, /malformed frame/);
  await s.assertHealthy();
});

Deno.test("bad input: unknown message types after init", async () => {
  await using s = await serve();
  for (const type of ["HatEventer.MsgNope", "Foreign.Msg", MsgType.InitRes]) {
    using peer = await s.initialised();
    await peer.send({ id: 2, type, data: new Uint8Array([0x80]) });
    await s.assertClosed(peer, /unexpected message type/);
  }
  await s.assertHealthy();
});

Deno.test("bad input: a first message that is not MsgInitReq", async () => {
  await using s = await serve();
  for (
    const type of [MsgType.QueryReq, MsgType.EventsAck, "HatEventer.MsgNope"]
  ) {
    using peer = await RawPeer.connect(s.addr);
    await peer.send({ type, last: false });
    await s.assertClosed(peer, /not MsgInitReq/);
  }
  await s.assertHealthy();
});

Deno.test("bad input: a frame header announcing 1 TB", async () => {
  await using s = await serve();
  {
    using peer = await RawPeer.connect(s.addr);
    await peer.write(TB);
    await s.assertClosed(peer, /maximum/);
  }
  using peer = await s.initialised();
  await peer.write(TB);
  await s.assertClosed(peer, /maximum/);
  await s.assertHealthy();
});

Deno.test("bad input: malformed request bodies", async () => {
  await using s = await serve();
  const bodies: [string, Uint8Array][] = [
    // Array of 1 RegisterEvent, then nothing.
    [MsgType.RegisterReq, new Uint8Array([0x81])],
    // Count larger than the bytes left.
    [MsgType.RegisterReq, encode((w) => w.int(1000000))],
    // Event type segment that is not a String.
    [MsgType.RegisterReq, new Uint8Array([0x81, 0x81, 0x85])],
    // Optional with choice index 2.
    [MsgType.RegisterReq, new Uint8Array([0x81, 0x80, 0x82])],
    // JSON payload that is not JSON.
    [
      MsgType.RegisterReq,
      encode((w) => {
        w.int(1);
        w.int(0);
        w.byte(0x80);
        w.byte(0x81);
        w.byte(0x81);
        w.string("{not json");
      }),
    ],
    // Trailing bytes.
    [MsgType.RegisterReq, new Uint8Array([0x80, 0x00])],
    // QueryParams choice index 7.
    [MsgType.QueryReq, new Uint8Array([0x87])],
  ];
  for (const [type, data] of bodies) {
    using peer = await s.initialised();
    await peer.send({ id: 2, type, last: false, data });
    await s.assertClosed(peer, new RegExp(`malformed ${type}`));
  }
  // An ack with a body, and an init request with a broken body.
  {
    using peer = await s.initialised();
    await peer.send({
      id: 2,
      type: MsgType.EventsAck,
      data: new Uint8Array([1]),
    });
    await s.assertClosed(peer, /malformed/);
  }
  {
    using peer = await RawPeer.connect(s.addr);
    await peer.send({
      type: MsgType.InitReq,
      last: false,
      data: new Uint8Array([0x83, 0x61]),
    });
    await s.assertClosed(peer, /malformed/);
  }
  await s.assertHealthy();
});

/** Each way a server can feed a client garbage after init. */
const SERVER_GARBAGE: [string, RegExp, (reqs: number[]) => Uint8Array][] = [
  [
    "garbage body",
    /malformed frame/,
    () => new Uint8Array([1, 4, 0xff, 0, 0, 0]),
  ],
  ["1 TB header", /maximum/, () => TB],
  [
    "unknown type",
    /unexpected message type/,
    () => frame({ id: 2, type: "HatEventer.MsgNope" }),
  ],
  [
    "request type",
    /unexpected message type/,
    (reqs) =>
      frame({ id: 2, first: reqs[0], owner: false, type: MsgType.QueryReq }),
  ],
  [
    "malformed MsgQueryRes",
    /malformed/,
    (reqs) =>
      frame({
        id: 2,
        first: reqs[0],
        owner: false,
        type: MsgType.QueryRes,
        data: new Uint8Array([0x81]),
      }),
  ],
  [
    "malformed MsgRegisterRes",
    /malformed/,
    (reqs) =>
      frame({
        id: 2,
        first: reqs[1],
        owner: false,
        type: MsgType.RegisterRes,
        data: new Uint8Array([0x83]),
      }),
  ],
  [
    "malformed MsgEventsNotify",
    /malformed/,
    () =>
      frame({
        id: 2,
        type: MsgType.EventsNotify,
        last: false,
        data: new Uint8Array([0x82, 0x80]),
      }),
  ],
  [
    "malformed MsgStatusNotify",
    /malformed/,
    () =>
      frame({
        id: 2,
        type: MsgType.StatusNotify,
        data: new Uint8Array([0x89]),
      }),
  ],
];

Deno.test("bad input: a client fed garbage rejects its pending requests with ConnectionError", async () => {
  using log = captureLog();
  using raw = new RawListener();
  for (const [what, reason, garbage] of SERVER_GARBAGE) {
    const connecting = connect(raw.addr, "victim");
    using peer = await raw.accept();
    const init = await peer.expect();
    decode(init, readInitReq);
    await peer.write(frame({
      id: 1,
      first: init.first,
      owner: false,
      type: MsgType.InitRes,
      data: (w) => writeInitRes(w, { type: "success", status: "standby" }),
    }));
    const client: Client = await deadline(connecting, 2000);
    const pending = [
      client.query({ kind: "latest" }) as Promise<unknown>,
      client.register([{ type: ["a"] }], true),
    ].map((p) =>
      assert.rejects(
        deadline(p, 2000, what),
        (e) => e instanceof ConnectionError && e.cause instanceof ProtocolError,
        what,
      )
    );
    const reqs = [(await peer.expect()).id, (await peer.expect()).id];
    const logged = log.records.length;
    await peer.write(garbage(reqs));
    for (const p of pending) await p;
    await deadline(client.waitClosed(), 2000, what);
    await peer.eof();
    const mine: LogRecord[] = log.records.slice(logged);
    assert.ok(
      mine.some((r) => reason.test(r.text)),
      `${what}: ${JSON.stringify(mine)}`,
    );
    await assert.rejects(client.query({ kind: "latest" }), ConnectionError);
  }
});

Deno.test("bad input: a client whose server ends mid-frame rejects its pending requests", async () => {
  using log = captureLog();
  using raw = new RawListener();
  const connecting = connect(raw.addr, "victim");
  using peer = await raw.accept();
  const init = await peer.expect();
  await peer.write(frame({
    id: 1,
    first: init.first,
    owner: false,
    type: MsgType.InitRes,
    data: (w) => writeInitRes(w, { type: "success", status: "standby" }),
  }));
  const client = await deadline(connecting, 2000);
  const pending = assert.rejects(
    client.query({ kind: "latest" }),
    (e) => e instanceof ConnectionError && e.cause instanceof ProtocolError,
  );
  const req = await peer.expect();
  const res = frame({ id: 2, first: req.first, owner: false, type: "x" });
  await peer.write(res.subarray(0, 3));
  await peer.conn.closeWrite();
  await deadline(pending, 2000);
  await client.waitClosed();
  assert.ok(log.records.some((r) => /inside a frame/.test(r.text)));
});
