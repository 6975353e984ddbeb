// End-to-end loopback benchmarks of our client and server: `deno task
// bench:e2e`. Prints one Markdown table; see BENCHMARKS.md.
//
// Options: --runs=5 --seconds=0.5 (per run) --only=id,id (workload ids of
// bench/_workloads.ts, or codec, fanout, bursts, memory) --connections=1000
// (memory workload) --fanout-clients=N (fan-out cost of N clients only)
// --profile-summary=FILE.cpuprofile (print the top self-time functions
// and files of a profile and exit) --heap-summary (V8 heap growth per
// connection by object kind, from heap snapshots, and exit).
//
// Client and server share this process, except where only the server is
// to be measured: the fan-out cost (server CPU time; clients in a Deno
// subprocess running this file with --role=clients, and raw sockets with
// --role=rawclients for the floor) and the idle memory per connection
// (fresh subprocesses: --role=server with --role=clients, and
// --role=inproc for both ends in one process). Memory is measured after
// GC, hence --v8-flags=--expose-gc in the task. The codec rows come from
// a fresh subprocess too (--role=codec), so that neither its heap nor the
// workloads' affects the other.

import process from "node:process";
import v8 from "node:v8";
import { connect, listen } from "../mod.ts";
import type { Client } from "../mod.ts";
import { readEvents, writeEvents } from "../common/eventer/mod.ts";
import { Reader, Writer } from "../common/sbs/mod.ts";
import { bareEvents, jsonEvents } from "./_events.ts";
import {
  BATCH,
  clock,
  countMessages,
  delay,
  FANOUT_CLIENTS,
  type Limits,
  LOCAL,
  machine,
  OURS,
  oursLimits,
  parseArgs,
  Progress,
  selectWorkloads,
  si,
  spread,
  spreadText,
  STALL_MS,
  SUBSCRIPTIONS,
  summarizeProfile,
  table,
  writeAll,
} from "./_workloads.ts";

const args = parseArgs(Deno.args);

// ------------------------------------------------------------ subprocesses

const gc = (globalThis as { gc?: () => void }).gc;

/** Process memory, in bytes. */
interface Mem {
  /** Resident set size. */
  rss: number;
  /** V8 heap in use. */
  heap: number;
  /** Memory of JS objects held outside the V8 heap (ArrayBuffers). */
  external: number;
}

/** Memory after collecting garbage (when run with --v8-flags=--expose-gc). */
async function settledMemory(): Promise<Mem> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await delay(50);
  }
  const m = Deno.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external };
}

function print(obj: unknown): void {
  console.log(JSON.stringify(obj));
}

/** Connect `n` clients, 50 at a time. */
async function connectMany(
  port: number,
  n: number,
  query: boolean,
): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < n; i += 50) {
    clients.push(
      ...await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
          const client = await connect(
            { hostname: LOCAL.hostname, port },
            `bench-${i + j}`,
            { subscriptions: SUBSCRIPTIONS, eventsCb: () => {} },
          );
          if (query) await client.query({ kind: "latest" });
          return client;
        }),
      ),
    );
  }
  return clients;
}

/** --role=clients: connect clients, report memory, stay until stdin ends. */
async function clientsRole(): Promise<void> {
  const port = Number(args.get("port"));
  const n = Number(args.get("clients"));
  const before = await settledMemory();
  const clients = await connectMany(port, n, args.has("query"));
  const after = await settledMemory();
  print({ before, after });
  for await (const _ of lines(Deno.stdin.readable)) { /* wait for EOF */ }
  await Promise.all(clients.map((c) => c.asyncClose()));
}

/** --role=server: an idle server reporting its memory on each stdin line. */
async function serverRole(): Promise<void> {
  await using server = await listen(LOCAL, {
    status: "operational",
    queryCb: () => ({ events: [], moreFollows: false }),
  });
  print({ port: server.addresses[0].port, mem: await settledMemory() });
  for await (const _ of lines(Deno.stdin.readable)) {
    print({ mem: await settledMemory(), conns: server.getConnInfos().length });
  }
}

/** --role=inproc: server and clients in one fresh process. */
async function inprocRole(): Promise<void> {
  const n = Number(args.get("clients"));
  const traffic = Number(args.get("traffic") ?? 0);
  const before = await settledMemory();
  const server = await listen(LOCAL, {
    status: "operational",
    queryCb: () => ({ events: [], moreFollows: false }),
  });
  const clients = await connectMany(server.addresses[0].port, n, true);
  const batch = jsonEvents(BATCH);
  for (let i = 0; i < traffic; i++) {
    await server.notifyEvents(batch, false, true);
  }
  await delay(200);
  const after = await settledMemory();
  print({ before, after, conns: server.getConnInfos().length });
  await Promise.all(clients.map((c) => c.asyncClose()));
  await server.asyncClose();
}

/** --role=rawmem: the floor, bare Deno socket pairs with a pending read. */
async function rawMemRole(): Promise<void> {
  const n = Number(args.get("clients"));
  const listener = Deno.listen({ ...LOCAL, transport: "tcp" });
  const port = (listener.addr as Deno.NetAddr).port;
  const before = await settledMemory();
  const conns: Deno.Conn[] = [];
  const reads: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const accepted = listener.accept();
    conns.push(await Deno.connect({ hostname: LOCAL.hostname, port }));
    conns.push(await accepted);
  }
  for (const c of conns) {
    reads.push(c.read(new Uint8Array(4096)).catch(() => {}));
  }
  const after = await settledMemory();
  print({ before, after, conns: n });
  for (const c of conns) c.close();
  listener.close();
  await Promise.all(reads);
}

/** Self size and count of V8 heap objects by kind, after GC. */
async function heapByKind(): Promise<Map<string, [number, number]>> {
  await settledMemory();
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  for await (const chunk of v8.getHeapSnapshot()) {
    chunks.push(typeof chunk === "string" ? chunk : decoder.decode(chunk));
  }
  const snap = JSON.parse(chunks.join("")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [type, name, size] = ["type", "name", "self_size"].map((f) =>
    fields.indexOf(f)
  );
  const kinds = new Map<string, [number, number]>();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const t = types[snap.nodes[i + type]];
    const n = t.endsWith("string") || t === "code" || t === "hidden"
      ? ""
      : snap.strings[snap.nodes[i + name]].slice(0, 40);
    const key = n ? `${t} ${n}` : t;
    const entry = kinds.get(key) ?? [0, 0];
    entry[0] += snap.nodes[i + size];
    entry[1]++;
    kinds.set(key, entry);
  }
  return kinds;
}

/** --role=heap: V8 heap growth per connection, both ends in this process. */
async function heapRole(): Promise<void> {
  const n = Number(args.get("clients"));
  const before = await heapByKind();
  const server = await listen(LOCAL, {
    status: "operational",
    queryCb: () => ({ events: [], moreFollows: false }),
  });
  const clients = await connectMany(server.addresses[0].port, n, true);
  await delay(200);
  const after = await heapByKind();
  const rows = [...after].map(([key, [bytes, count]]) => {
    const [b0, c0] = before.get(key) ?? [0, 0];
    return { key, bytes: (bytes - b0) / n, count: (count - c0) / n };
  }).sort((a, b) => b.bytes - a.bytes);
  print({
    total: rows.reduce((sum, r) => sum + r.bytes, 0),
    rows: rows.slice(0, 25),
  });
  await Promise.all(clients.map((c) => c.asyncClose()));
  await server.asyncClose();
}

/** A Deno subprocess running this file in another role. */
class Child {
  readonly #proc: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;

  constructor(role: string, extra: string[]) {
    this.#proc = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "--v8-flags=--expose-gc",
        new URL(import.meta.url).pathname,
        `--role=${role}`,
        ...extra,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.#proc.stdin.getWriter();
    this.#lines = lines(this.#proc.stdout);
  }

  /** The next JSON line the child printed. */
  async next<T>(): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const res = await Promise.race([
        this.#lines.next(),
        new Promise<never>((_, reject) =>
          timer = setTimeout(
            () => reject(new Error(`subprocess silent for ${STALL_MS} ms`)),
            STALL_MS,
          )
        ),
      ]);
      if (res.done) throw new Error("subprocess exited early");
      return JSON.parse(res.value) as T;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Send one line. */
  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** End stdin and wait for exit (killing the child after 10 s). */
  async close(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    const timer = setTimeout(() => this.#proc.kill("SIGKILL"), 10_000);
    try {
      for (;;) {
        const res = await this.#lines.next();
        if (res.done) break;
      }
      const status = await this.#proc.status;
      if (!status.success) throw new Error(`subprocess exit ${status.code}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function* lines(stream: ReadableStream<Uint8Array>) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let nl;
    while ((nl = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
}

// --------------------------------------------------------------- sections

type Row = string[];
const HEADER = [
  "workload",
  "best",
  "min / median / max",
  "unit",
  "notes",
  "target",
  "met",
];

// The codec's runs alternate with runs of the byte loop below, so that
// each ratio to it compares two runs of the same few seconds (the load
// of a shared VM changes over seconds).
function codecRows(limits: Limits): Row[] {
  const w = new Writer(1 << 20);
  const cases = [
    ["JSON payload", jsonEvents(BATCH), 2_000_000],
    ["no payload", bareEvents(BATCH), 8_000_000],
  ] as const;
  const runs = cases.map(([, events]) => {
    w.reset();
    writeEvents(w, events);
    const wireBytes = w.pos / BATCH;
    // Events per second.
    const run = () => {
      const start = clock();
      const end = start + limits.seconds;
      let n = 0;
      while (n === 0 || clock() < end) {
        w.reset();
        writeEvents(w, events);
        readEvents(new Reader(w.buf, 0, w.pos));
        n++;
      }
      return n * BATCH / (clock() - start);
    };
    return { wireBytes, run, rates: [] as number[], ratios: [] as number[] };
  });
  const floor: number[] = [];
  byteLoopRun(limits);
  for (const c of runs) c.run();
  for (let i = 0; i < limits.runs; i++) {
    const ns = byteLoopRun(limits);
    floor.push(ns);
    for (const c of runs) {
      const rate = c.run();
      c.rates.push(rate);
      c.ratios.push(1e9 / (rate * c.wireBytes) / ns);
    }
  }
  const rows: Row[] = cases.map(([name, , target], i) => {
    const { wireBytes, rates, ratios } = runs[i];
    const s = spread(rates);
    const r = spread(ratios);
    return [
      `codec encode + decode round trip, ${name} (one core)`,
      si(s.max),
      spreadText(s),
      "events/s",
      `${(1e9 / (s.max * wireBytes)).toFixed(2)} ns per wire byte (${
        wireBytes.toFixed(0)
      } B/event); per run ${r.median.toFixed(1)}× the byte loop (${
        r.min.toFixed(1)
      }–${r.max.toFixed(1)}×); fresh subprocess`,
      `≥ ${si(target)} events/s`,
      s.max >= target ? "yes" : "no",
    ];
  });
  const f = spread(floor);
  const ns = (v: number) => v.toFixed(2);
  rows.push([
    "byte loop: summing a 100 kB Uint8Array (one core)",
    ns(f.min),
    spreadText(f, ns),
    "ns/byte",
    "the machine's floor for byte-at-a-time JS; runs alternate with the codec's",
    "none (reference for the codec rows)",
    "",
  ]);
  return rows;
}

// Not a target: the time this machine's JIT takes per byte for about the
// least work a byte-at-a-time loop can do, adding up a buffer. A codec
// round trip handles each wire byte at least twice (written, then read),
// so the codec rows' "× the byte loop" says how far they are from what
// the hardware allows, and lets machines of different speed be compared.
const FLOOR_BYTES = new Uint8Array(100_000).map((_, i) => (i * 7) & 0x7f);
// Kept in a module variable, so the JIT cannot drop the loop.
let floorSink = 0;

function sumBytes(b: Uint8Array): number {
  let sum = 0;
  const n = b.length;
  for (let i = 0; i < n; i++) sum = (sum + b[i]) | 0;
  return sum;
}

// Nanoseconds per byte of one run.
function byteLoopRun(limits: Limits): number {
  const start = clock();
  const end = start + limits.seconds;
  let n = 0;
  while (n === 0 || clock() < end) {
    floorSink = (floorSink + sumBytes(FLOOR_BYTES)) | 0;
    n++;
  }
  return (clock() - start) * 1e9 / (n * FLOOR_BYTES.length);
}

/** --role=codec: the codec rows, measured in this fresh process. */
function codecRole(): void {
  const runs = Number(args.get("runs"));
  const seconds = Number(args.get("seconds"));
  print(codecRows({ runs, seconds, maxOps: 0 }));
}

async function codecInChild(runs: number, seconds: number): Promise<Row[]> {
  const child = new Child("codec", [`--runs=${runs}`, `--seconds=${seconds}`]);
  try {
    return await child.next<Row[]>();
  } finally {
    await child.close();
  }
}

/** Per-batch costs of notifying `n` clients, in ms, one value per run. */
interface FanoutCost {
  /** Process CPU time (all threads) per acked batch, delivery included. */
  cpu: number[];
  /** Wall time per acked batch (the clients' decoding included). */
  wall: number[];
  /** Time inside the `notifyEvents` call itself: filter, encode, queue. */
  call: number[];
}

/** Run acked batches until the limits; `notify` returns its call time. */
async function perBatch(
  limits: Limits,
  notify: () => Promise<number>,
): Promise<FanoutCost> {
  const cost: FanoutCost = { cpu: [], wall: [], call: [] };
  for (let run = -1; run < limits.runs; run++) {
    const c0 = process.cpuUsage();
    const start = clock();
    const end = start + (run < 0 ? 0.3 : limits.seconds);
    let sent = 0;
    let call = 0;
    while (sent < limits.maxOps && (sent === 0 || clock() < end)) {
      call += await notify();
      sent++;
    }
    const used = process.cpuUsage(c0);
    if (run < 0) continue;
    cost.wall.push((clock() - start) * 1000 / sent);
    cost.cpu.push((used.user + used.system) / 1000 / sent);
    cost.call.push(call * 1000 / sent);
  }
  return cost;
}

/** Our server notifying `n` clients of a subprocess, with ack. */
async function fanoutCost(limits: Limits, n: number): Promise<FanoutCost> {
  await using server = await listen(LOCAL, { status: "operational" });
  const child = new Child("clients", [
    `--port=${server.addresses[0].port}`,
    `--clients=${n}`,
  ]);
  try {
    await child.next();
    const deadline = clock() + STALL_MS / 1000;
    while (server.getConnInfos().length < n && clock() < deadline) {
      await delay(10);
    }
    const batch = jsonEvents(BATCH);
    return await perBatch(limits, async () => {
      const start = clock();
      const acked = server.notifyEvents(batch, false, true);
      const call = clock() - start;
      await acked;
      return call;
    });
  } finally {
    await child.close();
  }
}

/** The floor: raw sockets, the same bytes, one write per client, acked. */
async function rawFanoutCost(limits: Limits, n: number): Promise<FanoutCost> {
  const w = new Writer(1 << 20);
  writeEvents(w, jsonEvents(BATCH));
  // Frame header and HatChatter.Msg fields: about 40 bytes more.
  const message = new Uint8Array(w.pos + 40).fill(0x81);
  const ackSize = 32;
  const listener = Deno.listen({ ...LOCAL, transport: "tcp" });
  const child = new Child("rawclients", [
    `--port=${(listener.addr as Deno.NetAddr).port}`,
    `--clients=${n}`,
    `--size=${message.length}`,
    `--ack=${ackSize}`,
  ]);
  const socks: Deno.TcpConn[] = [];
  const acks = new Float64Array(n);
  const progress = new Progress();
  const loops: Promise<void>[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = await listener.accept();
      s.setNoDelay(true);
      socks.push(s);
      loops.push(countMessages(s, ackSize, () => {
        acks[i]++;
        progress.wake();
      }));
    }
    await child.next();
    let sent = 0;
    return await perBatch(limits, async () => {
      const start = clock();
      const writes = socks.map((s) => writeAll(s, message));
      const call = clock() - start;
      sent++;
      await Promise.all(writes);
      while (acks.some((a) => a < sent)) await progress.wait("raw fan-out");
      return call;
    });
  } finally {
    for (const s of socks) s.close();
    listener.close();
    await Promise.all(loops);
    await child.close();
  }
}

/** --role=rawclients: raw sockets reading messages and acking each. */
async function rawClientsRole(): Promise<void> {
  const port = Number(args.get("port"));
  const n = Number(args.get("clients"));
  const size = Number(args.get("size"));
  const ack = new Uint8Array(Number(args.get("ack"))).fill(0x81);
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) {
    const c = await Deno.connect({ hostname: LOCAL.hostname, port });
    c.setNoDelay(true);
    conns.push(c);
  }
  const loops = conns.map((c) =>
    countMessages(c, size, () => writeAll(c, ack))
  );
  print({ ready: true });
  for await (const _ of lines(Deno.stdin.readable)) { /* wait for EOF */ }
  for (const c of conns) c.close();
  await Promise.all(loops);
}

/** Pause between the batches of the bursts rows: longer than SPARE_MS. */
const BURST_GAP_MS = 60;

/**
 * Process CPU (both ends, this process) per acked notify of one batch to
 * one client, back to back or `gapMs` apart: per run, the mean over the
 * batches of `limits.seconds` of wall time.
 */
async function burstCost(limits: Limits, gapMs: number): Promise<number[]> {
  await using server = await listen(LOCAL, { status: "operational" });
  await using _client = await connect(
    { hostname: LOCAL.hostname, port: server.addresses[0].port },
    "bench-bursts",
    { subscriptions: SUBSCRIPTIONS, eventsCb: () => {} },
  );
  const batch = jsonEvents(BATCH);
  for (let i = 0; i < 20; i++) await server.notifyEvents(batch, false, true);
  const costs: number[] = [];
  for (let run = 0; run < limits.runs; run++) {
    const end = clock() + limits.seconds;
    let cpu = 0;
    let n = 0;
    while (n === 0 || clock() < end) {
      if (gapMs > 0) await delay(gapMs);
      const c0 = process.cpuUsage();
      await server.notifyEvents(batch, false, true);
      const used = process.cpuUsage(c0);
      cpu += used.user + used.system;
      n++;
    }
    costs.push(cpu / 1000 / n);
  }
  return costs;
}

// Traffic in bursts: a connection lets go of its large receive buffer
// after SPARE_MS without data, so a batch every 60 ms takes one from the
// process's receive pool (or, without it, allocates one) for every frame.
async function burstRows(limits: Limits): Promise<Row[]> {
  const steady = spread(await burstCost(limits, 0));
  const bursts = spread(await burstCost(limits, BURST_GAP_MS));
  const ms = (v: number) => v.toFixed(3);
  const what =
    `process CPU per acked notify of ${BATCH} JSON events to 1 client`;
  return [[
    `bursts: ${what}, back to back`,
    ms(steady.min),
    spreadText(steady, ms),
    "ms/batch",
    "client and server in this process, both counted; best = lowest",
    "",
    "",
  ], [
    `bursts: ${what}, ${BURST_GAP_MS} ms apart`,
    ms(bursts.min),
    spreadText(bursts, ms),
    "ms/batch",
    `${(bursts.min / steady.min).toFixed(2)}× back to back (best/best); ` +
    "each pause outlasts a connection's spare receive buffer (50 ms)",
    "",
    "",
  ]];
}

async function fanoutRows(limits: Limits): Promise<Row[]> {
  const single = args.get("fanout-clients");
  if (single) {
    // For profiling one side of the ratio.
    const { cpu } = await fanoutCost(limits, Number(single));
    const s = spread(cpu);
    return [[
      `fan-out: server CPU time per acked notify, ${single} clients`,
      s.min.toFixed(2),
      spreadText(s, (n) => n.toFixed(2)),
      "ms/batch",
      "",
      "",
      "",
    ]];
  }
  const ours1 = await fanoutCost(limits, 1);
  const ours100 = await fanoutCost(limits, FANOUT_CLIENTS);
  const raw1 = await rawFanoutCost(limits, 1);
  const raw100 = await rawFanoutCost(limits, FANOUT_CLIENTS);
  const ms = (n: number) => n.toFixed(3);
  const rows: Row[] = [];
  const pair = (
    what: string,
    one: number[],
    many: number[],
    note: string,
    target: boolean,
  ) => {
    const s1 = spread(one);
    const s100 = spread(many);
    const ratio = s100.min / s1.min;
    rows.push([
      `fan-out: ${what}, 1 client`,
      ms(s1.min),
      spreadText(s1, ms),
      "ms/batch",
      note,
      "",
      "",
    ], [
      `fan-out: ${what}, ${FANOUT_CLIENTS} clients`,
      ms(s100.min),
      spreadText(s100, ms),
      "ms/batch",
      `${ratio.toFixed(2)}× one client (best/best), ${
        (s100.median / s1.median).toFixed(2)
      }× (median/median)`,
      target ? "≤ 3× one client" : "",
      target ? (ratio <= 3 ? "yes" : "no") : "",
    ]);
  };
  const batch = `acked notify of ${BATCH} JSON events`;
  pair(
    `server CPU per ${batch}, delivery included`,
    ours1.cpu,
    ours100.cpu,
    "process CPU (user + system, all threads) of the server; clients in a subprocess, same subscription; best = lowest",
    true,
  );
  pair(
    "time inside the notifyEvents call (filter, encode, queue)",
    ours1.call,
    ours100.call,
    "the synchronous part; the writes happen after it returns",
    true,
  );
  pair(
    `server wall time per ${batch}`,
    ours1.wall,
    ours100.wall,
    "includes the client subprocess decoding every copy",
    false,
  );
  pair(
    "raw TCP floor: server CPU per write of the same bytes + ack",
    raw1.cpu,
    raw100.cpu,
    "raw Deno sockets, no encoding; clients in a subprocess",
    false,
  );
  return rows;
}

/** Connections of the memory-after-traffic row. */
const TRAFFIC_CONNS = 100;

function perConn(after: Mem, before: Mem, n: number): Mem {
  return {
    rss: (after.rss - before.rss) / 1024 / n,
    heap: (after.heap - before.heap) / 1024 / n,
    external: (after.external - before.external) / 1024 / n,
  };
}

/** Memory per connection of a fresh subprocess in `role`. */
async function inprocMemory(
  role: string,
  n: number,
  extra: string[],
): Promise<Mem> {
  const child = new Child(role, [`--clients=${n}`, ...extra]);
  try {
    const r = await child.next<{ before: Mem; after: Mem; conns: number }>();
    if (r.conns !== n) throw new Error(`${role}: ${r.conns} of ${n}`);
    return perConn(r.after, r.before, n);
  } finally {
    await child.close();
  }
}

async function memoryRows(runs: number, conns: number): Promise<Row[]> {
  const server: Mem[] = [];
  const marginal: Mem[] = [];
  const client: Mem[] = [];
  const both: Mem[] = [];
  const traffic: Mem[] = [];
  const floor: Mem[] = [];
  for (let run = 0; run < runs; run++) {
    const srv = new Child("server", []);
    let cl: Child | null = null;
    let cl2: Child | null = null;
    try {
      const { port, mem: before } = await srv.next<
        { port: number; mem: Mem }
      >();
      cl = new Child("clients", [
        `--port=${port}`,
        `--clients=${conns}`,
        "--query",
      ]);
      const c = await cl.next<{ before: Mem; after: Mem }>();
      await delay(200);
      await srv.send("measure");
      const { mem: after, conns: seen } = await srv.next<
        { mem: Mem; conns: number }
      >();
      if (seen !== conns) throw new Error(`${seen} of ${conns} connected`);
      server.push(perConn(after, before, conns));
      client.push(perConn(c.after, c.before, conns));
      // As many again: what one more connection costs, without the
      // process's one-time costs (code paged in, heap sizing) that the
      // first ones carry.
      cl2 = new Child("clients", [
        `--port=${port}`,
        `--clients=${conns}`,
        "--query",
      ]);
      await cl2.next();
      await delay(200);
      await srv.send("measure");
      const { mem: after2, conns: seen2 } = await srv.next<
        { mem: Mem; conns: number }
      >();
      if (seen2 !== 2 * conns) {
        throw new Error(`${seen2} of ${2 * conns} connected`);
      }
      marginal.push(perConn(after2, after, conns));
    } finally {
      await cl2?.close();
      await cl?.close();
      await srv.close();
    }
    both.push(await inprocMemory("inproc", conns, []));
    traffic.push(
      await inprocMemory("inproc", TRAFFIC_CONNS, ["--traffic=4"]),
    );
    floor.push(await inprocMemory("rawmem", conns, []));
  }
  const k = (n: number) => n.toFixed(1);
  const row = (label: string, mems: Mem[], notes: string, perSocket = 1) => {
    const s = spread(mems.map((m) => m.rss / perSocket));
    const best = mems.reduce((a, b) => a.rss <= b.rss ? a : b);
    return [
      label,
      k(s.min),
      spreadText(s, k),
      "KB/socket",
      `${notes}; of the best run's RSS: JS heap ${
        k(best.heap / perSocket)
      } KB, external ${k(best.external / perSocket)} KB`,
      "≤ 24 KB/socket",
      s.min <= 24 ? "yes" : "no",
    ];
  };
  return [
    row(
      `idle memory, server process, ${conns} clients connected`,
      server,
      "server RSS delta after GC, clients in a subprocess (one query each); best = lowest",
    ),
    row(
      `idle memory, server process, ${conns} more clients (marginal)`,
      marginal,
      `server RSS delta after GC from ${conns} to ${
        2 * conns
      } clients (another subprocess): the per-connection cost without one-time costs`,
    ),
    row(
      `idle memory, client process, ${conns} clients`,
      client,
      "client-subprocess RSS delta after GC",
    ),
    row(
      `idle memory, client and server in one process, ${conns} connections`,
      both,
      `both ends: per connection ${k(spread(both.map((m) => m.rss)).min)} KB`,
      2,
    ),
    row(
      `memory after traffic: ${TRAFFIC_CONNS} connections in one process, after 4 acked notifies of ${BATCH} JSON events`,
      traffic,
      "both ends, per socket: RSS the traffic left behind (V8 heap grown by decoding, freed pages the allocator keeps)",
      2,
    ),
    row(
      `floor: bare Deno TCP sockets, ${conns} pairs in one process, one pending 4 KB read each`,
      floor,
      "no Eventer code at all",
      2,
    ),
  ];
}

async function workloadRows(
  runs: number,
  seconds: number,
  only: string | undefined,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const w of selectWorkloads(only)) {
    const values = await OURS[w.id](oursLimits(w.id, runs, seconds));
    const s = spread(values);
    rows.push([
      w.label,
      si(s.max),
      spreadText(s),
      w.unit,
      w.notes(s.max),
      w.target,
      w.targetMin === undefined ? "" : s.max >= w.targetMin ? "yes" : "no",
    ]);
  }
  return rows;
}

async function main(): Promise<void> {
  const summary = args.get("profile-summary");
  if (summary) {
    const p = summarizeProfile(await Deno.readTextFile(summary), 20);
    console.log(
      `${p.totalMs.toFixed(0)} ms sampled, ${p.idleMs.toFixed(0)} ms idle; ` +
        "self time as % of busy time\n",
    );
    console.log(table(["self", "ms", "function", "where"], p.functions));
    console.log();
    console.log(table(["self", "ms", "file"], p.files));
    return;
  }
  if (args.has("heap-summary")) {
    const conns = Number(args.get("connections") ?? 1000);
    const child = new Child("heap", [`--clients=${conns}`]);
    try {
      const r = await child.next<
        { total: number; rows: { key: string; bytes: number; count: number }[] }
      >();
      console.log(
        `V8 heap growth per connection, client and server ends together ` +
          `(${conns} connections): ${(r.total / 1024).toFixed(1)} KB\n`,
      );
      console.log(table(
        ["bytes", "objects", "kind (type, constructor or function)"],
        r.rows.map((
          x,
        ) => [x.bytes.toFixed(0), x.count.toFixed(2), x.key]),
      ));
    } finally {
      await child.close();
    }
    return;
  }
  const runs = Number(args.get("runs") ?? 5);
  const seconds = Number(args.get("seconds") ?? 0.5);
  const only = args.get("only");
  const ids = only?.split(",");
  const wants = (id: string) => !ids || ids.includes(id);
  console.log(
    `${await machine()}; ${runs} runs of ≤ ${seconds} s after one ` +
      "warm-up run; best = highest rate or lowest cost\n",
  );
  const workloads = ids
    ? ids.filter((id) => id in OURS).join(",") || "none"
    : undefined;
  // The codec in a fresh process: after the network workloads V8's young
  // generation has grown to tens of MB and this allocation-heavy loop runs
  // slower, and run first in this process it slows the register
  // workloads. Its rows print last.
  const codec = wants("codec") ? await codecInChild(runs, seconds) : [];
  const rows = await workloadRows(runs, seconds, workloads);
  if (wants("fanout")) {
    rows.push(...await fanoutRows({ runs, seconds, maxOps: 100_000 }));
  }
  if (wants("bursts")) {
    rows.push(...await burstRows({ runs, seconds, maxOps: 0 }));
  }
  if (wants("memory")) {
    const conns = Number(args.get("connections") ?? 1000);
    rows.push(...await memoryRows(Math.min(runs, 3), conns));
  }
  rows.push(...codec);
  console.log(table(HEADER, rows));
}

const role = args.get("role");
if (role === "clients") await clientsRole();
else if (role === "server") await serverRole();
else if (role === "inproc") await inprocRole();
else if (role === "codec") codecRole();
else if (role === "rawclients") await rawClientsRole();
else if (role === "heap") await heapRole();
else if (role === "rawmem") await rawMemRole();
else await main();
