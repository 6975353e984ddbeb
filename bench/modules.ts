// Register throughput of the Event Server with 0, 1 and 3 engine modules:
// one client registers batches of --batch measurement events (JSON
// numbers, a random walk over --types types) with response, 4 requests in
// flight, for --seconds; each module is the example deadband module
// (examples/deadband.ts, deadband 0.5) over `measurement/*`, each with
// its own prefix, so each adds about a third of the events to their
// sessions. Prints, for each count of modules, the median and range of
// client events a second (module output not counted) over --runs runs.
//
//   deno run -A bench/modules.ts [--modules=0,1,3] [--batch=100]
//     [--seconds=3] [--runs=3] [--types=1000] [--db=memory] [--repo=DIR]
//
// --repo takes the Event Server from another checkout (for 0 modules:
// the path without modules, before and after), e.g. one made by
// `git archive <commit> | tar -x -C DIR`. The database is a file in a
// temporary directory, synchronous "normal" (--db=memory: in memory, to
// see the engine's own cost with less of the store's).

import { parseArgs, si, spread, spreadText, table } from "./_workloads.ts";
import type { RegisterEvent } from "../common/event/mod.ts";

const args = parseArgs(Deno.args);
const counts = (args.get("modules") ?? "0,1,3").split(",").map(Number);
const batch = Number(args.get("batch") ?? 100);
const seconds = Number(args.get("seconds") ?? 3);
const runs = Number(args.get("runs") ?? 3);
const typeCount = Number(args.get("types") ?? 1000);
const memory = args.get("db") === "memory";
const repo = args.get("repo") ?? new URL("..", import.meta.url).pathname;
const WINDOW = 4;

const { startEventServer } = await import(`file://${repo}/event_server/mod.ts`);
const { connect } = await import(`file://${repo}/mod.ts`);
const { info } = await import("../examples/deadband.ts");

// A random walk per type: deadband 0.5 over steps in [-0.5, 0.5] lets
// about a third through.
const values = new Float64Array(typeCount);
let next = 0;
function makeBatch(): RegisterEvent[] {
  const events: RegisterEvent[] = [];
  for (let i = 0; i < batch; i++) {
    const t = next++ % typeCount;
    values[t] += Math.random() - 0.5;
    events.push({
      type: ["measurement", String(t)],
      payload: { kind: "json", data: values[t] },
    });
  }
  return events;
}

async function run(modules: number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "bench_modules_" });
  try {
    await using server = await startEventServer({
      db: memory ? ":memory:" : `${dir}/events.db`,
      port: 0,
      synchronous: "normal",
      ...(modules > 0
        ? {
          modules: Array.from({ length: modules }, (_, i) => ({
            info,
            conf: { deadband: 0.5, prefix: [`deadband${i}`] },
          })),
        }
        : {}),
    });
    await using client = await connect(server.addresses[0], "bench");
    let sent = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    await Promise.all(Array.from({ length: WINDOW }, async () => {
      while (performance.now() < end) {
        const r = await client.register(makeBatch(), true);
        if (r === null) throw new Error("register failed");
        sent += r.length;
      }
    }));
    return sent / ((performance.now() - t0) / 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const rows: string[][] = [];
for (const modules of counts) {
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) rates.push(await run(modules));
  const s = spread(rates);
  rows.push([
    String(modules),
    `${si(s.median)} events/s`,
    spreadText(s),
  ]);
}
console.log(
  `batch ${batch}, ${WINDOW} in flight, ${seconds} s x ${runs} runs, ` +
    `${typeCount} types, database ${memory ? "in memory" : "file"}`,
);
console.log(table(["modules", "median", "min / median / max"], rows));
