// End-to-end time of long queries alone: an Event Server on a database of
// --types event types with one event each (as tests/_fill_store.ts writes
// them) and one client, each query --reps times after one to warm up,
// with a collection before each: latest over every type, a timeseries
// over everything (descending, then ascending). Prints the median and the
// minimum of each, in ms, on one line.
//
//   deno run -A --v8-flags=--expose-gc bench/long_query.ts
//     [--types=200000] [--reps=9] [--repo=DIR]
//
// --repo takes the Event Server and the client from another checkout (the
// same database and workload), e.g. a commit's `git archive <commit> |
// tar -x -C DIR`. On a shared VM one run is noise: run this one and the
// other alternately, five times each, and compare the medians. (Two
// servers in one process disturb each other: one's garbage is collected
// during the other's queries.)

import { parseArgs, spread } from "./_workloads.ts";
import { fillTypes } from "../tests/_fill_store.ts";

const args = parseArgs(Deno.args);
const types = Number(args.get("types") ?? 200_000);
const reps = Number(args.get("reps") ?? 9);
const repo = args.get("repo") ?? new URL("..", import.meta.url).pathname;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

const { startEventServer } = await import(`file://${repo}/event_server/mod.ts`);
const { connect } = await import(`file://${repo}/mod.ts`);

const dir = await Deno.makeTempDir({ prefix: "long_query_" });
try {
  const db = `${dir}/events.db`;
  fillTypes(db, types, { s: Math.floor(Date.now() / 1000) - 3600, us: 0 });
  await using server = await startEventServer({ db, port: 0 });
  await using client = await connect(server.addresses[0], "bench");
  const queries = {
    latest: { kind: "latest" },
    timeseries: { kind: "timeseries" },
    ascending: { kind: "timeseries", order: "ascending" },
  };
  const line: string[] = [];
  for (const [name, params] of Object.entries(queries)) {
    await client.query(params);
    const ms: number[] = [];
    let events = 0;
    for (let i = 0; i < reps; i++) {
      gc();
      const t = performance.now();
      events = (await client.query(params)).events.length;
      ms.push(performance.now() - t);
    }
    const s = spread(ms);
    line.push(
      `${name} (${events}) ${s.median.toFixed(0)} / ${s.min.toFixed(0)}`,
    );
  }
  console.log(`median / min ms: ${line.join(", ")}`);
} finally {
  await Deno.remove(dir, { recursive: true });
}
