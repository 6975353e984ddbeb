// Soak run: minutes of continuous register / notify / query traffic
// between our server and N of our clients over loopback, in one process.
// Prints throughput and memory (RSS, heap after GC) at the start, every
// --report seconds and at the end; exits 1 if any notification was lost,
// duplicated, reordered or misdelivered.
//
//   deno task soak [--seconds=180] [--clients=50] [--registrars=5]
//                  [--queriers=5] [--batch=10] [--report=30] [--seed=N]

import { parseArgs } from "node:util";
import { type Client, connect, listen, Subscription } from "../mod.ts";
import type { Event, EventType, RegisterEvent } from "../mod.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "180" },
    clients: { type: "string", default: "50" },
    registrars: { type: "string", default: "5" },
    queriers: { type: "string", default: "5" },
    batch: { type: "string", default: "10" },
    report: { type: "string", default: "30" },
    seed: { type: "string" },
  },
});
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
const REGISTRARS = Math.min(Number(args.registrars), CLIENTS);
const QUERIERS = Math.min(Number(args.queriers), CLIENTS);
const BATCH = Number(args.batch);
const REPORT = Number(args.report);
let seed = args.seed === undefined
  ? crypto.getRandomValues(new Uint32Array(1))[0]
  : Number(args.seed) >>> 0;
const SEED = seed;

// mulberry32, as in tests/_rng.ts (tools do not import from tests/).
function rand(): number {
  let t = (seed = (seed + 0x6d2b79f5) | 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

const SEGMENTS = ["s0", "s1", "s2", "s3"];
// A handful of distinct subscriptions shared by the clients, so expected
// counts are computed once per pattern, not once per client.
const PATTERNS: EventType[][] = [
  [["soak", "*"]],
  [["soak", "s0", "*"]],
  [["soak", "?", "s1"]],
  [["soak", "s2", "s3"], ["soak", "s3", "?"]],
  [["?", "s1", "*"]],
  [["soak", "s0", "s0"]],
  [["other", "*"]],
  [["*"]],
];
const matchers = PATTERNS.map((p) => new Subscription(p));

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function memory(): string {
  gc();
  const m = Deno.memoryUsage();
  const mib = (n: number) => (n / 1048576).toFixed(1);
  return `RSS ${mib(m.rss)} MiB, heap used ${mib(m.heapUsed)} / total ${
    mib(m.heapTotal)
  } MiB`;
}

// ---------------------------------------------------------------- server

let instance = 0;
let registeredEvents = 0;
const expected = new Array<number>(PATTERNS.length).fill(0);
const recent: Event[] = [];

const server = await listen({ hostname: "127.0.0.1", port: 0 }, {
  status: "operational",
  registerCb: async (_info, events: RegisterEvent[]) => {
    const out = events.map((e): Event => ({
      id: { server: 1, session: 1, instance: ++instance },
      type: e.type,
      timestamp: { s: Math.floor(Date.now() / 1000), us: instance % 1000000 },
      sourceTimestamp: e.sourceTimestamp ?? null,
      payload: e.payload ?? null,
    }));
    for (const e of out) {
      for (let p = 0; p < matchers.length; p++) {
        if (matchers[p].matches(e.type)) expected[p]++;
      }
      recent.push(e);
    }
    if (recent.length > 100) recent.splice(0, recent.length - 100);
    registeredEvents += out.length;
    await server.notifyEvents(out, false);
    return out;
  },
  queryCb: (_info, params) => ({
    events: params.kind === "latest" ? recent.slice(-10) : recent.slice(0, 5),
    moreFollows: false,
  }),
});
const addr = server.addresses[0];

// ---------------------------------------------------------------- clients

interface Tracker {
  pattern: number;
  received: number;
  last: number;
  faults: string[];
}

const trackers: Tracker[] = [];
const clients: Client[] = [];
for (let i = 0; i < CLIENTS; i++) {
  const t: Tracker = {
    pattern: i % PATTERNS.length,
    received: 0,
    last: 0,
    faults: [],
  };
  trackers.push(t);
  clients.push(
    await connect(addr, `soak-${i}`, {
      subscriptions: PATTERNS[t.pattern],
      eventsCb: (_c, events) => {
        for (const e of events) {
          const id = e.id.instance;
          if (id <= t.last) {
            t.faults.push(`event ${id} after ${t.last} (duplicate or reorder)`);
          }
          if (!matchers[t.pattern].matches(e.type)) {
            t.faults.push(`event ${id} ${e.type.join("/")} does not match`);
          }
          t.last = id;
          t.received++;
        }
      },
    }),
  );
}

let stop = false;
let queries = 0;
let requestErrors = 0;
let latencies: number[] = [];

async function registerLoop(c: Client, r: number): Promise<void> {
  for (let k = 0; !stop; k++) {
    const events = Array.from({ length: BATCH }, (_, j): RegisterEvent => ({
      type: rand() < 0.1
        ? ["other", pick(SEGMENTS)]
        : ["soak", pick(SEGMENTS), pick(SEGMENTS)],
      payload: rand() < 0.5
        ? { kind: "json", data: { r, k, j, at: Date.now() } }
        : { kind: "binary", type: "blob", data: new Uint8Array(64) },
    }));
    const start = performance.now();
    try {
      if (k % 4 === 3) {
        // Without response: resolves once queued (send waits when full).
        await c.register(events);
      } else {
        const res = await c.register(events, true);
        if (res?.length !== BATCH) throw new Error("short register response");
        latencies.push(performance.now() - start);
      }
    } catch (e) {
      requestErrors++;
      console.error(`register failed: ${e}`);
    }
  }
}

async function queryLoop(c: Client): Promise<void> {
  for (let k = 0; !stop; k++) {
    try {
      await c.query(
        k % 2
          ? { kind: "latest", eventTypes: [["soak", "*"]] }
          : { kind: "timeseries", maxResults: 5 },
      );
      queries++;
    } catch (e) {
      requestErrors++;
      console.error(`query failed: ${e}`);
    }
  }
}

const delivered = () => trackers.reduce((n, t) => n + t.received, 0);

console.log(
  `soak: ${SECONDS} s, ${CLIENTS} clients (${REGISTRARS} registering ` +
    `${BATCH}-event batches, ${QUERIERS} querying), seed ${SEED}, ` +
    `report every ${REPORT} s`,
);
console.log(`start: ${memory()}`);

const t0 = performance.now();
let last = { t: t0, registered: 0, delivered: 0, queries: 0 };
function report(label: string): void {
  const now = performance.now();
  const d = delivered();
  const dt = (now - last.t) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const p99 = sorted.length
    ? sorted[Math.floor(0.99 * (sorted.length - 1))]
    : 0;
  console.log(
    `${label} ${((now - t0) / 1000).toFixed(0).padStart(4)} s: ` +
      `${
        ((registeredEvents - last.registered) / dt).toFixed(0)
      } events/s registered, ` +
      `${((d - last.delivered) / dt).toFixed(0)} notifications/s delivered, ` +
      `${((queries - last.queries) / dt).toFixed(0)} queries/s, ` +
      `register p99 ${p99.toFixed(1)} ms; ${memory()}`,
  );
  last = { t: now, registered: registeredEvents, delivered: d, queries };
  latencies = [];
}

const loops = [
  ...clients.slice(0, REGISTRARS).map((c, r) => registerLoop(c, r)),
  ...clients.slice(CLIENTS - QUERIERS).map((c) => queryLoop(c)),
];
const ticker = setInterval(() => report("at"), REPORT * 1000);
await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
stop = true;
clearInterval(ticker);
await Promise.all(loops);
const trafficSeconds = (performance.now() - t0) / 1000;

// Drain: every client must reach exactly its pattern's expected count.
const want = () => trackers.reduce((n, t) => n + expected[t.pattern], 0);
const drainEnd = performance.now() + 30_000;
while (delivered() < want() && performance.now() < drainEnd) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
await new Promise((resolve) => setTimeout(resolve, 200));
report("end");

let lost = 0;
let extra = 0;
const faults: string[] = [];
for (const [i, t] of trackers.entries()) {
  const diff = t.received - expected[t.pattern];
  if (diff < 0) lost -= diff;
  if (diff > 0) extra += diff;
  for (const f of t.faults.slice(0, 3)) faults.push(`client ${i}: ${f}`);
}
const totalExpected = want();
console.log(
  `totals: ${registeredEvents} events registered, ${totalExpected} ` +
    `notifications expected, ${delivered()} delivered, ${lost} lost, ` +
    `${extra} extra, ${faults.length} order/match faults, ` +
    `${queries} queries, ${requestErrors} failed requests, over ` +
    `${trafficSeconds.toFixed(0)} s (${
      (registeredEvents / trafficSeconds).toFixed(0)
    } events/s, ${(delivered() / trafficSeconds).toFixed(0)} notifications/s)`,
);
for (const f of faults.slice(0, 20)) console.log(`  ${f}`);

await Promise.all(clients.map((c) => c.asyncClose()));
await server.asyncClose();
console.log(`closed: ${memory()}`);

const ok = lost === 0 && extra === 0 && faults.length === 0 &&
  requestErrors === 0;
console.log(ok ? "PASS: nothing lost or duplicated" : "FAIL");
if (!ok) Deno.exit(1);
