// Register throughput of the Event Server: one client registers batches
// of 1,000 JSON events with response (so each waits for its commit), 4 in
// flight, for --seconds after a warm-up second, on a database in a temp
// directory with `synchronous: "normal"` (no fsync per commit: the server,
// not the disk). Prints events/s, the best and the median of --runs.
//
//   deno run -A bench/event_server_register.ts [--runs=5] [--seconds=1]
//     [--conditions] [--repo=DIR]
//
// --conditions adds a storage rule every event meets, read from its
// payload (`quality` is "good"): the cost of a condition that parses every
// payload. --repo takes the Event Server and the client from another
// checkout, e.g. a commit's `git archive <commit> | tar -x -C DIR`; run
// both alternately and compare the medians.

import { jsonEvents } from "./_events.ts";
import { parseArgs, REGISTER_WINDOW, si, spread } from "./_workloads.ts";

const args = parseArgs(Deno.args);
const runs = Number(args.get("runs") ?? 5);
const seconds = Number(args.get("seconds") ?? 1);
const conditions = args.has("conditions");
const repo = args.get("repo") ?? new URL("..", import.meta.url).pathname;

const { startEventServer } = await import(`file://${repo}/event_server/mod.ts`);
const { connect } = await import(`file://${repo}/mod.ts`);

const batch = jsonEvents(1000).map((e) => ({
  type: e.type,
  sourceTimestamp: e.sourceTimestamp,
  payload: e.payload,
}));
const dir = await Deno.makeTempDir({ prefix: "event_server_register_" });
try {
  await using server = await startEventServer({
    db: `${dir}/events.db`,
    port: 0,
    synchronous: "normal",
    ...(conditions
      ? {
        storage: {
          conditions: [{
            subscriptions: [["gateway", "*"]],
            condition: {
              type: "json",
              dataPath: "quality",
              dataValue: "good",
            },
          }],
        },
      }
      : {}),
  });
  await using client = await connect(server.addresses[0], "bench");
  const window = Array.from({ length: REGISTER_WINDOW });
  const run = async (ms: number) => {
    let events = 0;
    const start = performance.now();
    while (performance.now() - start < ms) {
      await Promise.all(window.map(() => client.register(batch, true)));
      events += batch.length * REGISTER_WINDOW;
    }
    return events / ((performance.now() - start) / 1000);
  };
  await run(1000);
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) rates.push(await run(seconds * 1000));
  const s = spread(rates);
  console.log(
    `register, 1,000 JSON events a batch${
      conditions ? ", one condition" : ""
    }: best ${si(s.max)} events/s, median ${si(s.median)}`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
