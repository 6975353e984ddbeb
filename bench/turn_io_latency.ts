// How long a socket's data waits while this process runs busy turns that
// yield with yieldToEventLoop (common/async/turns.ts), as a long query's
// steps do: an echo server and a loop of busy runs of --run ms in this
// process, a client in a worker (a thread and event loop of its own)
// sending 40 bytes every --interval ms. With each run allocating (as a
// query's steps do) and without.
//
//   deno run --allow-net --allow-read [--v8-flags=...]
//     bench/turn_io_latency.ts [--run=25] [--interval=150] [--count=30]
//
// A round trip should take at most a run and a yield (--run + 2-3 ms).
// Measured on Deno 2.9.6 on the project's shared 2-core box (2026-12-07),
// --run=5 --interval=20 --count=150, p99 / max ms:
//
// | --v8-flags                              | not allocating | allocating  |
// | --------------------------------------- | -------------- | ----------- |
// | --max-semi-space-size=1                 | 6.0-7.1 / 18   | 50-78 / 105 |
// | the same, --no-incremental-marking-task | 5.6 / 5.7      | 17 / 35     |
// | the same, --no-minor-gc-task too        | 5.6-5.7 / 7    | 10-14 / 26  |
// | the start task's (16 MiB semi-space)    | 5.5-5.8 / 9    | 13-18 / 32  |
//
// A 16 MiB semi-space costs some milliseconds here; under registration
// load, a 1 MiB one cost a fifth of the Event Server's thread (860
// scavenges in 5 s against 73).
//
// Runs of 25 ms, allocating: p99 115-231 ms with V8's defaults, 31 ms with
// the start task's flags. While V8 ran GC work as tasks between the runs,
// the event loop did not poll its sockets from one run to the next (an
// strace showed no epoll_wait for 175 ms while the 0 ms timers fired), and the
// data waited for 5-10 runs. This is what held up the other client of the
// long-query test (tests/event_server_query_test.ts) by 40-330 ms.

import { parseArgs } from "./_workloads.ts";
import { turnSpent, yieldToEventLoop } from "../common/async/mod.ts";

const args = parseArgs(Deno.args);
const run = Number(args.get("run") ?? 25);
const interval = Number(args.get("interval") ?? 150);
const count = Number(args.get("count") ?? 30);

async function measure(allocate: boolean): Promise<number[]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const worker = new Worker(new URL("./_echo_client.ts", import.meta.url), {
    type: "module",
  });
  try {
    worker.postMessage({ port: listener.addr.port, interval, count });
    const result = new Promise<number[]>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(e.error ?? new Error(e.message));
    });
    let done = false;
    const echo = (async () => {
      const conn = await listener.accept();
      const buf = new Uint8Array(64);
      for (let n; (n = await conn.read(buf)) !== null;) {
        await conn.write(buf.subarray(0, n));
      }
      conn.close();
    })();
    // Busy runs, as a query's steps: small objects, some kept a while.
    let kept: unknown[] = [];
    result.finally(() => done = true);
    while (!done) {
      const t = performance.now();
      while (performance.now() - t < run) {
        turnSpent();
        if (allocate) {
          kept.push({ id: [1, 2, kept.length], text: `event ${kept.length}` });
          if (kept.length > 200_000) kept = [];
        }
      }
      await yieldToEventLoop();
    }
    const ms = await result;
    await echo;
    return ms;
  } finally {
    worker.terminate();
  }
}

const line: string[] = [];
for (const allocate of [false, true]) {
  const ms = (await measure(allocate)).sort((a, b) => a - b);
  const at = (p: number) =>
    ms[Math.min(ms.length - 1, Math.floor(ms.length * p))];
  line.push(
    `${allocate ? "allocating" : "not allocating"}: p50 ${
      at(0.5).toFixed(1)
    } p99 ${at(0.99).toFixed(1)} max ${ms.at(-1)!.toFixed(1)}`,
  );
}
console.log(
  `round trips (ms) during busy runs of ${run} ms: ${line.join("; ")}`,
);
