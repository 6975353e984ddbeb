/**
 * Listening for Chatter connections.
 *
 * @module
 */

import { Group, Resource, runTask, sleep } from "../async/mod.ts";
import { log } from "../log.ts";
import { type Address, toAddress } from "./address.ts";
import { setNoDelay } from "./connect.ts";
import { Connection } from "./connection.ts";
import { listenFailed } from "./_diagnose.ts";
import {
  type ChatterOptions,
  checkChatterOptions,
  type ListenOptions,
} from "./options.ts";

// Backoff of the accept loop while the process is out of file descriptors.
const MIN_BACKOFF_MS = 5;
const MAX_BACKOFF_MS = 1000;

// EMFILE (process) or ENFILE (system): out of file descriptors.
function isOutOfDescriptors(e: unknown): boolean {
  return e instanceof Error &&
    /too many open files|os error 2[34]\b/i.test(e.message);
}

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
    runTask(this.#group, () => this.#acceptLoop(handler, options));
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
    let backoff = 0;
    for (;;) {
      let sock: Deno.Conn;
      try {
        sock = await this.#listener.accept();
      } catch (e) {
        if (!this.isOpen || e instanceof Deno.errors.BadResource) return;
        if (isOutOfDescriptors(e)) {
          // Accepting again at once would fail again at once: wait, longer
          // each time, for descriptors to free up (as Go's net/http does),
          // and say so once per spell.
          if (backoff === 0) {
            log.warn(
              `accept failed: ${(e as Error).message}; retrying with backoff`,
            );
          }
          backoff = Math.min(
            backoff === 0 ? MIN_BACKOFF_MS : backoff * 2,
            MAX_BACKOFF_MS,
          );
          await sleep(backoff, this.#group.signal);
          continue;
        }
        // A failed TLS handshake or a reset before accept: keep serving.
        log.warn(`accept failed: ${(e as Error).message}`);
        continue;
      }
      if (backoff !== 0) {
        log.warn("accepting again");
        backoff = 0;
      }
      if (!this.isOpen) {
        sock.close();
        return;
      }
      setNoDelay(sock);
      const conn = new Connection(sock, this.#group, options);
      runTask(conn.group, () => handler(conn));
    }
  }
}

/**
 * Listen for Chatter connections.
 *
 * @param handler Called with each accepted connection.
 * @param addr Address to bind (port 0 picks a free port).
 * @param options Chatter and TLS options, and a signal closing the server.
 * @returns The listening server.
 * @throws {EventerError} When it cannot bind: code `ADDRESS_IN_USE`,
 * `TLS` (a certificate or key it cannot use) or `LISTEN_FAILED`, with
 * Deno's error as `cause`.
 * @throws {TypeError} For a duration that is not a finite number of
 * milliseconds >= 0.
 */
export function listen(
  handler: ConnectionHandler,
  addr: Address,
  options: ListenOptions = {},
): Promise<ChatterServer> {
  checkChatterOptions(options);
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  let listener: Deno.Listener;
  try {
    listener = options.tls
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
  } catch (e) {
    // A bad argument (a port out of range) stays what it is.
    if (e instanceof TypeError || e instanceof RangeError) {
      return Promise.reject(e);
    }
    return Promise.reject(listenFailed(e, addr, options.tls !== undefined));
  }
  const server = new ChatterServer(listener, handler, options);
  // Removed once the server closes: a long-lived signal keeps nothing.
  signal?.addEventListener("abort", () => server.close(), {
    once: true,
    signal: server.group.signal,
  });
  return Promise.resolve(server);
}
