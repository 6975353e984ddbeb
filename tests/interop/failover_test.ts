/**
 * Interop: failovers of a redundant Event Server pair in a real
 * `hat-monitor` BLESS_ONE group, as a Hat component sees them. Our event
 * component registers (with response) all the time; the active server is
 * SIGKILLed, the other takes over, the killed one restarts on its
 * database and syncs; again, `HAT_FAILOVERS` times (default 2). Then
 * every registration a server acknowledged is looked up: lost, or its id
 * naming another event.
 *
 * `HAT_FAILOVER_PAIR` picks the pair: `deno` (default: two of ours, each
 * in its own process), `python` (two reference servers, LMDB, flush
 * period 1 s) or `mixed` (the reference's as server 1, ours as 2). The
 * test asserts that nothing our servers acknowledged is lost and that no
 * id names two events; the reference's losses (it answers before its
 * flush, SPEC-monitor 8.1) are printed, not asserted. Figures printed:
 * sync lag (a registration acknowledged by the active server to its
 * notification by the standby), failover time (SIGKILL to the first
 * registration accepted by the other server), losses.
 *
 *     HAT_FAILOVERS=20 HAT_FAILOVER_PAIR=deno \
 *       deno test --allow-all tests/interop/failover_test.ts
 */

import assert from "node:assert/strict";
import { type Client, connect } from "../../client.ts";
import type { EventId } from "../../common/event/mod.ts";
import {
  type Acked,
  connectWriter,
  type EventServerProcess,
  freePorts,
  serverEvents,
  startDenoEventServer,
  startHatMonitor,
  startPyEventServer,
  wallClock,
} from "./_hat.ts";

const LOCAL = "127.0.0.1";
const FAILOVERS = Number(Deno.env.get("HAT_FAILOVERS") ?? "2");
const PAIR = Deno.env.get("HAT_FAILOVER_PAIR") ?? "deno";

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

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `min ${s[0].toFixed(0)}, median ${q(0.5).toFixed(0)}, max ${
    s.at(-1)!.toFixed(0)
  } ms (${s.length})`;
}

Deno.test(`interop failover: ${FAILOVERS} SIGKILL failovers of a ${PAIR} Event Server pair lose nothing our servers acknowledged, and no id names two events`, async () => {
  const monitor = await startHatMonitor({
    groupAlgorithms: { event: "BLESS_ONE" },
  });
  const dir = await Deno.makeTempDir({ prefix: "failover-" });
  const ports = freePorts(2);
  const kinds = PAIR === "python"
    ? ["py", "py"]
    : PAIR === "mixed"
    ? ["py", "deno"]
    : ["deno", "deno"];
  const start = (i: number) =>
    kinds[i] === "py"
      ? startPyEventServer(i + 1, monitor.port, dir, ports[i])
      : startDenoEventServer(i + 1, monitor.port, dir, ports[i]);
  const servers: (EventServerProcess | null)[] = [null, null];
  // Every acknowledged registration: its n, id and when.
  const acked: Acked[] = [];
  let component: Awaited<ReturnType<typeof connectWriter>> | null = null;
  const clients: Client[] = [];
  try {
    servers[0] = await start(0);
    component = await connectWriter(monitor.port, acked);
    await component.setReady(true);
    const ackedBy = (server: number, after: number) =>
      acked.some((a) => a.id.server === server && a.t > after);
    await until("registrations on server 1", () => ackedBy(1, 0));
    servers[1] = await start(1);
    // A server is synced once it holds the other's latest registration
    // acknowledged when the wait began.
    const synced = async (i: number, other: number) => {
      const last = acked.findLast((a) => a.id.server === other + 1);
      if (!last) return;
      await until(`server ${i + 1} synced`, async () => {
        const client = await connect(
          { hostname: LOCAL, port: ports[i] },
          "c",
        );
        try {
          return (await serverEvents(client, other + 1)).some((e) =>
            key(e.id) === key(last.id)
          );
        } finally {
          await client.asyncClose();
        }
      });
    };
    await synced(1, 0);

    // Sync lag: acknowledged by the active (1) to notified by the standby.
    const notified = new Map<string, number>();
    const sub = await connect({ hostname: LOCAL, port: ports[1] }, "sub", {
      subscriptions: [["test", "*"]],
      eventsCb: (_c, events) => {
        const t = wallClock();
        for (const e of events) notified.set(key(e.id), t);
      },
    });
    clients.push(sub);
    const from = acked.length;
    await until("50 more registrations", () => acked.length >= from + 50);
    const lagged = acked.slice(from, from + 50);
    await until(
      "their notifications",
      () => lagged.every((a) => notified.has(key(a.id))),
      10_000,
    );
    const lags = lagged.map((a) => notified.get(key(a.id))! - a.t);
    await sub.asyncClose();

    const failovers: number[] = [];
    let active = 0;
    for (let f = 0; f < FAILOVERS; f++) {
      const standby = 1 - active;
      await new Promise((r) => setTimeout(r, 200));
      const t = wallClock();
      servers[active]!.kill("SIGKILL");
      await servers[active]!.status;
      servers[active] = null;
      await until(
        `registrations on server ${standby + 1}`,
        () => ackedBy(standby + 1, t),
      );
      failovers.push(
        acked.find((a) => a.id.server === standby + 1 && a.t > t)!.t - t,
      );
      servers[active] = await start(active);
      await synced(active, standby);
      active = standby;
    }
    await component.asyncClose();
    component = null;

    // The audit, on the active server, once the standby is synced too.
    const standby = 1 - active;
    await synced(standby, active);
    const lost: Record<number, number> = { 1: 0, 2: 0 };
    const renamed: Record<number, number> = { 1: 0, 2: 0 };
    {
      const i = active;
      const client = await connect({ hostname: LOCAL, port: ports[i] }, "a");
      clients.push(client);
      const held = new Map<string, unknown>();
      for (const s of [1, 2]) {
        for (const e of await serverEvents(client, s)) {
          if (e.type.join("/") !== "test/n") continue;
          held.set(
            key(e.id),
            e.payload?.kind === "json" ? e.payload.data : null,
          );
        }
      }
      for (const a of acked) {
        const n = held.get(key(a.id));
        if (n === undefined) lost[a.id.server]++;
        else if (Number(n) !== a.n) renamed[a.id.server]++;
      }
    }
    const ackedOf = (s: number) => acked.filter((a) => a.id.server === s);
    console.log(
      `pair ${PAIR}: ${FAILOVERS} failovers; sync lag ${stats(lags)}; ` +
        `failover ${stats(failovers)}; acknowledged ${ackedOf(1).length} by ` +
        `server 1 (${kinds[0]}), lost ${lost[1]}, id reused ${renamed[1]}; ${
          ackedOf(2).length
        } by server 2 (${kinds[1]}), lost ${lost[2]}, ` +
        `id reused ${renamed[2]}`,
    );
    for (const s of [1, 2]) {
      if (kinds[s - 1] !== "deno") continue;
      assert.equal(lost[s], 0, `server ${s} lost acknowledged events`);
      assert.equal(renamed[s], 0, `server ${s} reused ids`);
    }
  } finally {
    await component?.asyncClose();
    for (const c of clients) await c.asyncClose();
    for (const s of servers) await s?.stop();
    await monitor.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
