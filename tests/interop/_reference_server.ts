/**
 * The reference's Event Server (hat-event-server 0.9.44, LMDB backend) as
 * a process of its own, standalone (active at once), for tests that need
 * the real server rather than the eventer library.
 *
 * @module
 */

import { venvPath } from "./peer.ts";

/** A running reference Event Server. */
export interface ReferenceServer extends AsyncDisposable {
  /** Its Eventer port on 127.0.0.1. */
  port: number;
  /** Its server id. */
  serverId: number;
  /** Stop it (SIGTERM, then SIGKILL after 5 s) and remove its files. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startReferenceServer}. */
export interface ReferenceServerOptions {
  serverId: number;
  name?: string;
  serverToken?: string | null;
  /** Seconds between the backend's flushes (default 0.05). */
  flushPeriod?: number;
}

function freePort(): number {
  using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (probe.addr as Deno.NetAddr).port;
}

/** Start the reference Event Server and wait until it accepts. */
export async function startReferenceServer(
  options: ReferenceServerOptions,
): Promise<ReferenceServer> {
  const dir = await Deno.makeTempDir({ prefix: "reference_server_" });
  const port = freePort();
  const conf = {
    type: "event",
    log: { version: 1 },
    name: options.name ?? `event-${options.serverId}`,
    server_id: options.serverId,
    server_token: options.serverToken ?? null,
    backend: {
      module: "hat.event.backends.lmdb",
      db_path: `${dir}/db`,
      identifier: null,
      flush_period: options.flushPeriod ?? 0.05,
      cleanup_period: 60,
      conditions: [],
      latest: { subscriptions: [["*"]] },
      timeseries: [{ order_by: "TIMESTAMP", subscriptions: [["*"]] }],
    },
    modules: [],
    eventer_server: { host: "127.0.0.1", port },
  };
  await Deno.writeTextFile(`${dir}/conf.json`, JSON.stringify(conf));
  const child = new Deno.Command(`${venvPath()}/bin/python`, {
    args: ["-m", "hat.event.server", "--conf", `${dir}/conf.json`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
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
    await Deno.remove(dir, { recursive: true });
  };
  try {
    for (let i = 0;; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch (e) {
        if (i > 400) throw e;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    port,
    serverId: options.serverId,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
