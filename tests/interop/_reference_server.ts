/**
 * The reference's Event Server (hat-event-server 0.9.44, LMDB backend) as
 * a process of its own, standalone (active at once), for tests that need
 * the real server rather than the eventer library; in a temporary
 * directory of its own, removed when it stops.
 *
 * @module
 */

import { lmdbBackend, startReference } from "./_differential.ts";

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

/** Start the reference Event Server and wait until it accepts. */
export async function startReferenceServer(
  options: ReferenceServerOptions,
): Promise<ReferenceServer> {
  const dir = await Deno.makeTempDir({ prefix: "reference_server_" });
  let server;
  try {
    server = await startReference(dir, {
      type: "event",
      log: { version: 1 },
      name: options.name ?? `event-${options.serverId}`,
      server_id: options.serverId,
      server_token: options.serverToken ?? null,
      backend: lmdbBackend(`${dir}/db`, {
        flush_period: options.flushPeriod ?? 0.05,
      }),
      modules: [],
    });
  } catch (e) {
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await server[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    })();
  return {
    port: server.port,
    serverId: options.serverId,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
