// Load: a client flooding the Event Server from a process of its own does
// not starve another (`deno task test:load`).

import assert from "node:assert/strict";
import { connect } from "../../client.ts";
import { startEventServer } from "../../event_server/mod.ts";
import { captureLog, delay } from "../_net.ts";

Deno.test("bounded: a client flooding the Event Server from its own process does not starve another", async () => {
  using _log = captureLog();
  await using server = await startEventServer({ db: ":memory:", port: 0 });
  const flood = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("../_flood.ts", import.meta.url).pathname,
      String(server.addresses[0].port),
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = flood.stdout.getReader();
    await reader.read();
    reader.releaseLock();
    await flood.stdout.cancel();
    await delay(300);
    await using client = await connect(server.addresses[0], "probe");
    const latencies: number[] = [];
    let timerLate = 0;
    const end = performance.now() + 3000;
    const ticking = (async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await delay(10);
        timerLate = Math.max(timerLate, performance.now() - t - 10);
      }
    })();
    while (performance.now() < end) {
      const t = performance.now();
      await client.register([{ type: ["probe"] }], true);
      await client.query({ kind: "latest", eventTypes: [["probe"]] });
      latencies.push(performance.now() - t);
    }
    await ticking;
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)];
    console.log(
      `with a flooding client: ${latencies.length} register + latest pairs, p50 ${
        latencies[latencies.length >> 1].toFixed(1)
      } ms, p99 ${p99.toFixed(1)} ms; timers up to ${
        timerLate.toFixed(0)
      } ms late`,
    );
    assert.ok(latencies.length >= 20, `${latencies.length} pairs in 3 s`);
    assert.ok(p99 <= 50, `p99 ${p99.toFixed(1)} ms`);
  } finally {
    flood.kill();
    await flood.status;
  }
});
