/**
 * Listening for Chatter connections.
 *
 * @module
 */

import { Group, Resource } from "../async/mod.ts";
import { log } from "../log.ts";
import { type Address, toAddress } from "./address.ts";
import { setNoDelay } from "./connect.ts";
import { Connection } from "./connection.ts";
import type { ChatterOptions, ListenOptions } from "./options.ts";

/** Called with each accepted connection; runs as a task of its group. */
export type ConnectionHandler = (conn: Connection) => void | Promise<void>;

/** A listening Chatter server. Create with {@linkcode listen}. */
export class ChatterServer extends Resource {
  readonly #group = new Group();
  readonly #listener: Deno.Listener;

  /** @internal Use {@linkcode listen}. */
  constructor(
    listener: Deno.Listener,
    handler: ConnectionHandler,
    options: ChatterOptions,
  ) {
    super();
    this.#listener = listener;
    this.#group.signal.addEventListener("abort", () => {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    }, { once: true });
    this.#group.run(() => this.#acceptLoop(handler, options));
  }

  /** The server's group; each connection's group is its child. */
  get group(): Group {
    return this.#group;
  }

  /** Addresses the server listens on (the real port when 0 was asked for). */
  get addresses(): Address[] {
    return [toAddress(this.#listener.addr)];
  }

  async #acceptLoop(
    handler: ConnectionHandler,
    options: ChatterOptions,
  ): Promise<void> {
    for (;;) {
      let sock: Deno.Conn;
      try {
        sock = await this.#listener.accept();
      } catch (e) {
        if (!this.isOpen || e instanceof Deno.errors.BadResource) return;
        // A failed TLS handshake or a reset before accept: keep serving.
        log.warn(`accept failed: ${(e as Error).message}`);
        continue;
      }
      if (!this.isOpen) {
        sock.close();
        return;
      }
      setNoDelay(sock);
      const conn = new Connection(sock, this.#group, options);
      conn.group.run(() => handler(conn));
    }
  }
}

/**
 * Listen for Chatter connections.
 *
 * @param handler Called with each accepted connection.
 * @param addr Address to bind (port 0 picks a free port).
 * @param options Chatter and TLS options.
 * @returns The listening server.
 */
export function listen(
  handler: ConnectionHandler,
  addr: Address,
  options: ListenOptions = {},
): Promise<ChatterServer> {
  const listener = options.tls
    ? Deno.listenTls({
      hostname: addr.hostname,
      port: addr.port,
      cert: options.tls.cert,
      key: options.tls.key,
      transport: "tcp",
    })
    : Deno.listen({
      hostname: addr.hostname,
      port: addr.port,
      transport: "tcp",
    });
  return Promise.resolve(new ChatterServer(listener, handler, options));
}
