/**
 * Helpers of the differential tests: the REFERENCE Event Server
 * (hat-event-server 0.9.44, LMDB backend) and OURS (`cli/serve.ts
 * --conf`) started from the same configuration, both driven through the
 * reference's own client (peer.py).
 *
 * @module
 */

import { type PeerEvent, type PeerPayload, venvPath } from "./peer.ts";

const SERVE = new URL("../../cli/serve.ts", import.meta.url).pathname;

/** A server process of the comparison. */
export interface DiffServer extends AsyncDisposable {
  /** Its Eventer port on 127.0.0.1. */
  readonly port: number;
  /** What it wrote on stderr so far (read once stopped). */
  stderr(): Promise<string>;
}

/** A port free a moment ago, on 127.0.0.1. */
export function freePort(): number {
  using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (probe.addr as Deno.NetAddr).port;
}

/** Wait until a process accepts on a port (up to 20 s). */
export async function untilListening(
  port: number,
  child: Deno.ChildProcess,
  what: string,
): Promise<void> {
  const end = performance.now() + 20000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      if (performance.now() > end) {
        child.kill("SIGKILL");
        const out = await child.output();
        throw new Error(
          `${what} did not start: ` +
            new TextDecoder().decode(out.stderr).slice(-2000),
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function stopper(child: Deno.ChildProcess): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () =>
    done ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, 5000);
      await child.status;
      clearTimeout(timer);
    })();
}

/**
 * Start the reference Event Server with `conf` (its `eventer_server` set
 * to a free port), written to `${dir}/reference.json`.
 *
 * @param pythonPath Directories put on `PYTHONPATH` (where its modules
 *   are).
 */
export async function startReference(
  dir: string,
  conf: Record<string, unknown>,
  pythonPath: string[] = [],
): Promise<DiffServer> {
  const port = freePort();
  const path = `${dir}/reference.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({ ...conf, eventer_server: { host: "127.0.0.1", port } }),
  );
  const child = new Deno.Command(`${venvPath()}/bin/hat-event-server`, {
    args: ["--conf", path],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: pythonPath.length > 0
      ? { PYTHONPATH: pythonPath.join(":") }
      : undefined,
  }).spawn();
  const stderr = new Response(child.stderr).text();
  await untilListening(port, child, "reference server");
  const stop = stopper(child);
  return { port, stderr: () => stderr, [Symbol.asyncDispose]: stop };
}

/**
 * Start our Event Server through `cli/serve.ts --conf` with `conf` (its
 * `eventer_server` set to port 0), written to `${dir}/ours.json`: module
 * paths are relative to `dir`. Once it is ready, one bare connection is
 * opened and closed, as {@linkcode startReference} does while waiting.
 */
export async function startOurs(
  dir: string,
  conf: Record<string, unknown>,
): Promise<DiffServer> {
  const path = `${dir}/ours.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({ ...conf, eventer_server: { host: "127.0.0.1", port: 0 } }),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", SERVE, "--conf", path],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const stop = stopper(child);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  try {
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
  } finally {
    reader.releaseLock();
  }
  const m = /listening on 127\.0\.0\.1:(\d+)/.exec(line);
  if (!m) {
    await stop();
    throw new Error(`our server did not start: ${line}${await stderr}`);
  }
  // Keep stdout drained.
  child.stdout.pipeTo(new WritableStream()).catch(() => {});
  const port = Number(m[1]);
  // One bare connection, as the reference's start is waited for: both
  // servers number every connection (the source ids of the clients).
  await untilListening(port, child, "our server");
  return {
    port,
    stderr: () => stderr,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * The same scenario on both servers, one after the other: `drive` run
 * against the reference started with `referenceConf` (modules found on
 * `pythonPath`), then against ours started with `oursConf`, each stopped
 * once driven.
 *
 * @returns What `drive` answered for each.
 */
export async function driveBoth<T>(
  dir: string,
  referenceConf: Record<string, unknown>,
  oursConf: Record<string, unknown>,
  drive: (server: DiffServer) => Promise<T>,
  pythonPath: string[] = [],
): Promise<{ reference: T; ours: T }> {
  let reference;
  {
    await using server = await startReference(dir, referenceConf, pythonPath);
    reference = await drive(server);
  }
  await using server = await startOurs(dir, oursConf);
  return { reference, ours: await drive(server) };
}

/** A reference backend section (LMDB) with the given rules. */
export function lmdbBackend(
  dbPath: string,
  rules: Record<string, unknown>,
): Record<string, unknown> {
  return {
    module: "hat.event.backends.lmdb",
    db_path: dbPath,
    identifier: null,
    flush_period: 0.05,
    cleanup_period: 60,
    conditions: [],
    latest: { subscriptions: [["*"]] },
    timeseries: [{ order_by: "TIMESTAMP", subscriptions: [["*"]] }],
    ...rules,
  };
}

function payloadText(p: PeerPayload): string {
  return p === null
    ? "none"
    : p.kind === "binary"
    ? `binary ${p.type} ${p.data}`
    : p.text ?? JSON.stringify(p.data);
}

/** What a reference client sees of an event, ids and timestamps aside. */
export function seen(e: PeerEvent): string {
  return `${e.type.join("/")} ${payloadText(e.payload)}`;
}

/**
 * What a reference client sees of an event, with its id and source
 * timestamp (not the server's timestamp: the servers' clocks differ).
 */
export function seenWithId(e: PeerEvent): string {
  const { server, session, instance } = e.id;
  const st = e.sourceTimestamp;
  return `${server}/${session}/${instance} ${seen(e)}${
    st ? ` @${st.s}.${String(st.us).padStart(6, "0")}` : ""
  }`;
}
