// Servers in their own processes for bench/server.ts: ours (cli/serve.ts),
// the reference's (hat-event-server with its LMDB backend) and the library
// alone, and what /proc tells of them.

import { startTaskArgs } from "../tools/start_task.ts";
import { connect } from "../mod.ts";

/** A server process listening on 127.0.0.1. */
export interface ServerProcess {
  /** Process id (the server itself, not a wrapper). */
  pid: number;
  /** TCP port it listens on. */
  port: number;
  /** Stop it (SIGINT, as an operator would) and wait for it to exit. */
  stop(): Promise<void>;
}

const root = new URL("../", import.meta.url).pathname;

/** Wait for the first line of `child`'s stdout matching `pattern`. */
async function waitLine(
  child: Deno.ChildProcess,
  pattern: RegExp,
): Promise<RegExpExecArray> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited before ready: ${text}`);
    text += value;
    const m = pattern.exec(text);
    if (m) {
      // Keep draining so the child never blocks on a full pipe.
      (async () => {
        try {
          while (!(await reader.read()).done) { /* drain */ }
        } catch { /* closed */ }
      })();
      return m;
    }
  }
}

function stopper(child: Deno.ChildProcess): () => Promise<void> {
  return async () => {
    try {
      child.kill("SIGINT");
    } catch { /* already gone */ }
    await child.status;
  };
}

/** Our Event Server (cli/serve.ts) on the database `db`. */
export async function startOurs(
  db: string,
  extra: string[] = [],
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...startTaskArgs(),
      "--port",
      "0",
      "--db",
      db,
      ...extra,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const m = await waitLine(child, /listening on [^:\s]+:(\d+)/);
  return { pid: child.pid, port: Number(m[1]), stop: stopper(child) };
}

/** The library alone (bench/_library_server.ts). */
export async function startLibrary(): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", `${root}bench/_library_server.ts`],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const m = await waitLine(child, /listening on (\d+)/);
  return { pid: child.pid, port: Number(m[1]), stop: stopper(child) };
}

/** A free TCP port of 127.0.0.1 (for a server that cannot take port 0). */
export function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

/**
 * The reference's Event Server (hat-event-server with its LMDB backend,
 * flush period 1 s, every type in the latest and one timeseries partition
 * by timestamp), its database in `dir`.
 */
export async function startReference(
  python: string,
  dir: string,
  port: number,
): Promise<ServerProcess> {
  const conf = {
    type: "event",
    log: { version: 1 },
    name: "reference",
    server_id: 1,
    backend: {
      module: "hat.event.backends.lmdb",
      db_path: `${dir}/ref.db`,
      identifier: null,
      flush_period: 1,
      cleanup_period: 3600,
      conditions: [],
      latest: { subscriptions: [["*"]] },
      timeseries: [{ order_by: "TIMESTAMP", subscriptions: [["*"]] }],
    },
    modules: [],
    eventer_server: { host: "127.0.0.1", port },
  };
  await Deno.writeTextFile(`${dir}/conf.json`, JSON.stringify(conf));
  const child = new Deno.Command(python, {
    args: ["-m", "hat.event.server", "--conf", `${dir}/conf.json`],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitConnectable(port, child);
  return { pid: child.pid, port, stop: stopper(child) };
}

/** Wait until a client is let in on `port` (a query answered). */
export async function waitConnectable(
  port: number,
  child?: Deno.ChildProcess,
): Promise<void> {
  let exited = false;
  child?.status.then(() => exited = true);
  for (let i = 0;; i++) {
    if (exited) throw new Error("server exited before ready");
    try {
      await using client = await connect(
        { hostname: "127.0.0.1", port },
        "bench-probe",
        { connectTimeout: 1000 },
      );
      await client.query({ kind: "latest", eventTypes: [["bench", "*"]] });
      return;
    } catch (e) {
      if (i > 3000) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** `VmRSS` and `VmHWM` (peak) of `pid`, in bytes. */
export async function memory(
  pid: number,
): Promise<{ rss: number; peak: number }> {
  // Deno reads /proc only with --allow-all; a subprocess needs less.
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) *
    1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

/** Bytes of the files directly in `dir` whose names start with `prefix`. */
export async function filesSize(dir: string, prefix: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.startsWith(prefix)) continue;
    total += (await Deno.stat(`${dir}/${entry.name}`)).size;
  }
  return total;
}
