// The monitor component against recorded and scripted Monitor Servers
// (our Chatter layer on a loopback port playing the server's side):
// the recorded session of monitor.json `trace` replayed message for
// message, and the blessing protocol's edges.

import assert from "node:assert/strict";
import * as chatter from "../common/chatter/mod.ts";
import { Group } from "../common/async/mod.ts";
import {
  type ComponentInfoRecord,
  type MsgClient,
  ObserverMsgType,
  readMsgClient,
  writeMsgServer,
} from "../common/monitor/mod.ts";
import { connectComponent, type Runner } from "../monitor/mod.ts";
import { hexToBytes } from "./_vectors.ts";
import { loadMonitorVectors, msgClient } from "./_monitor_vectors.ts";
import { deadline, delay, LOCAL } from "./_net.ts";

const vectors = loadMonitorVectors();

/** A scripted Monitor Server: one connection at a time, by hand. */
async function fakeMonitor() {
  const conns: chatter.Connection[] = [];
  const waiting: ((c: chatter.Connection) => void)[] = [];
  const server = await chatter.listen((conn) => {
    const w = waiting.shift();
    if (w) w(conn);
    else conns.push(conn);
  }, LOCAL);
  return {
    server,
    addr: server.addresses[0],
    accept(): Promise<chatter.Connection> {
      const c = conns.shift();
      if (c) return Promise.resolve(c);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

async function receiveClient(conn: chatter.Connection): Promise<MsgClient> {
  const msg = await deadline(conn.receive(), 2000, "MsgClient");
  assert.equal(msg.type, ObserverMsgType.Client);
  assert.deepEqual(
    { first: msg.first, last: msg.last, token: msg.token },
    { first: true, last: true, token: true },
  );
  const r = msg.reader();
  const m = readMsgClient(r);
  r.done();
  return m;
}

/** Runners that record when they were made and closed. */
function runnerLog() {
  const log: string[] = [];
  let open = 0;
  let maxOpen = 0;
  return {
    log,
    get open() {
      return open;
    },
    get maxOpen() {
      return maxOpen;
    },
    cb(name: string) {
      return (): Runner => {
        open++;
        maxOpen = Math.max(maxOpen, open);
        log.push(`${name} runner_cb`);
        const g = new Group({
          onClose: () => {
            open--;
            log.push(`${name} runner_closed`);
          },
        });
        return g;
      };
    },
  };
}

async function until(cond: () => boolean, what: string, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(2);
  }
}

Deno.test({
  name: "monitor component: replays the recorded session of component a " +
    "(monitor.json trace) message for message",
  ignore: vectors === null,
  async fn() {
    const monitor = await fakeMonitor();
    const runners = runnerLog();
    const component = await connectComponent(
      monitor.addr,
      "a",
      "g",
      runners.cb("a"),
      { data: { x: 1 } },
    );
    try {
      const conn = await monitor.accept();
      let sent = 0;
      let received = 0;
      const expected: string[] = [];
      for (const e of vectors.trace) {
        if (e.step) {
          if (e.step.startsWith("a.set_ready(True)")) {
            await component.setReady(true);
          } else if (e.step.startsWith("a.set_ready(False)")) {
            await component.setReady(false);
          }
          continue;
        }
        if (e.event) {
          if (e.component !== "a") continue;
          expected.push(`a ${e.event}`);
          await until(() => runners.log.length >= expected.length, e.event);
          assert.deepEqual(runners.log, expected);
          continue;
        }
        if (e.conn !== 1) continue;
        if (e.closed) {
          if (e.dir === "c2s") {
            // The component closes its side after MsgClose.
            await deadline(conn.waitClosed(), 2000, "component closing");
          }
          continue;
        }
        if (e.dir === "s2c") {
          await conn.send(e.type, hexToBytes(e.hex));
          sent++;
        } else {
          const got = await receiveClient(conn);
          assert.deepEqual(got, msgClient(e.value), `c2s id ${e.frame.id}`);
          received++;
          // A token given back (none after a token) comes only once the
          // runner has closed.
          if (got.blessingRes.token === null && received > 1) {
            assert.equal(
              runners.open,
              0,
              `runner closed before token none ${e.frame.id} ${runners.log}`,
            );
          }
        }
      }
      assert.equal(sent, 27);
      assert.equal(received, 7);
      await deadline(component.waitClosed(), 2000, "component closed");
      assert.deepEqual(runners.log, [
        "a runner_cb",
        "a runner_closed",
        "a runner_cb",
        "a runner_closed",
      ]);
      assert.equal(runners.maxOpen, 1);
    } finally {
      await component.asyncClose();
      await monitor.server.asyncClose();
    }
  },
});

// A ComponentInfo as a test Monitor Server describes it.
function info(
  cid: number,
  name: string,
  req: number | null,
  res: number | null,
  ready = true,
): ComponentInfoRecord {
  return {
    cid,
    mid: 0,
    name,
    group: "g",
    data: "null",
    rank: 1,
    blessingReq: { token: req, timestamp: req === null ? null : 1000.5 },
    blessingRes: { token: res, ready },
  };
}

function sendServer(
  conn: chatter.Connection,
  cid: number,
  components: ComponentInfoRecord[],
): Promise<unknown> {
  return conn.send(
    ObserverMsgType.Server,
    (w) => writeMsgServer(w, { cid, mid: 0, components }),
  );
}

Deno.test("monitor component: the runner starts only once the token was shown back, a revoked blessing closes it before the token goes back, and a runner closing by itself closes the component", async () => {
  const monitor = await fakeMonitor();
  const runners = runnerLog();
  let lastRunner: Group | null = null;
  const component = await connectComponent(
    monitor.addr,
    "c",
    "g",
    (c) => {
      lastRunner = runners.cb("c")() as Group;
      void c;
      return lastRunner;
    },
  );
  const states: unknown[] = [];
  const it = component.states();
  const collect = (async () => {
    for await (const s of it) states.push(s.info?.blessingReq.token);
  })();
  try {
    const conn = await monitor.accept();
    assert.equal((await receiveClient(conn)).blessingRes.ready, false);
    // Blessed while not ready: nothing happens.
    await sendServer(conn, 1, [info(1, "c", 7, null, false)]);
    await delay(20);
    await component.setReady(true);
    assert.deepEqual((await receiveClient(conn)).blessingRes, {
      token: null,
      ready: true,
    });
    // Ready and blessed: the component takes the token on...
    assert.deepEqual((await receiveClient(conn)).blessingRes, {
      token: 7,
      ready: true,
    });
    await delay(20);
    assert.equal(runners.log.length, 0, "not active before the round trip");
    // ...and starts only once the server shows it back.
    await sendServer(conn, 1, [info(1, "c", 7, 7)]);
    await until(() => component.isActive, "active");
    // The same state again is no new state.
    await sendServer(conn, 1, [info(1, "c", 7, 7)]);
    // Revoked: the runner closes, then the token goes back.
    await sendServer(conn, 1, [info(1, "c", null, 7)]);
    assert.deepEqual((await receiveClient(conn)).blessingRes, {
      token: null,
      ready: true,
    });
    assert.equal(runners.open, 0);
    assert.equal(component.isActive, false);
    // A state sent before the server saw the token given back shows it
    // still: not taken on again.
    await sendServer(conn, 1, [info(1, "c", 7, 7)]);
    await delay(20);
    assert.equal(component.isActive, false);
    // Once the server shows it given back, the same number is a new
    // blessing (a new master counts from 1 again); then the runner closes
    // by itself.
    await sendServer(conn, 1, [info(1, "c", null, null)]);
    await sendServer(conn, 1, [info(1, "c", 7, null)]);
    assert.equal((await receiveClient(conn)).blessingRes.token, 7);
    await sendServer(conn, 1, [info(1, "c", 7, 7)]);
    await until(() => component.isActive, "active again");
    lastRunner!.close();
    assert.deepEqual((await receiveClient(conn)).blessingRes, {
      token: null,
      ready: true,
    });
    await deadline(component.waitClosed(), 2000, "component closed");
    await collect;
    assert.deepEqual(runners.log, [
      "c runner_cb",
      "c runner_closed",
      "c runner_cb",
      "c runner_closed",
    ]);
    assert.deepEqual(states, [7, 7, null, 7, null, 7, 7]);
  } finally {
    await component.asyncClose();
    await monitor.server.asyncClose();
  }
});

Deno.test("monitor component: closing an active component closes its runner before its connection", async () => {
  const monitor = await fakeMonitor();
  let connOpenAtRunnerClose: boolean | null = null;
  let conn: chatter.Connection | null = null;
  const component = await connectComponent(monitor.addr, "c", "g", () => {
    const g = new Group();
    g.spawn(async (signal) => {
      await new Promise((r) => signal.addEventListener("abort", r));
      await delay(30);
      connOpenAtRunnerClose = conn!.isOpen;
    });
    return g;
  }, { data: "x" });
  try {
    conn = await monitor.accept();
    assert.equal((await receiveClient(conn)).data, '"x"');
    await component.setReady(true);
    await receiveClient(conn);
    await sendServer(conn, 1, [info(1, "c", 3, 3)]);
    assert.equal((await receiveClient(conn)).blessingRes.token, 3);
    await until(() => component.isActive, "active");
    await component.asyncClose();
    assert.equal(connOpenAtRunnerClose, true);
    await deadline(conn.waitClosed(), 2000, "connection closed");
    await assert.rejects(component.setReady(false));
  } finally {
    await component.asyncClose();
    await monitor.server.asyncClose();
  }
});

Deno.test("monitor component: a message other than MsgServer or MsgClose closes the component", async () => {
  const monitor = await fakeMonitor();
  const component = await connectComponent(
    monitor.addr,
    "c",
    "g",
    () => new Group(),
  );
  const warn = console.warn;
  console.warn = () => {};
  try {
    const conn = await monitor.accept();
    await receiveClient(conn);
    await conn.send("HatObserver.MsgMaster", hexToBytes("8180"));
    await deadline(component.waitClosed(), 2000, "component closed");
  } finally {
    console.warn = warn;
    await component.asyncClose();
    await monitor.server.asyncClose();
  }
});

Deno.test("monitor component: the monitor connection dropping closes the component and its runner", async () => {
  const monitor = await fakeMonitor();
  const runners = runnerLog();
  const component = await connectComponent(
    monitor.addr,
    "c",
    "g",
    runners.cb("c"),
  );
  try {
    const conn = await monitor.accept();
    await receiveClient(conn);
    await component.setReady(true);
    await receiveClient(conn);
    await sendServer(conn, 1, [info(1, "c", 3, 3)]);
    assert.equal((await receiveClient(conn)).blessingRes.token, 3);
    await until(() => component.isActive, "active");
    await conn.asyncClose();
    await deadline(component.waitClosed(), 2000, "component closed");
    assert.deepEqual(runners.log, ["c runner_cb", "c runner_closed"]);
  } finally {
    await component.asyncClose();
    await monitor.server.asyncClose();
  }
});
