/**
 * Our event component in a Python Hat cluster (one `hat-monitor`, two
 * `hat-event-server` with LMDB in BLESS_ONE group `event`, as
 * `../shared/monitor/cluster/cluster.sh` starts them): it finds the active
 * server, registers through it, and fails over within 1 s of a SIGKILL of
 * the active server, several times in a row.
 *
 * `HAT_FAILOVERS=N` sets the number of failovers (default 3); the
 * failover times (SIGKILL to the first registration accepted by the other
 * server) are printed, for RELIABILITY.md.
 */

import assert from "node:assert/strict";
import { Group } from "../../common/async/mod.ts";
import type { Status } from "../../common/event/mod.ts";
import {
  connectEventComponent,
  type EventComponent,
} from "../../monitor/mod.ts";
import {
  freePorts,
  type HatEventServer,
  HatProcess,
  startHatMonitor,
  startPyEventServer,
  wallClock,
} from "./_hat.ts";

interface Outcome {
  t: number;
  serverId: number;
  ok: boolean;
}

async function until(cond: () => boolean, what: string, ms = 20_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// The reference's own event component, registering every 20 ms, beside
// ours when ../shared/monitor/cluster is there.
const PY_COMPONENT = decodeURIComponent(
  new URL("../../../shared/monitor/cluster/component.py", import.meta.url)
    .pathname,
);

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

// The first registration the reference component logged as accepted by
// `serverId` after `t` (its lines: `<unix time> ok n=<n> server_id=<id> ...`).
function pyFirstOk(py: HatProcess, serverId: number, t: number) {
  for (const l of py.lines) {
    const [time, what, , server] = l.text.split(" ");
    const at = Number(time) * 1000;
    if (what === "ok" && server === `server_id=${serverId}` && at > t) {
      return at;
    }
  }
  return null;
}

function serverReady(c: EventComponent, serverId: number): boolean {
  return c.state.components.some((i) =>
    i.group === "event" && i.name === `event-${serverId}` &&
    i.blessingRes.ready
  );
}

Deno.test("interop event component: in a Python cluster, fails over within 1 s of a SIGKILL of the active Event Server, and of a SIGTERM with the standby window shown by statusCb", async () => {
  const failovers = Number(Deno.env.get("HAT_FAILOVERS") ?? 3);
  const monitor = await startHatMonitor({
    groupAlgorithms: { event: "BLESS_ONE" },
  });
  const ports = freePorts(2);
  const servers = new Map<number, HatEventServer>();
  let component: EventComponent | null = null;
  let py: HatProcess | null = null;
  try {
    servers.set(
      1,
      await startPyEventServer(1, monitor.port, monitor.dir, ports[0]),
    );
    const outcomes: Outcome[] = [];
    // serverId null: the status of a client whose server the component
    // no longer shows (it came after the switch).
    const statuses: { serverId: number | null; status: Status }[] = [];
    // When the monitor state first showed each server active, and when
    // each runner started.
    const shownActive: { t: number; serverId: number | null }[] = [];
    const runnerStarts: { t: number; serverId: number; status: Status }[] = [];
    component = await connectEventComponent(
      { hostname: "127.0.0.1", port: monitor.port },
      "deno-comp",
      "component",
      "event",
      "deno-comp",
      (_c, server, client) => {
        runnerStarts.push({
          t: wallClock(),
          serverId: server.serverId,
          status: client.status,
        });
        const runner = new Group();
        runner.spawn(async (signal) => {
          while (!signal.aborted && client.isOpen) {
            let ok = false;
            try {
              ok = (await client.register(
                [{
                  type: ["test", "counter"],
                  sourceTimestamp: null,
                  payload: null,
                }],
                true,
              )) !== null;
            } catch {
              // the connection dropped: the component reconnects
            }
            outcomes.push({ t: wallClock(), serverId: server.serverId, ok });
            await new Promise((r) => setTimeout(r, 20));
          }
        });
        return runner;
      },
      {
        stateCb: (c) => {
          const serverId = c.serverData?.serverId ?? null;
          if (shownActive.at(-1)?.serverId !== serverId) {
            shownActive.push({ t: wallClock(), serverId });
          }
        },
        statusCb: (c, _client, status) =>
          void statuses.push({
            serverId: c.serverData?.serverId ?? null,
            status,
          }),
      },
    );
    await component.setReady(true);
    await until(
      () => outcomes.some((o) => o.ok && o.serverId === 1),
      "first registration on event-1",
    );
    servers.set(
      2,
      await startPyEventServer(2, monitor.port, monitor.dir, ports[1]),
    );
    await until(() => serverReady(component!, 2), "event-2 ready");
    if (exists(PY_COMPONENT)) {
      py = new HatProcess("py event component", [
        PY_COMPONENT,
        String(monitor.port),
        "0.02",
      ]);
      await py.waitLine(/ ok n=/, 20_000);
    }
    const pyTimes: number[] = [];

    const times: number[] = [];
    const monitorTimes: number[] = [];
    const runnerTimes: number[] = [];
    for (let i = 0; i < failovers; i++) {
      const active = component.serverData!.serverId;
      const other = 3 - active;
      await until(() => serverReady(component!, other), `event-${other} ready`);
      // Its sync connection to the active server is up shortly after.
      await new Promise((r) => setTimeout(r, 1000));
      const killed = wallClock();
      servers.get(active)!.kill("SIGKILL");
      await servers.get(active)!.stop();
      await until(
        () =>
          outcomes.some((o) => o.t > killed && o.ok && o.serverId === other),
        `a registration on event-${other}`,
        5000,
      );
      const first = outcomes.find((o) =>
        o.t > killed && o.ok && o.serverId === other
      )!;
      times.push(first.t - killed);
      if (py) {
        const end = Date.now() + 5000;
        let at: number | null = null;
        while ((at = pyFirstOk(py, other, killed)) === null) {
          if (Date.now() > end) throw new Error("reference component stuck");
          await new Promise((r) => setTimeout(r, 5));
        }
        pyTimes.push(at - killed);
      }
      monitorTimes.push(
        shownActive.find((s) => s.t > killed && s.serverId === other)!.t -
          killed,
      );
      runnerTimes.push(
        runnerStarts.find((s) => s.t > killed && s.serverId === other)!.t -
          killed,
      );
      servers.set(
        active,
        await startPyEventServer(
          active,
          monitor.port,
          monitor.dir,
          ports[active - 1],
        ),
      );
    }
    // A graceful stop (SIGTERM): the other server may still be standby
    // when the client connects (it waits for the stopping one to report
    // standby), which statusCb shows.
    const active = component.serverData!.serverId;
    const other = 3 - active;
    await until(() => serverReady(component!, other), `event-${other} ready`);
    await new Promise((r) => setTimeout(r, 1000));
    const termed = wallClock();
    const statusesBefore = statuses.length;
    servers.get(active)!.kill("SIGTERM");
    await until(
      () => outcomes.some((o) => o.t > termed && o.ok && o.serverId === other),
      `a registration on event-${other} after SIGTERM`,
      5000,
    );
    const termTime = outcomes.find((o) =>
      o.t > termed && o.ok && o.serverId === other
    )!.t - termed;
    assert.ok(termTime < 1000, `failover after SIGTERM took ${termTime} ms`);
    assert.equal((await servers.get(active)!.status).code, 0);
    console.log(
      `SIGTERM: first registration accepted after ${termTime.toFixed(1)} ms; ` +
        `failed before it: ${
          outcomes.filter((o) => o.t > termed && !o.ok).length
        }; status changes: ${
          statuses.slice(statusesBefore).map((s) => `${s.serverId}:${s.status}`)
            .join(" ") || "none"
        }`,
    );
    const show = (ts: number[]) => ts.map((t) => t.toFixed(1)).join(", ");
    console.log(
      `ms after SIGKILL: monitor shows the other active ${
        show(monitorTimes)
      }; ` +
        `runner with a client to it ${show(runnerTimes)}; ` +
        `first registration accepted ${show(times)}` +
        (py ? `; the reference component's ${show(pyTimes)}` : ""),
    );
    for (const t of times) assert.ok(t < 1000, `failover took ${t} ms`);
    // The status seen by each runner at its start, and the changes after.
    console.log(
      `status at runner start: ${
        runnerStarts.map((r) => `${r.serverId}:${r.status}`).join(" ")
      }; changes: ${
        statuses.map((s) => `${s.serverId}:${s.status}`).join(" ") || "none"
      }`,
    );
  } finally {
    await component?.asyncClose();
    await py?.stop();
    for (const s of servers.values()) await s.stop();
    await monitor.stop();
  }
});
