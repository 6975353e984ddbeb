/**
 * Connecting to a Chatter server.
 *
 * @module
 */

import { abortable } from "../async/mod.ts";
import type { Address } from "./address.ts";
import { Connection } from "./connection.ts";
import { checkChatterOptions, type ConnectOptions } from "./options.ts";
import { connectFailed, handshakeFailed } from "./_diagnose.ts";

/**
 * Connect to a Chatter server.
 *
 * @param addr Server address.
 * @param options Chatter, TLS and abort options.
 * @returns The open connection (with TLS, once the handshake succeeded).
 * @throws {ConnectionError} When the connection cannot be made: code
 * `CONNECTION_REFUSED`, or `TLS` when the TLS handshake fails.
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
    throw connectFailed(e, addr);
  }
  if (options.tls) {
    // Deno shakes hands on first use; here, a TLS failure (a certificate,
    // a plain port) fails connect with what it is, instead of the first
    // read with "unexpected end of file".
    try {
      await abortable((conn as Deno.TlsConn).handshake(), signal);
    } catch (e) {
      conn.close();
      if (signal?.aborted) throw signal.reason;
      throw handshakeFailed(e, addr);
    }
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
