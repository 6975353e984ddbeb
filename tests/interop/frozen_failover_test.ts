/**
 * Interop: the active Event Server of a redundant pair freezes (SIGSTOP:
 * its sockets stay open, nothing answers) in a real `hat-monitor`
 * BLESS_ONE group, with every party's default pings (Chatter `pingDelay`
 * 20 s, `pingTimeout` 20 s: the monitor's, our servers', our event
 * component's). Our event component registers (with response) all the
 * time.
 *
 * What the defaults imply: the monitor pings a silent component 20 s after
 * it last heard from it and drops it 20 s later, so 20-40 s after the
 * freeze it blesses the standby; the standby's engine waits until its sync
 * connection to the frozen peer, still `operational` as last reported,
 * closes by its own ping timeout, 40-43 s after the last data on it (our
 * keepalive pings 20-23.3 s after the last data); the component's client to
 * the frozen server closes by the same timeout. Failover must take at most
 * {@linkcode FAILOVER_BOUND_MS}.
 *
 * Then SIGCONT: the resumed server finds its monitor connection closed,
 * stops its engine within 5 s and exits (SPEC-monitor 5.2 behaviour 7);
 * the registration its socket held from before the freeze, read first, is
 * refused (its event loop stood still: it waits for the monitor's news).
 * Restarted on its database it joins as standby and syncs. The monitor
 * never shows two servers active, no `event/1/engine "STARTED"` comes after
 * the freeze, and every acknowledged registration is held by both servers
 * under its id.
 *
 * About 50 s: its own task, `deno task test:frozen` (run by `.ci/run`),
 * not part of `deno task test:interop`.
 */

import assert from "node:assert/strict";
import { type Client, connect } from "../../client.ts";
import {
  DEFAULT_PING_DELAY,
  DEFAULT_PING_TIMEOUT,
} from "../../common/chatter/mod.ts";
import type { EventId } from "../../common/event/mod.ts";
import { timestampToFloat } from "../../common/event/timestamp.ts";
import type { State } from "../../monitor/mod.ts";
import {
  type Acked,
  connectWriter,
  type EventServerProcess,
  freePorts,
  serverEvents,
  startDenoEventServer,
  startHatMonitor,
  wallClock,
} from "./_hat.ts";

const LOCAL = "127.0.0.1";

/**
 * The longest failover the default pings allow, in ms: our keepalive's
 * last Ping at most 7/6 of `pingDelay` after the last data, then
 * `pingTimeout` (43.3 s), plus 5 s of slack for a loaded machine.
 */
const FAILOVER_BOUND_MS = DEFAULT_PING_DELAY * 7 / 6 + DEFAULT_PING_TIMEOUT +
  5000;

async function until(
  what: string,
  ok: () => boolean | Promise<boolean>,
  ms = 30_000,
) {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const key = (id: EventId) => `${id.server},${id.session},${id.instance}`;

// Server ids the monitor shows active (request token = response token).
function activeIds(state: State): number[] {
  return state.components.filter((c) =>
    c.group === "event" && c.blessingReq.token !== null &&
    c.blessingReq.token === c.blessingRes.token
  ).map((c) => (c.data as { server_id: number }).server_id);
}

Deno.test("interop frozen active: with the default pings, a SIGSTOPped active Event Server is replaced within the pings' bound, never two are active, and nothing acknowledged is lost", async () => {
  const monitor = await startHatMonitor({
    groupAlgorithms: { event: "BLESS_ONE" },
  });
  const dir = await Deno.makeTempDir({ prefix: "frozen-" });
  const ports = freePorts(2);
  const start = (i: number) =>
    startDenoEventServer(i + 1, monitor.port, dir, ports[i], [
      "--verbose",
    ]);
  const servers: (EventServerProcess | null)[] = [null, null];
  const acked: Acked[] = [];
  const states: { t: number; active: number[] }[] = [];
  let component: Awaited<ReturnType<typeof connectWriter>> | null = null;
  const clients: Client[] = [];
  const query = async <T>(i: number, f: (c: Client) => Promise<T>) => {
    const client = await connect({ hostname: LOCAL, port: ports[i] }, "q");
    try {
      return await f(client);
    } finally {
      await client.asyncClose();
    }
  };
  // Server i holds the latest registration of server `other` acknowledged
  // when the wait began.
  const synced = async (i: number, other: number, ms = 30_000) => {
    const last = acked.findLast((a) => a.id.server === other + 1);
    if (!last) return;
    await until(
      `server ${i + 1} synced`,
      () =>
        query(
          i,
          async (c) =>
            (await serverEvents(c, other + 1)).some((e) =>
              key(e.id) === key(last.id)
            ),
        ),
      ms,
    );
  };
  try {
    servers[0] = await start(0);
    component = await connectWriter(
      monitor.port,
      acked,
      {
        stateCb: (_c, state) => {
          states.push({ t: wallClock(), active: activeIds(state) });
        },
      },
    );
    await component.setReady(true);
    const ackedBy = (server: number, after: number) =>
      acked.some((a) => a.id.server === server && a.t > after);
    await until("registrations on server 1", () => ackedBy(1, 0));
    servers[1] = await start(1);
    await synced(1, 0);
    // A few seconds of steady load, so that the pings run as in the field.
    await new Promise((r) => setTimeout(r, 3000));

    // Freeze the active server.
    const frozen = servers[0]!;
    const tStop = wallClock();
    frozen.kill("SIGSTOP");
    await until(
      "registrations on server 2",
      () => ackedBy(2, tStop),
      FAILOVER_BOUND_MS + 10_000,
    );
    const first2 = acked.find((a) => a.id.server === 2 && a.t > tStop)!;
    const failover = first2.t - tStop;
    const dropped = states.find((s) => s.t > tStop && !s.active.includes(1));
    const blessed2 = states.find((s) => s.t > tStop && s.active.includes(2));
    const acks1 = acked.filter((a) => a.id.server === 1);
    // Let server 2 work a while, then resume server 1.
    await until(
      "more registrations on server 2",
      () => acked.filter((a) => a.t > first2.t).length >= 50,
    );
    const tCont = wallClock();
    frozen.kill("SIGCONT");
    const exited = await Promise.race([
      frozen.status,
      new Promise<null>((r) => setTimeout(() => r(null), 30_000)),
    ]);
    const tExit = wallClock();
    assert.ok(
      exited,
      "the resumed server did not exit; its output:\n" +
        frozen.lines.map((l) => l.text).join("\n"),
    );
    servers[0] = null;
    // Nothing acknowledged by server 1 once it was frozen (what it had
    // read before may still be answered at once, as the kernel took it).
    assert.deepEqual(
      acked.filter((a) => a.id.server === 1 && a.t > tStop + 1000),
      [],
      "the frozen server acknowledged registrations",
    );

    // Restarted on its database, server 1 joins as standby and syncs.
    servers[0] = await start(0);
    await synced(0, 1);
    await component.asyncClose();
    component = null;
    await synced(1, 0);
    await synced(0, 1);

    // The audit: both servers hold every acknowledged registration under
    // its id, with its n.
    const lost = [0, 0];
    const renamed = [0, 0];
    for (const i of [0, 1]) {
      const held = await query(i, async (c) => {
        const m = new Map<string, unknown>();
        for (const s of [1, 2]) {
          for (const e of await serverEvents(c, s)) {
            if (e.type.join("/") !== "test/n") continue;
            m.set(key(e.id), e.payload?.kind === "json" ? e.payload.data : 0);
          }
        }
        return m;
      });
      for (const a of acked) {
        const data = held.get(key(a.id));
        if (data === undefined) lost[i]++;
        else if (Number(data) !== a.n) renamed[i]++;
      }
    }
    // The engines, as each server's events tell (synced to server 2):
    // server 1 started once, before the freeze; server 2 once, after.
    const engine: { server: number; t: number; what: unknown }[] = [];
    // What server 1 created once frozen: by the resumed process.
    const late1: string[] = [];
    const lateN1: number[] = [];
    for (const s of [1, 2]) {
      for (const e of await query(1, (c) => serverEvents(c, s))) {
        const t = timestampToFloat(e.timestamp) * 1000;
        const what = e.payload?.kind === "json" ? e.payload.data : null;
        if (s === 1 && t > tStop + 1000) {
          late1.push(`${e.type.join("/")} ${JSON.stringify(what)}`);
          if (e.type.join("/") === "test/n") lateN1.push(Number(what));
        }
        if (e.type.join("/") !== `event/${s}/engine`) continue;
        engine.push({ server: s, t, what });
      }
    }
    const started = (s: number) =>
      engine.filter((e) => e.server === s && e.what === "STARTED");
    const twoActive = states.filter((s) => s.active.length > 1);
    console.log(
      `frozen active, default pings (${DEFAULT_PING_DELAY} + ` +
        `${DEFAULT_PING_TIMEOUT} ms): monitor dropped it after ${
          dropped ? (dropped.t - tStop).toFixed(0) : "-"
        } ms, showed server 2 active after ${
          blessed2 ? (blessed2.t - tStop).toFixed(0) : "-"
        } ms, server 2's engine STARTED after ${
          started(2).length ? (started(2)[0].t - tStop).toFixed(0) : "-"
        } ms, first registration on server 2 after ${
          failover.toFixed(0)
        } ms; resumed server exited ${
          (tExit - tCont).toFixed(0)
        } ms after SIGCONT; acknowledged ${acks1.length} by server 1, ${
          acked.length - acks1.length
        } by server 2; lost ${lost[0]} / ${lost[1]}, id reused ${
          renamed[0]
        } / ${renamed[1]} (server 1 / 2); server 1 created once resumed: ${
          late1.join(", ")
        } (its engine STOPPED ${
          engine.filter((e) => e.server === 1 && e.what === "STOPPED")
            .map((e) => (e.t - tCont).toFixed(0)).at(-1)
        } ms after SIGCONT)`,
    );
    assert.ok(
      failover <= FAILOVER_BOUND_MS,
      `failover took ${failover.toFixed(0)} ms`,
    );
    assert.deepEqual(twoActive, [], "the monitor showed two active servers");
    assert.deepEqual(
      started(1).filter((e) => e.t > tStop),
      [],
      "server 1's engine started after the freeze",
    );
    // Resumed, server 1 stops its engine at once, and registers nothing
    // of what its socket held from before the freeze: its event loop stood
    // still, so it refuses registrations until the monitor's news is read.
    const stopped1 = engine.filter((e) =>
      e.server === 1 && e.what === "STOPPED" && e.t > tStop
    );
    assert.equal(stopped1.length, 1, "server 1's engine stops once resumed");
    assert.ok(stopped1[0].t - tCont < 5000, "server 1 stops late");
    assert.deepEqual(lateN1, [], "server 1 registered once resumed");
    assert.equal(started(2).length, 1, "server 2's engine starts");
    assert.ok(started(2)[0].t > tStop);
    assert.deepEqual(lost, [0, 0], "acknowledged events lost");
    assert.deepEqual(renamed, [0, 0], "ids naming another event");
  } finally {
    await component?.asyncClose();
    for (const c of clients) await c.asyncClose();
    for (const s of servers) {
      s?.kill("SIGCONT");
      await s?.stop();
    }
    await monitor.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
