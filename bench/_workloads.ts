// End-to-end workloads shared by bench/e2e.ts and bench/compare.ts: their
// definitions, the runners for our client and server (both in this
// process), the raw-TCP baselines, statistics and table printing.
//
// Every figure is a rate (higher is better) measured `runs` times after one
// discarded warm-up run; a run stops after `maxOps` operations or
// `seconds`, whichever comes first, and always completes at least one.
// bench/reference/workloads.py mirrors these definitions for the reference.

import { connect, type Event, listen, type RegisterEvent } from "../mod.ts";
import { now } from "../common/event/mod.ts";
import type { Client, QueryParams, QueryResult, Server } from "../mod.ts";
import { jsonEvents } from "./_events.ts";

/** Where everything binds and connects. */
export const LOCAL = { hostname: "127.0.0.1", port: 0 };
/** Events per batch in the throughput workloads. */
export const BATCH = 1000;
/** Register requests in flight in the register throughput workload. */
export const REGISTER_WINDOW = 4;
/** Notify batches a client may lag behind in the no-ack workloads. */
export const NOTIFY_WINDOW = 8;
/** Clients of the fan-out workloads. */
export const FANOUT_CLIENTS = 100;
/** Every client subscribes to all events of the batches. */
export const SUBSCRIPTIONS = [["gateway", "*"]];
/** A run that sees no progress for this long fails instead of hanging. */
export const STALL_MS = 60_000;

/** How long and how often to measure. */
export interface Limits {
  /** Measured runs (a discarded warm-up run comes first). */
  runs: number;
  /** Seconds per run (a run always completes at least one operation). */
  seconds: number;
  /** Operations per run at most. */
  maxOps: number;
}

/** One workload, its unit and how to describe its best value. */
export interface Workload {
  /** Identifier shared with bench/reference/workloads.py. */
  id: string;
  /** Table label. */
  label: string;
  /** Unit of the measured value. */
  unit: string;
  /** Derived figures of a value, e.g. µs per round trip. */
  notes: (value: number) => string;
  /** What is compared with the raw-TCP baseline (bench/compare.ts). */
  raw: RawShape;
  /** The Performance issue's target, as text ("" when it sets none). */
  target: string;
  /** The target as a lowest acceptable value, when it is absolute. */
  targetMin?: number;
}

/**
 * The pattern of the raw-TCP baseline of a workload (bench/compare.ts),
 * which moves buffers of the sizes our frames have on the wire.
 */
export type RawShape =
  | {
    kind: "pingpong";
    /** Requests in flight. */
    window: number;
    /** Value units per round trip (events per request, or 1). */
    per: number;
  }
  | {
    kind: "push";
    /** Each message is acked. */
    ack: boolean;
    /** Receiving sockets. */
    clients: number;
    /** Messages a receiver may lag behind (1 with ack). */
    window: number;
  };

/** Query of the latest workload. */
export const LATEST_QUERY: QueryParams = {
  kind: "latest",
  eventTypes: [["gateway", "*"]],
};
/** Query of the timeseries workload. */
export const TIMESERIES_QUERY: QueryParams = {
  kind: "timeseries",
  eventTypes: [["gateway", "*"]],
  tFrom: { s: 1732000000, us: 0 },
  tTo: { s: 1733000000, us: 0 },
  order: "ascending",
  orderBy: "timestamp",
  maxResults: BATCH,
};

const perRoundTrip = (v: number) => `${(1e6 / v).toFixed(1)} µs/round trip`;
const perQuery = (v: number) => `${perRoundTrip(v)}, ${si(v * BATCH)} events/s`;
const fanoutNotes = (v: number) =>
  `total ${si(v * FANOUT_CLIENTS)} events/s over ${FANOUT_CLIENTS} clients`;

function notify(clients: number, ack: boolean): RawShape {
  return {
    kind: "push",
    ack,
    clients,
    window: ack ? 1 : NOTIFY_WINDOW,
  };
}

/** The workloads run by both e2e.ts and compare.ts, in table order. */
export const WORKLOADS: readonly Workload[] = [
  {
    id: "register_rt",
    label: "register round trip, batch 1, with response",
    unit: "round trips/s",
    notes: perRoundTrip,
    target: "≥ 0.8× raw TCP ping-pong, ≥ 15× reference",
    raw: {
      kind: "pingpong",
      window: 1,
      per: 1,
    },
  },
  {
    id: "register_tput",
    label:
      `register throughput, batch ${BATCH} JSON, with response, ${REGISTER_WINDOW} in flight`,
    unit: "events/s",
    notes: (v) => `${si(v / BATCH)} requests/s`,
    target: "≥ 1 M events/s (reference ~16 k)",
    targetMin: 1_000_000,
    raw: {
      kind: "pingpong",
      window: REGISTER_WINDOW,
      per: BATCH,
    },
  },
  {
    id: "notify_1_noack",
    label:
      `notify ${BATCH} JSON → 1 client, no ack (≤ ${NOTIFY_WINDOW} batches ahead)`,
    unit: "events/s per client",
    notes: () => "",
    target: "≥ 1.5 M events/s (reference ~35 k)",
    targetMin: 1_500_000,
    raw: notify(1, false),
  },
  {
    id: "notify_1_ack",
    label: `notify ${BATCH} JSON → 1 client, with ack (1 in flight)`,
    unit: "events/s per client",
    notes: () => "",
    target: "",
    raw: notify(1, true),
  },
  {
    id: "notify_100_noack",
    label:
      `notify ${BATCH} JSON → ${FANOUT_CLIENTS} clients, no ack (≤ ${NOTIFY_WINDOW} batches ahead)`,
    unit: "events/s per client",
    notes: fanoutNotes,
    target: "",
    raw: notify(FANOUT_CLIENTS, false),
  },
  {
    id: "notify_100_ack",
    label:
      `notify ${BATCH} JSON → ${FANOUT_CLIENTS} clients, with ack (1 in flight)`,
    unit: "events/s per client",
    notes: fanoutNotes,
    target: "",
    raw: notify(FANOUT_CLIENTS, true),
  },
  {
    id: "query_latest",
    label: `query latest, ${BATCH} events in the result`,
    unit: "round trips/s",
    notes: perQuery,
    target: "",
    raw: {
      kind: "pingpong",
      window: 1,
      per: 1,
    },
  },
  {
    id: "query_timeseries",
    label: `query timeseries, ${BATCH} events in the result`,
    unit: "round trips/s",
    notes: perQuery,
    target: "",
    raw: {
      kind: "pingpong",
      window: 1,
      per: 1,
    },
  },
];

// ------------------------------------------------------------- statistics

/** Min, median and max of a series of rates; best is the max. */
export interface Spread {
  /** Lowest. */
  min: number;
  /** Median. */
  median: number;
  /** Highest (the reported best for rates). */
  max: number;
}

/** Spread of `values` (at least one). */
export function spread(values: readonly number[]): Spread {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { min: s[0], median, max: s[s.length - 1] };
}

/** `n` with an SI suffix and three significant digits. */
export function si(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  const [d, suffix] = abs >= 1e9
    ? [1e9, " G"]
    : abs >= 1e6
    ? [1e6, " M"]
    : abs >= 1e3
    ? [1e3, " k"]
    : [1, ""];
  const v = n / d;
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return v.toFixed(digits) + suffix;
}

/** `min / median / max` of a spread. */
export function spreadText(s: Spread, fmt: (n: number) => string = si): string {
  return `${fmt(s.min)} / ${fmt(s.median)} / ${fmt(s.max)}`;
}

/** A Markdown table with padded columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length))
  );
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  return [
    line(header),
    "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|",
    ...rows.map(line),
  ].join("\n");
}

// ---------------------------------------------------------------- timing

/** Deno version, cores, CPU model (when readable) and the date. */
export async function machine(): Promise<string> {
  let cpu = "";
  try {
    // Deno reads /proc only with --allow-all; a subprocess needs less.
    const out = await new Deno.Command("cat", {
      args: ["/proc/cpuinfo"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const info = new TextDecoder().decode(out.stdout);
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? "";
  } catch {
    // Not Linux, or no run permission: leave it out.
  }
  return `deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${navigator.hardwareConcurrency} cores${
    cpu ? ` (${cpu})` : ""
  }, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Seconds since an arbitrary origin. */
export function clock(): number {
  return performance.now() / 1000;
}

/** Resolve after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wake-ups from callbacks to a waiting measurement loop. */
export class Progress {
  #waiter: PromiseWithResolvers<void> | null = null;

  /** Wake the waiting loop, if any. */
  wake(): void {
    this.#waiter?.resolve();
    this.#waiter = null;
  }

  /** Wait for the next wake-up; rejects after {@linkcode STALL_MS}. */
  async wait(what: string): Promise<void> {
    this.#waiter ??= Promise.withResolvers<void>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what}: no progress for ${STALL_MS} ms`)),
        STALL_MS,
      );
    });
    try {
      await Promise.race([this.#waiter.promise, stalled]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Run `step` from `window` concurrent workers until `limits.maxOps` steps
 * started or `limits.seconds` passed (at least one step).
 *
 * @returns Completed steps per second.
 */
export async function repeat(
  limits: Limits,
  window: number,
  step: () => Promise<unknown>,
): Promise<number> {
  const start = clock();
  const end = start + limits.seconds;
  let started = 0;
  const worker = async () => {
    while (started < limits.maxOps && (started === 0 || clock() < end)) {
      started++;
      await step();
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return started / (clock() - start);
}

/** One warm-up run, then `limits.runs` measured runs of `run`. */
export async function measure(
  limits: Limits,
  run: (limits: Limits) => Promise<number>,
): Promise<number[]> {
  await run({ ...limits, seconds: Math.min(limits.seconds, 0.3) });
  const values: number[] = [];
  for (let i = 0; i < limits.runs; i++) values.push(await run(limits));
  return values;
}

/** Write all of `data`. */
export async function writeAll(
  conn: Deno.Conn,
  data: Uint8Array,
): Promise<void> {
  let done = 0;
  while (done < data.length) done += await conn.write(data.subarray(done));
}

/**
 * Call `onMessage` for each `size` bytes read from a raw socket (awaiting
 * it when it returns a promise), until the socket closes.
 */
export async function countMessages(
  conn: Deno.Conn,
  size: number,
  onMessage: () => void | Promise<void>,
): Promise<void> {
  const buf = new Uint8Array(256 * 1024);
  let pending = 0;
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      pending += n;
      while (pending >= size) {
        pending -= size;
        const wait = onMessage();
        if (wait) await wait;
      }
    }
  } catch {
    // Closed by the benchmark.
  }
}

// ------------------------------------------------------------ our runners

/** Register events of the register workloads (as `jsonEvents`). */
export function registerEvents(n: number): RegisterEvent[] {
  return jsonEvents(n).map((e) => ({
    type: e.type,
    sourceTimestamp: e.sourceTimestamp,
    payload: e.payload,
  }));
}

let session = 0;

/** What a real server does: one session per request, its own timestamp. */
export function registerCb(_info: unknown, events: RegisterEvent[]): Event[] {
  const s = ++session;
  const timestamp = now();
  return events.map((e, i) => ({
    id: { server: 1, session: s, instance: i + 1 },
    type: e.type,
    timestamp,
    sourceTimestamp: e.sourceTimestamp ?? null,
    payload: e.payload ?? null,
  }));
}

/** What the query workloads' server answers. */
export const queryResult: QueryResult = {
  events: jsonEvents(BATCH),
  moreFollows: false,
};

async function requestWorkload(
  limits: Limits,
  step: (client: Client) => Promise<unknown>,
  window = 1,
): Promise<number[]> {
  await using server = await listen(LOCAL, {
    status: "operational",
    registerCb,
    queryCb: () => queryResult,
  });
  await using client = await connect(server.addresses[0], "bench");
  return await measure(limits, (l) => repeat(l, window, () => step(client)));
}

/** Connect `n` clients counting the events they are notified. */
export async function notifiedClients(
  server: Server,
  n: number,
  progress: Progress,
): Promise<{ clients: Client[]; delivered: Float64Array }> {
  const delivered = new Float64Array(n);
  const clients: Client[] = [];
  for (let i = 0; i < n; i += 50) {
    clients.push(
      ...await Promise.all(
        Array.from(
          { length: Math.min(50, n - i) },
          (_, j) =>
            connect(server.addresses[0], `bench-${i + j}`, {
              subscriptions: SUBSCRIPTIONS,
              eventsCb: (_c, events) => {
                delivered[i + j] += events.length;
                progress.wake();
              },
            }),
        ),
      ),
    );
  }
  return { clients, delivered };
}

/**
 * Notify batches of `BATCH` events to every connected client until the
 * limits, then wait until each client got them all.
 *
 * @returns Events per second delivered to each client.
 */
export async function notifyRun(
  limits: Limits,
  server: Server,
  batch: readonly Event[],
  delivered: Float64Array,
  progress: Progress,
  ack: boolean,
): Promise<number> {
  const base = delivered.slice();
  const slowest = () => {
    let min = Infinity;
    for (let i = 0; i < delivered.length; i++) {
      min = Math.min(min, delivered[i] - base[i]);
    }
    return min / batch.length;
  };
  const start = clock();
  const end = start + limits.seconds;
  let sent = 0;
  while (sent < limits.maxOps && (sent === 0 || clock() < end)) {
    if (!ack) {
      while (sent - slowest() >= NOTIFY_WINDOW) await progress.wait("notify");
    }
    await server.notifyEvents(batch, false, ack);
    sent++;
  }
  while (slowest() < sent) await progress.wait("notify delivery");
  return sent * batch.length / (clock() - start);
}

async function notifyWorkload(
  limits: Limits,
  n: number,
  ack: boolean,
): Promise<number[]> {
  await using server = await listen(LOCAL, { status: "operational" });
  const progress = new Progress();
  const { clients, delivered } = await notifiedClients(server, n, progress);
  try {
    const batch = jsonEvents(BATCH);
    return await measure(
      limits,
      (l) => notifyRun(l, server, batch, delivered, progress, ack),
    );
  } finally {
    await Promise.all(clients.map((c) => c.asyncClose()));
  }
}

/** Our implementation's runner of each workload (client and server here). */
export const OURS: Record<string, (limits: Limits) => Promise<number[]>> = {
  register_rt: (l) => {
    const events = registerEvents(1);
    return requestWorkload(l, (c) => c.register(events, true));
  },
  register_tput: (l) => {
    const events = registerEvents(BATCH);
    return requestWorkload(
      l,
      (c) => c.register(events, true).then((r) => r?.length),
      REGISTER_WINDOW,
    ).then((v) => v.map((x) => x * BATCH));
  },
  notify_1_noack: (l) => notifyWorkload(l, 1, false),
  notify_1_ack: (l) => notifyWorkload(l, 1, true),
  notify_100_noack: (l) => notifyWorkload(l, FANOUT_CLIENTS, false),
  notify_100_ack: (l) => notifyWorkload(l, FANOUT_CLIENTS, true),
  query_latest: (l) => requestWorkload(l, (c) => c.query(LATEST_QUERY)),
  query_timeseries: (l) => requestWorkload(l, (c) => c.query(TIMESERIES_QUERY)),
};

/** Default limits of our runs, per workload. */
export function oursLimits(id: string, runs: number, seconds: number): Limits {
  const maxOps = id === "register_rt" ? 1_000_000 : 100_000;
  return { runs, seconds, maxOps };
}

/** Workloads selected by a comma-separated `--only` list (all if empty). */
export function selectWorkloads(only: string | undefined): Workload[] {
  if (!only) return [...WORKLOADS];
  const ids = only.split(",");
  return WORKLOADS.filter((w) => ids.includes(w.id));
}

/** `--key=value` arguments (a bare `--key` is "true"). */
export function parseArgs(args: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const arg of args) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument ${arg}`);
    map.set(m[1], m[2] ?? "true");
  }
  return map;
}

// -------------------------------------------------------- profile summary

interface ProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
}

/** Self time of a V8 `.cpuprofile`, by function and by file. */
export interface ProfileSummary {
  /** Sampled milliseconds, idle included. */
  totalMs: number;
  /** Idle milliseconds (waiting for I/O). */
  idleMs: number;
  /** Rows: self % of busy time, self ms, function, file:line. */
  functions: string[][];
  /** Rows: self % of busy time, self ms, file (ops: Deno's native ops). */
  files: string[][];
}

/**
 * Top self-time functions and files of a V8 `.cpuprofile` (as written by
 * `deno run --cpu-prof`). Percentages are of busy (non-idle) time.
 */
export function summarizeProfile(text: string, top = 15): ProfileSummary {
  const profile = JSON.parse(text) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) continue;
    total += dt;
    const f = node.callFrame;
    const name = f.functionName || "(anonymous)";
    if (name === "(idle)") {
      idle += dt;
      continue;
    }
    const file = f.url.replace(/^file:\/\/.*\/main\//, "") ||
      (name.startsWith("op_") ? "(Deno ops)" : name);
    const key = `${name}\t${f.url ? `${file}:${f.lineNumber + 1}` : ""}`;
    fns.set(key, (fns.get(key) ?? 0) + dt);
    files.set(file, (files.get(file) ?? 0) + dt);
  }
  const busy = total - idle;
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, us]) => [
        `${(100 * us / busy).toFixed(1)}%`,
        (us / 1000).toFixed(0),
        ...key.split("\t"),
      ]);
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    functions: rows(fns),
    files: rows(files),
  };
}
