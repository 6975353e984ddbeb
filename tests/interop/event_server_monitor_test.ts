/**
 * Our Event Server as the member of a real `hat-monitor` group: blessed
 * (BLESS_ONE), it becomes operational, and the reference's
 * `hat.event.component` (`../shared/monitor/cluster/component.py`, when
 * there) finds it through the monitor and registers through it; closed,
 * it stops its engine and leaves the group.
 */

import { startEventServer } from "../../event_server/mod.ts";
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
