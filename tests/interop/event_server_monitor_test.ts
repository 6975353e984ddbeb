/**
 * Our Event Server as the member of a real `hat-monitor` group: blessed
 * (BLESS_ONE), it becomes operational, and the reference's
 * `hat.event.component` (`../shared/monitor/cluster/component.py`, when
 * there) finds it through the monitor and registers through it; closed,
 * it stops its engine and leaves the group. Two of ours hand over in a
 * BLESS_ONE group, followed by our event component (no sync between
 * them yet: only who is active is tested).
 */

import assert from "node:assert/strict";
import { Group } from "../../common/async/mod.ts";
import { startEventServer } from "../../event_server/mod.ts";
import { connectEventComponent } from "../../monitor/mod.ts";
import { HatProcess, startHatMonitor } from "./_hat.ts";

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

async function until(cond: () => boolean, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test({
  name:
    "interop event server: our Event Server in a hat-monitor group is found by the reference hat.event.component",
  ignore: !exists(PY_COMPONENT),
  async fn() {
    const monitor = await startHatMonitor({
      groupAlgorithms: { event: "BLESS_ONE" },
    });
    let py: HatProcess | null = null;
    const server = await startEventServer({
      db: ":memory:",
      port: 0,
      serverId: 5,
      monitor: {
        addr: { hostname: "127.0.0.1", port: monitor.port },
        group: "event",
      },
    });
    try {
      await until(() => server.status === "operational", "blessed");
      py = new HatProcess("py event component", [
        PY_COMPONENT,
        String(monitor.port),
        "0.05",
      ]);
      // The component logs the monitor state and its registrations.
      await py.waitLine(/ monitor active=5 servers=event-5:\d+\/\d+$/, 20_000);
      await py.waitLine(/ runner server_id=5 .* status=OPERATIONAL$/);
      await py.waitLine(/ ok n=3 server_id=5 id=5,/);
      // Closing ours: the engine stops, the component's runner closes.
      const lines = py.lines.length;
      await server.asyncClose();
      await py.waitLine(/ (status status=STOPPING|closed runner)/, 5000, lines);
      await py.waitLine(/ monitor active=none servers=-$/, 5000, lines);
    } finally {
      await server.asyncClose();
      await py?.stop();
      await monitor.stop();
    }
  },
});

Deno.test("interop event server: a BLESS_ONE handover between two of our Event Servers in a hat-monitor group, followed by our event component", async () => {
  const monitor = await startHatMonitor({
    groupAlgorithms: { event: "BLESS_ONE" },
  });
  const addr = { hostname: "127.0.0.1", port: monitor.port };
  const s1 = await startEventServer({
    db: ":memory:",
    port: 0,
    serverId: 1,
    monitor: { addr, group: "event" },
  });
  let s2: Awaited<ReturnType<typeof startEventServer>> | null = null;
  const accepted: number[] = [];
  const component = await connectEventComponent(
    addr,
    "deno-comp",
    "component",
    "event",
    "deno-comp",
    (_c, server, client) => {
      const runner = new Group();
      runner.spawn(async (signal) => {
        while (!signal.aborted && client.isOpen) {
          try {
            const r = await client.register([{ type: ["x"] }], true);
            if (r) accepted.push(server.serverId);
          } catch {
            // closed
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      });
      return runner;
    },
  );
  try {
    await until(() => s1.status === "operational", "event-1 blessed");
    s2 = await startEventServer({
      db: ":memory:",
      port: 0,
      serverId: 2,
      monitor: { addr, group: "event" },
    });
    await component.setReady(true);
    await until(() => accepted.includes(1), "registered on event-1");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(s2.status, "standby", "one active at a time");
    // The active one stops: the other is blessed once it has left.
    await s1.asyncClose();
    await until(() => s2!.status === "operational", "event-2 blessed");
    await until(() => accepted.includes(2), "registered on event-2");
  } finally {
    await component.asyncClose();
    await s1.asyncClose();
    await s2?.asyncClose();
    await monitor.stop();
  }
});
