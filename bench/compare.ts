// Our end-to-end workloads next to (a) the Python reference, hat-event's own
// client against its own server in one process (bench/reference/
// workloads.py), and (b) a raw Deno TCP baseline moving the same bytes:
// `deno task bench:compare`. Prints one Markdown table; see BENCHMARKS.md.
//
// The raw baseline of each workload moves buffers of the sizes our frames
// have on the wire (measured through a byte-counting proxy) in the same
// pattern: ping-pong with the same requests in flight, or a push to the
// same number of sockets with the same window or ack. It does no encoding,
// so "ours / raw" is the share of loopback TCP speed we reach.
//
// Workloads run interleaved (ours, raw, reference, then the next one), and
// within a workload the runs of ours and of raw TCP alternate (each run with
// its own setup and warm-up), so that load changes on the machine, which
// last seconds on a shared VM, hit both sides of "ours / raw" alike.
//
// Options: --runs=5 --seconds=0.5 (ours and raw, per run)
// --reference-seconds=1 --only=id,id.
// Needs the venv of the interop tests (`deno run -A tests/interop/setup.ts`).

import { type Address, connect, listen } from "../mod.ts";
import { jsonEvents } from "./_events.ts";
import {
  BATCH,
  clock,
  countMessages,
  delay,
  LATEST_QUERY,
  type Limits,
  LOCAL,
  machine,
  measure,
  OURS,
  oursLimits,
  parseArgs,
  Progress,
  queryResult,
  type RawShape,
  registerCb,
  registerEvents,
  repeat,
  selectWorkloads,
  si,
  spread,
  spreadText,
  STALL_MS,
  SUBSCRIPTIONS,
  table,
  TIMESERIES_QUERY,
  type Workload,
  writeAll,
} from "./_workloads.ts";

const args = parseArgs(Deno.args);
const projectRoot = new URL("../", import.meta.url).pathname;
const venv = Deno.env.get("HAT_INTEROP_VENV") || `${projectRoot}.venv`;
const python = `${venv}/bin/python`;
const script = new URL("./reference/workloads.py", import.meta.url).pathname;

// ------------------------------------------------------------- raw TCP

/** Writes to one socket, one after the other, without waiting. */
class Serial {
  #busy = false;
  #queue: Uint8Array[] = [];

  write(conn: Deno.Conn, data: Uint8Array): void {
    if (this.#busy) {
      this.#queue.push(data);
      return;
    }
    this.#busy = true;
    this.#drain(conn, data);
  }

  async #drain(conn: Deno.Conn, data: Uint8Array): Promise<void> {
    try {
      for (let next: Uint8Array | undefined = data; next;) {
        await writeAll(conn, next);
        next = this.#queue.shift();
      }
    } catch {
      // Closed by the benchmark.
    } finally {
      this.#busy = false;
    }
  }
}

/** `n` connected socket pairs (Nagle off, as in our Chatter layer). */
async function socketPairs(n: number) {
  const listener = Deno.listen({ ...LOCAL, transport: "tcp" });
  const clients: Deno.TcpConn[] = [];
  const servers: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) {
    const accepted = listener.accept();
    const c = await Deno.connect({
      hostname: LOCAL.hostname,
      port: (listener.addr as Deno.NetAddr).port,
    });
    const s = await accepted as Deno.TcpConn;
    c.setNoDelay(true);
    s.setNoDelay(true);
    clients.push(c);
    servers.push(s);
  }
  const close = () => {
    for (const c of [...clients, ...servers]) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    listener.close();
  };
  return { clients, servers, close };
}

async function rawPingPong(
  limits: Limits,
  requestSize: number,
  responseSize: number,
  window: number,
): Promise<number[]> {
  const { clients: [c], servers: [s], close } = await socketPairs(1);
  const request = new Uint8Array(requestSize).fill(0x81);
  const response = new Uint8Array(responseSize).fill(0x81);
  const serverOut = new Serial();
  const clientOut = new Serial();
  const waiters: PromiseWithResolvers<void>[] = [];
  let head = 0;
  const loops = [
    countMessages(s, requestSize, () => serverOut.write(s, response)),
    countMessages(c, responseSize, () => {
      const waiter = waiters[head++];
      if (head === waiters.length) waiters.length = head = 0;
      waiter.resolve();
    }).then(() => {
      // Closed: fail what is still waiting instead of hanging.
      for (const w of waiters.slice(head)) w.reject(new Error("closed"));
    }),
  ];
  const step = () => {
    const waiter = Promise.withResolvers<void>();
    waiters.push(waiter);
    clientOut.write(c, request);
    return waiter.promise;
  };
  try {
    return await measure(limits, (l) => repeat(l, window, step));
  } finally {
    close();
    await Promise.all(loops);
  }
}

async function rawPush(
  limits: Limits,
  messageSize: number,
  ackSize: number | null,
  n: number,
  window: number,
): Promise<number[]> {
  const { clients, servers, close } = await socketPairs(n);
  const message = new Uint8Array(messageSize).fill(0x81);
  const ack = ackSize ? new Uint8Array(ackSize).fill(0x81) : null;
  const received = new Float64Array(n);
  const acked = new Float64Array(n);
  const progress = new Progress();
  const loops = clients.map((c, i) => {
    const out = new Serial();
    return countMessages(c, messageSize, () => {
      received[i]++;
      if (ack) out.write(c, ack);
      progress.wake();
    });
  });
  if (ackSize) {
    loops.push(...servers.map((s, i) =>
      countMessages(s, ackSize, () => {
        acked[i]++;
        progress.wake();
      })
    ));
  }
  const outs = servers.map(() => new Serial());
  const slowest = (counts: Float64Array, base: Float64Array) => {
    let min = Infinity;
    for (let i = 0; i < n; i++) min = Math.min(min, counts[i] - base[i]);
    return min;
  };
  const run = async (l: Limits) => {
    const base = received.slice();
    const baseAck = acked.slice();
    const start = clock();
    const end = start + l.seconds;
    let sent = 0;
    while (sent < l.maxOps && (sent === 0 || clock() < end)) {
      while (!ack && sent - slowest(received, base) >= window) {
        await progress.wait("raw push");
      }
      servers.forEach((s, i) => outs[i].write(s, message));
      sent++;
      while (ack && slowest(acked, baseAck) < sent) {
        await progress.wait("raw ack");
      }
    }
    while (slowest(received, base) < sent) await progress.wait("raw push");
    return sent * BATCH / (clock() - start);
  };
  try {
    return await measure(limits, run);
  } finally {
    close();
    await Promise.all(loops);
  }
}

// ---------------------------------------------------- our frames' sizes

/** Forwards one connection to `target`, counting bytes each way. */
class CountingProxy {
  up = 0;
  down = 0;
  readonly #listener: Deno.TcpListener;
  readonly #conns: Deno.Conn[] = [];
  readonly #loops: Promise<void>[] = [];

  constructor(target: Address) {
    this.#listener = Deno.listen({ ...LOCAL, transport: "tcp" });
    this.#loops.push(this.#accept(target));
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  async #accept(target: Address): Promise<void> {
    for (;;) {
      let a: Deno.TcpConn;
      try {
        a = await this.#listener.accept();
      } catch {
        return;
      }
      const b = await Deno.connect(target);
      a.setNoDelay(true);
      b.setNoDelay(true);
      this.#conns.push(a, b);
      this.#loops.push(
        this.#pipe(a, b, (n) => this.up += n),
        this.#pipe(b, a, (n) => this.down += n),
      );
    }
  }

  async #pipe(from: Deno.Conn, to: Deno.Conn, count: (n: number) => void) {
    const buf = new Uint8Array(256 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) return;
        count(n);
        await writeAll(to, buf.subarray(0, n));
      }
    } catch {
      // Closed by the benchmark.
    }
  }

  async close(): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await Promise.all(this.#loops);
  }
}

/** Bytes per operation each way: `up` client → server. */
interface Wire {
  up: number;
  down: number;
}

/** Wire bytes of one operation of each workload shape, measured. */
async function wireSizes(): Promise<Map<string, Wire>> {
  await using server = await listen(LOCAL, {
    status: "operational",
    registerCb,
    queryCb: () => queryResult,
  });
  const proxy = new CountingProxy(server.addresses[0]);
  const progress = new Progress();
  let notified = 0;
  const client = await connect(
    { hostname: LOCAL.hostname, port: proxy.port },
    "sizes",
    {
      subscriptions: SUBSCRIPTIONS,
      eventsCb: (_c, events) => {
        notified += events.length;
        progress.wake();
      },
    },
  );
  const sizes = new Map<string, Wire>();
  const K = 10;
  const count = async (key: string, op: () => Promise<unknown>) => {
    await delay(50);
    const up = proxy.up;
    const down = proxy.down;
    for (let i = 0; i < K; i++) await op();
    await delay(50);
    sizes.set(key, {
      up: Math.round((proxy.up - up) / K),
      down: Math.round((proxy.down - down) / K),
    });
  };
  const batch = jsonEvents(BATCH);
  const one = registerEvents(1);
  const many = registerEvents(BATCH);
  try {
    await count("register_1", () => client.register(one, true));
    await count("register_batch", () => client.register(many, true));
    await count("query_latest", () => client.query(LATEST_QUERY));
    await count("query_timeseries", () => client.query(TIMESERIES_QUERY));
    await count("notify_ack", () => server.notifyEvents(batch, false, true));
    await count("notify_noack", async () => {
      const target = notified + BATCH;
      await server.notifyEvents(batch, false);
      while (notified < target) await progress.wait("sizes");
    });
  } finally {
    await client.asyncClose();
    await proxy.close();
  }
  return sizes;
}

function wireOf(w: Workload, sizes: Map<string, Wire>): Wire {
  const key = w.id === "register_rt"
    ? "register_1"
    : w.id === "register_tput"
    ? "register_batch"
    : w.id.startsWith("notify_")
    ? (w.id.endsWith("noack") ? "notify_noack" : "notify_ack")
    : w.id;
  const wire = sizes.get(key);
  if (!wire) throw new Error(`no wire size for ${w.id}`);
  return wire;
}

function runRaw(
  shape: RawShape,
  wire: Wire,
  limits: Limits,
): Promise<number[]> {
  if (shape.kind === "pingpong") {
    return rawPingPong(limits, wire.up, wire.down, shape.window).then((v) =>
      v.map((x) => x * shape.per)
    );
  }
  return rawPush(
    limits,
    wire.down,
    shape.ack ? wire.up : null,
    shape.clients,
    shape.window,
  );
}

// ------------------------------------------------------------ reference

interface Reference {
  python: string;
  hatEvent: string;
  results: Record<string, number[]>;
}

async function runReference(
  id: string,
  runs: number,
  seconds: number,
): Promise<Reference> {
  const out = await new Deno.Command(python, {
    args: [script, `--only=${id}`, `--runs=${runs}`, `--seconds=${seconds}`],
    cwd: projectRoot,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(10 * STALL_MS),
  }).output();
  if (!out.success) {
    throw new Error(
      `reference ${id}: exit ${out.code} (is the venv complete? ` +
        "run `deno run -A tests/interop/setup.ts`)",
    );
  }
  return JSON.parse(new TextDecoder().decode(out.stdout)) as Reference;
}

async function checkVenv(): Promise<void> {
  try {
    await Deno.stat(python);
  } catch {
    console.error(
      `no Python venv at ${venv}: run \`deno run -A tests/interop/setup.ts\``,
    );
    Deno.exit(1);
  }
}

// ----------------------------------------------------------------- main

// Three digits: near a target, two (14.5× shown as "15×") misread it.
function ratio(a: number, b: number): string {
  return `${(a / b).toPrecision(3)}×`;
}

async function main(): Promise<void> {
  await checkVenv();
  const runs = Number(args.get("runs") ?? 5);
  const seconds = Number(args.get("seconds") ?? 0.5);
  const refSeconds = Number(args.get("reference-seconds") ?? 1);
  const workloads = selectWorkloads(args.get("only"));
  console.log(
    `${await machine()}; ${runs} runs of ≤ ${seconds} s (reference ≤ ${refSeconds} s, ` +
      `notify to 100 clients ${
        Math.min(runs, 3)
      } runs), each after a warm-up run; ours and raw TCP alternate\n`,
  );
  const sizes = await wireSizes();
  const rows: string[][] = [];
  const wireRows: string[][] = [];
  let versions = "";
  for (const w of workloads) {
    console.error(`${w.id}: ours and raw TCP, alternating runs`);
    const limits = oursLimits(w.id, runs, seconds);
    const wire = wireOf(w, sizes);
    const oursValues: number[] = [];
    const rawValues: number[] = [];
    const one = { ...limits, runs: 1 };
    for (let i = 0; i < limits.runs; i++) {
      oursValues.push(...await OURS[w.id](one));
      rawValues.push(...await runRaw(w.raw, wire, one));
    }
    const ours = spread(oursValues);
    const raw = spread(rawValues);
    console.error(`${w.id}: reference`);
    const ref = await runReference(w.id, runs, refSeconds);
    versions = `Python ${ref.python}, hat-event ${ref.hatEvent}`;
    const reference = spread(ref.results[w.id]);
    const vsRef = ours.max / reference.max;
    const vsRaw = ours.max / raw.max;
    const met = w.id === "register_rt"
      ? (vsRaw >= 0.8 && vsRef >= 15 ? "yes" : "no")
      : w.targetMin === undefined
      ? ""
      : ours.max >= w.targetMin
      ? "yes"
      : "no";
    rows.push([
      w.label,
      w.unit,
      `${si(ours.max)} (${spreadText(ours)})`,
      `${si(reference.max)} (${spreadText(reference)})`,
      ratio(ours.max, reference.max),
      `${si(raw.max)} (${spreadText(raw)})`,
      ratio(ours.max, raw.max),
      w.target,
      met,
    ]);
    wireRows.push([
      w.id,
      String(wire.up),
      String(wire.down),
      w.raw.kind === "pingpong"
        ? `ping-pong, ${w.raw.window} in flight`
        : `push to ${w.raw.clients} socket(s), ${
          w.raw.ack ? "ack each" : `≤ ${w.raw.window} ahead`
        }`,
    ]);
  }
  console.log(`reference: ${versions}; cells: best (min / median / max)\n`);
  console.log(table([
    "workload",
    "unit",
    "ours",
    "reference",
    "ours / ref",
    "raw Deno TCP",
    "ours / raw",
    "target",
    "met",
  ], rows));
  console.log("\nbytes on the wire per operation (raw baseline sizes):\n");
  console.log(
    table(
      ["workload", "client → server", "server → client", "raw pattern"],
      wireRows,
    ),
  );
}

await main();
