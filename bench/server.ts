// The Event Server at plant scale, next to the reference's:
// `deno task bench:server`. See BENCHMARKS.md ("Event Server").
//
// Each server runs in its own process on a database in a fresh temporary
// directory: ours (cli/serve.ts, defaults: an answer after the commit,
// `synchronous` full) and, when the venv of the interop tests is there,
// the reference's (hat-event-server 0.9.44, LMDB backend, flush period
// 1 s: it answers before its flush). Both are driven by the reference's
// own client (bench/reference/server_load.py), the same requests; the
// restart is timed with our client. Our Deno client then measures the
// library's ratio: register throughput (batch 1,000 with response,
// 4 in flight) through our Event Server and through the library alone
// (bench/_library_server.ts, a register callback storing nothing), in the
// same run: three alternating rounds of each, their medians.
//
// Rows: register with response (batch 1, 100, 1,000; one request at a
// time) and 20 clients at once (batch 100 each), on a fresh database;
// then, on another fresh one, a fill of --events events over --types
// types (every request of 1,000 spreads over all of them) with the rate
// of its first and last tenth, the bytes the server wrote to disk per
// event over the fill (/proc/<pid>/io write_bytes, 1.5 s after the last
// answer so that the reference's last flush counts), the database's size
// per event, timeseries pages of the filled database (newest 100, 100
// that many events deep, the newest 100 of one type), restart to the
// first query answered, and memory.
//
// Options: --events=1000000 --types=1000 --seconds=3 (each throughput
// row) --no-reference --keep (leave the databases).

import { connect } from "../mod.ts";
import { parseArgs, registerEvents, si, table } from "./_workloads.ts";
import { machine } from "./_workloads.ts";
import {
  filesSize,
  freePort,
  memory,
  type ServerProcess,
  startLibrary,
  startOurs,
  startReference,
  waitConnectable,
} from "./_server_process.ts";

const args = parseArgs(Deno.args);
const EVENTS = Number(args.get("events") ?? 1_000_000);
const TYPES = Number(args.get("types") ?? 1000);
const SECONDS = Number(args.get("seconds") ?? 3);
const DEEP = Math.floor(EVENTS / 2);
const root = new URL("../", import.meta.url).pathname;
const venv = Deno.env.get("HAT_INTEROP_VENV") || `${root}.venv`;
const python = `${venv}/bin/python`;
const loadScript = `${root}bench/reference/server_load.py`;

async function hasReference(): Promise<boolean> {
  if (args.has("no-reference")) return false;
  try {
    const { code } = await new Deno.Command(python, {
      args: ["-c", "import hat.event.server.main, hat.event.backends.lmdb"],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/** One phase of bench/reference/server_load.py against `port`. */
async function load(
  phase: string,
  port: number,
  options: Record<string, number> = {},
): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(python, {
    args: [
      loadScript,
      `--phase=${phase}`,
      `--port=${port}`,
      `--types=${TYPES}`,
      ...Object.entries(options).map(([k, v]) => `--${k}=${v}`),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`server_load.py --phase=${phase} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Events/s of our client: batch 1,000 with response, 4 in flight. */
async function denoRegister(port: number): Promise<number> {
  await using client = await connect(
    { hostname: "127.0.0.1", port },
    "bench-deno",
  );
  const events = registerEvents(1000);
  const run = async (seconds: number) => {
    let done = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    const worker = async () => {
      while (performance.now() < end) {
        const result = await client.register(events, true);
        if (result === null) throw new Error("register failed");
        done += result.length;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return done / ((performance.now() - start) / 1000);
  };
  await run(Math.min(0.5, SECONDS));
  return await run(SECONDS);
}

/** Milliseconds from spawning a server to its first query answered. */
async function restart(
  start: () => Promise<ServerProcess>,
): Promise<{ ms: number; server: ServerProcess }> {
  const t0 = performance.now();
  const server = await start();
  await waitConnectable(server.port);
  return { ms: performance.now() - t0, server };
}

// Rounds of our client through the Event Server and through the library
// alone, alternating: [ours, library] events/s.
const ROUNDS = 3;
const rounds: [number, number][] = [];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

interface Figures {
  [row: string]: number;
}

async function measureServer(
  name: string,
  start: (dir: string) => Promise<ServerProcess>,
  prefix: string,
): Promise<Figures> {
  const f: Figures = {};
  const log = (row: string, value: number) => {
    f[row] = value;
    console.error(`${name}: ${row} ${value.toFixed(3)}`);
  };
  // Throughput rows, on a fresh database.
  {
    const dir = await Deno.makeTempDir({ prefix: `bench_server_${name}_` });
    const server = await start(dir);
    try {
      for (const batch of [1, 100, 1000]) {
        const r = await load("register", server.port, {
          batch,
          seconds: SECONDS,
        });
        log(`register${batch}`, r.eventsPerSecond as number);
      }
      const r = await load("clients", server.port, {
        clients: 20,
        batch: 100,
        seconds: SECONDS,
      });
      log("clients20", r.eventsPerSecond as number);
      if (name === "ours") {
        // Against the library alone, in alternating rounds (either varies
        // by half from one 3 s run to the next here): the medians.
        const alone = await startLibrary();
        try {
          for (let i = 0; i < ROUNDS; i++) {
            const [a, b] = [
              await denoRegister(server.port),
              await denoRegister(alone.port),
            ];
            console.error(
              `deno1000: ours ${a.toFixed(0)}, library ${b.toFixed(0)}`,
            );
            rounds.push([a, b]);
          }
        } finally {
          await alone.stop();
        }
        log("deno1000", median(rounds.map(([a]) => a)));
      }
    } finally {
      await server.stop();
      if (!args.has("keep")) await Deno.remove(dir, { recursive: true });
    }
  }
  // The fill, its pages, restart and memory, on another.
  const dir = await Deno.makeTempDir({ prefix: `bench_server_${name}_` });
  let server = await start(dir);
  try {
    const t0 = performance.now();
    const r = await load("fill", server.port, {
      events: EVENTS,
      batch: 1000,
      pid: server.pid,
      settle: 1.5,
    });
    log("fillSeconds", (performance.now() - t0) / 1000);
    const rates = r.rates as number[];
    log("fillFirst", rates[0]);
    log("fillLast", rates[rates.length - 1]);
    log("writePerEvent", (r.writeBytes as number) / EVENTS);
    log("sizePerEvent", (await filesSize(dir, prefix)) / EVENTS);
    const pages = await load("pages", server.port, {
      deep: DEEP,
      batch: 1000,
      events: EVENTS,
    });
    log("newest", pages.newest as number);
    log("deep", pages.deep as number);
    log("oneType", pages.oneType as number);
    const mem = await memory(server.pid);
    log("rss", mem.rss);
    log("peak", mem.peak);
    await server.stop();
    const restarted = await restart(() => start(dir));
    server = restarted.server;
    log("restart", restarted.ms);
  } finally {
    await server.stop();
    if (!args.has("keep")) await Deno.remove(dir, { recursive: true });
  }
  return f;
}

const ours = await measureServer(
  "ours",
  (dir) => startOurs(`${dir}/ours.db`),
  "ours.db",
);
const library = median(rounds.map(([, b]) => b));
const ratios = rounds.map(([a, b]) => 100 * a / b).sort((x, y) => x - y);
const reference = await hasReference()
  ? await measureServer(
    "reference",
    (dir) => startReference(python, dir, freePort()),
    "ref.db",
  )
  : null;

const rate = (v: number) => `${si(v)} events/s`;
const ms = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`;
const bytes = (v: number) =>
  v >= 1024 * 1024
    ? `${(v / 1024 / 1024).toFixed(0)} MiB`
    : v >= 1024
    ? `${(v / 1024).toFixed(1)} KiB`
    : `${v.toFixed(0)} B`;
const k = (n: number) =>
  n >= 1e6 ? `${n / 1e6}M` : n >= 1000 ? `${n / 1000}k` : String(n);
const ROWS: [string, string, (v: number) => string, boolean][] = [
  ["register1", "register, batch 1, with response", rate, true],
  ["register100", "register, batch 100, with response", rate, true],
  ["register1000", "register, batch 1,000, with response", rate, true],
  ["clients20", "20 clients, batch 100 each, with response", rate, true],
  [
    "fillFirst",
    `fill ${k(EVENTS)} over ${k(TYPES)} types: first 10 %`,
    rate,
    true,
  ],
  [
    "fillLast",
    `fill ${k(EVENTS)} over ${k(TYPES)} types: last 10 %`,
    rate,
    true,
  ],
  ["writePerEvent", "bytes written to disk per event (fill)", bytes, false],
  ["sizePerEvent", "database size per event", bytes, false],
  ["newest", "timeseries: newest 100", ms, false],
  ["deep", `timeseries: 100, ${k(DEEP)} deep`, ms, false],
  ["oneType", `timeseries: newest 100 of one type of ${k(TYPES)}`, ms, false],
  ["restart", `restart to first query (${k(EVENTS)} events)`, ms, false],
  ["rss", "RSS after the fill and pages", bytes, false],
  ["peak", "peak RSS", bytes, false],
];

console.log(`\n${await machine()}`);
console.log(
  `deno task bench:server --events=${EVENTS} --types=${TYPES} --seconds=${SECONDS}\n`,
);
const header = ["", "ours"];
if (reference) header.push("reference", "ours / reference (>1: ours better)");
console.log(table(
  header,
  ROWS.map(([key, label, fmt, higherBetter]) => {
    const row = [label, fmt(ours[key])];
    if (reference) {
      const ratio = higherBetter
        ? ours[key] / reference[key]
        : reference[key] / ours[key];
      row.push(fmt(reference[key]), `${ratio.toFixed(2)}`);
    }
    return row;
  }),
));
console.log(
  `\nfill: last 10 % at ${
    (100 * ours.fillLast / ours.fillFirst).toFixed(0)
  } % of the first 10 % (ours)${
    reference
      ? `, ${
        (100 * reference.fillLast / reference.fillFirst).toFixed(0)
      } % (reference); bytes written per event ${
        (ours.writePerEvent / reference.writePerEvent).toFixed(2)
      }x the reference's`
      : ""
  }`,
);
console.log(
  `our client, batch 1,000 with response, 4 in flight (medians of ${ROUNDS} alternating rounds): Event Server ${
    rate(ours.deno1000)
  }, library alone ${rate(library)}: ${
    (100 * ours.deno1000 / library).toFixed(1)
  } % of the library (rounds: ${ratios.map((r) => r.toFixed(1)).join(", ")} %)`,
);
