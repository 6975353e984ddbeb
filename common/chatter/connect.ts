/**
 * Connecting to a Chatter server.
 *
 * @module
 */

import { abortable } from "../async/mod.ts";
import type { Address } from "./address.ts";
import { Connection } from "./connection.ts";
import { ConnectionError } from "./errors.ts";
import { checkChatterOptions, type ConnectOptions } from "./options.ts";

/**
 * Connect to a Chatter server.
 *
 * @param addr Server address.
 * @param options Chatter, TLS and abort options.
 * @returns The open connection.
 * @throws {ConnectionError} When the connection cannot be made.
 * @throws {TypeError} For a duration that is not a finite number of
 * milliseconds >= 0.
 */
export async function connect(
  addr: Address,
  options: ConnectOptions = {},
): Promise<Connection> {
  checkChatterOptions(options);
  const signal = options.signal;
  signal?.throwIfAborted();
  const connecting = options.tls
    ? Deno.connectTls({
      hostname: addr.hostname,
      port: addr.port,
      caCerts: options.tls.caCerts,
    })
    : Deno.connect({ hostname: addr.hostname, port: addr.port });
  let conn: Deno.Conn;
  try {
    conn = await abortable<Deno.Conn>(connecting, signal);
  } catch (e) {
    if (signal?.aborted) {
      // A connection that completes after the abort must not leak.
      connecting.then((c) => c.close(), () => {});
      throw signal.reason;
    }
    throw new ConnectionError(
      `cannot connect to ${addr.hostname}:${addr.port}: ${
        (e as Error).message
      }`,
      { cause: e },
    );
  }
  setNoDelay(conn);
  return new Connection(conn, null, options);
}

/**
 * Eventer round trips are latency-bound: never let Nagle hold a frame.
 *
 * @param conn A TCP or TLS connection.
 */
export function setNoDelay(conn: Deno.Conn): void {
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
}
