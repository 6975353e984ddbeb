/**
 * Real Hat processes for the interop tests: a `hat-monitor` Monitor
 * Server, `hat-event-server` Event Servers in its group and reference
 * monitor components (`monitor_peer.py`), each on free loopback ports in
 * a temporary directory, stopped by their own PID; and the query the
 * cluster tests read a server's events with.
 *
 * @module
 */

import type { Client } from "../../client.ts";
import type { Event, EventId } from "../../common/event/mod.ts";
import { Group } from "../../common/async/mod.ts";
import {
  connectEventComponent,
  type EventComponentOptions,
} from "../../monitor/mod.ts";
import { venvPath } from "./peer.ts";

const HERE = decodeURIComponent(new URL(".", import.meta.url).pathname);

/** Free loopback TCP ports (bound, read and released). */
export function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

/** Wall-clock milliseconds, sub-millisecond, comparable with Python's `time.time()`. */
export function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

async function waitListening(port: number, ms: number, what: string) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch {
      if (Date.now() > end) throw new Error(`${what} not listening on ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Every event of `serverId` a server holds, persisted, in id order. */
export async function serverEvents(
  client: Client,
  serverId: number,
): Promise<Event[]> {
  const all: Event[] = [];
  let lastEventId: EventId | null = null;
  for (;;) {
    const r = await client.query({
      kind: "server",
      serverId,
      persisted: true,
      lastEventId,
    });
    all.push(...r.events);
    if (!r.moreFollows) return all;
    lastEventId = all.at(-1)!.id;
  }
}

/** A child process whose output lines are kept with when they came. */
export class HatProcess implements AsyncDisposable {
  readonly lines: { t: number; text: string }[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | null;
  readonly #waiters = new Set<() => void>();
  readonly status: Promise<Deno.CommandStatus>;
  readonly #reading: Promise<void>;

  constructor(
    readonly name: string,
    args: string[],
    stdin = false,
    command = `${venvPath()}/bin/python`,
  ) {
    this.#child = new Deno.Command(command, {
      args,
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = stdin ? this.#child.stdin.getWriter() : null;
    this.status = this.#child.status;
    this.#reading = Promise.all([
      this.#read(this.#child.stdout),
      this.#read(this.#child.stderr),
    ]).then(() => {});
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  async #read(stream: ReadableStream<Uint8Array>) {
    let rest = "";
    for await (
      const chunk of stream.pipeThrough(new TextDecoderStream())
    ) {
      rest += chunk;
      let i;
      while ((i = rest.indexOf("\n")) >= 0) {
        this.lines.push({ t: wallClock(), text: rest.slice(0, i) });
        rest = rest.slice(i + 1);
        for (const w of [...this.#waiters]) w();
      }
    }
  }

  /** Send one line to the process's stdin. */
  async send(line: string): Promise<void> {
    await this.#stdin!.write(new TextEncoder().encode(line + "\n"));
  }

  /**
   * Wait for an output line matching `re` (from line `from` on).
   *
   * @returns The line's index.
   */
  async waitLine(re: RegExp, ms = 10_000, from = 0): Promise<number> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.lines.findIndex((l, j) => j >= from && re.test(l.text));
      if (i >= 0) return i;
      const left = end - Date.now();
      if (left <= 0) {
        throw new Error(
          `${this.name}: no line ${re} in ${ms} ms; output:\n` +
            this.lines.map((l) => l.text).join("\n"),
        );
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.#waiters.add(done);
      });
    }
  }

  /** Signal the process (our own child, by its PID). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL after `ms`; resolves with the exit status. */
  async stop(ms = 5000): Promise<Deno.CommandStatus> {
    try {
      await this.#stdin?.close();
    } catch {
      // closed
    }
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), ms);
    const status = await this.status;
    clearTimeout(timer);
    await this.#reading;
    return status;
  }

  /** Same as `stop()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Options of {@linkcode startHatMonitor}. */
export interface HatMonitorOptions {
  /** Default blessing algorithm (default BLESS_ALL). */
  defaultAlgorithm?: "BLESS_ALL" | "BLESS_ONE";
  /** Algorithms per group. */
  groupAlgorithms?: Record<string, "BLESS_ALL" | "BLESS_ONE">;
}

/** A running `hat-monitor` with its components' port. */
export class HatMonitor extends HatProcess {
  constructor(readonly port: number, readonly dir: string, conf: string) {
    super("hat-monitor", ["-m", "hat.monitor.server", "--conf", conf]);
  }

  /** Stop, and remove the directory. */
  override async stop(ms = 5000): Promise<Deno.CommandStatus> {
    const status = await super.stop(ms);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    return status;
  }
}

/** Start a `hat-monitor` master on free ports; resolves once listening. */
export async function startHatMonitor(
  options: HatMonitorOptions = {},
): Promise<HatMonitor> {
  const [port, masterPort] = freePorts(2);
  const dir = await Deno.makeTempDir({ prefix: "hat-monitor-" });
  const conf = `${dir}/monitor.json`;
  await Deno.writeTextFile(
    conf,
    JSON.stringify({
      type: "monitor",
      default_algorithm: options.defaultAlgorithm ?? "BLESS_ALL",
      group_algorithms: options.groupAlgorithms ?? {},
      server: { host: "127.0.0.1", port, default_rank: 1 },
      master: { host: "127.0.0.1", port: masterPort },
      slave: {
        parents: [],
        connect_timeout: 5,
        connect_retry_count: 3,
        connect_retry_delay: 5,
      },
    }),
  );
  const monitor = new HatMonitor(port, dir, conf);
  try {
    await waitListening(port, 20_000, "hat-monitor");
  } catch (e) {
    await monitor.stop();
    throw e;
  }
  return monitor;
}

/** Start a reference monitor component (`monitor_peer.py`). */
export async function startPyComponent(
  monitorPort: number,
  name: string,
  group: string,
): Promise<HatProcess> {
  const p = new HatProcess(
    `py component ${name}`,
    [`${HERE}monitor_peer.py`, String(monitorPort), name, group],
    true,
  );
  await p.waitLine(/ connected$/, 20_000);
  return p;
}

/** A running `hat-event-server` in a monitor group. */
export class HatEventServer extends HatProcess {
  constructor(
    readonly serverId: number,
    readonly port: number,
    readonly conf: string,
  ) {
    super(`hat-event-server ${serverId}`, [
      "-m",
      "hat.event.server",
      "--conf",
      conf,
    ]);
  }
}

/**
 * Start a reference Event Server (LMDB backend, flush period 1 s, as
 * `cluster/event.yaml.in`) in monitor group `group`; resolves once its
 * Eventer server listens.
 *
 * @param dir Where its configuration and database go.
 * @param port Its Eventer port (the same on a restart).
 */
export async function startPyEventServer(
  serverId: number,
  monitorPort: number,
  dir: string,
  port: number,
  group = "event",
  serverToken: string | null = null,
): Promise<HatEventServer> {
  const conf = `${dir}/event-${serverId}.json`;
  await Deno.writeTextFile(
    conf,
    JSON.stringify({
      type: "event",
      name: `event-${serverId}`,
      server_id: serverId,
      server_token: serverToken,
      backend: {
        module: "hat.event.backends.lmdb",
        db_path: `${dir}/event-${serverId}.db`,
        identifier: null,
        flush_period: 1,
        cleanup_period: 60,
        conditions: [],
        latest: { subscriptions: [["*"]] },
        timeseries: [{ order_by: "TIMESTAMP", subscriptions: [["*"]] }],
      },
      modules: [],
      eventer_server: { host: "127.0.0.1", port },
      monitor_component: { host: "127.0.0.1", port: monitorPort, group },
    }),
  );
  const server = new HatEventServer(serverId, port, conf);
  try {
    await waitListening(port, 20_000, `hat-event-server ${serverId}`);
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

/** An Event Server process, ours or the reference's. */
export type EventServerProcess = HatProcess & {
  readonly serverId: number;
  readonly port: number;
};

const SERVE_TS = decodeURIComponent(
  new URL("../../cli/serve.ts", import.meta.url).pathname,
);

/**
 * Start our Event Server (`cli/serve.ts`) in its own process, in monitor
 * group `group`, with its database in `dir`; resolves once it listens.
 *
 * @param port Its Eventer port (the same on a restart).
 * @param args More flags.
 */
export async function startDenoEventServer(
  serverId: number,
  monitorPort: number,
  dir: string,
  port: number,
  args: string[] = [],
  group = "event",
): Promise<EventServerProcess> {
  const server = new HatProcess(
    `deno event server ${serverId}`,
    [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      SERVE_TS,
      "--db",
      `${dir}/deno-${serverId}.db`,
      "--port",
      String(port),
      "--server-id",
      String(serverId),
      "--monitor",
      `127.0.0.1:${monitorPort}`,
      "--group",
      group,
      ...args,
    ],
    false,
    Deno.execPath(),
  );
  const process = Object.assign(server, { serverId, port });
  try {
    await waitListening(port, 20_000, `deno event server ${serverId}`);
  } catch (e) {
    await server.stop();
    throw e;
  }
  return process;
}

/** A registration acknowledged to {@linkcode connectWriter}'s component. */
export interface Acked {
  /** Its number (the payload). */
  n: number;
  /** Its id. */
  id: EventId;
  /** When it was acknowledged ({@linkcode wallClock}). */
  t: number;
}

/**
 * An event component "writer" (group "component", servers of group
 * "event") registering `test/n` events, n = 0, 1, ..., with response,
 * one every 10 ms through whichever server is active; each acknowledged
 * one is pushed to `acked`.
 */
export function connectWriter(
  monitorPort: number,
  acked: Acked[],
  options?: EventComponentOptions,
): ReturnType<typeof connectEventComponent> {
  let n = 0;
  return connectEventComponent(
    { hostname: "127.0.0.1", port: monitorPort },
    "writer",
    "component",
    "event",
    "writer",
    (_c, _server, client) => {
      const runner = new Group();
      runner.spawn(async (signal) => {
        while (!signal.aborted && client.isOpen) {
          const i = n++;
          try {
            const r = await client.register([{
              type: ["test", "n"],
              payload: { kind: "json", data: i },
            }], true);
            if (r) acked.push({ n: i, id: r[0].id, t: wallClock() });
          } catch {
            // a connection lost
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      });
      return runner;
    },
    options,
  );
}
