/**
 * Entry point of the Event Server:
 *
 *     deno run --allow-net --allow-read --allow-write --allow-env \
 *       cli/serve.ts [--port 23012] [--db hat-event.db] ...
 *
 * Prints `event server <id> listening on <host>:<port> (...)` once
 * operational, runs until SIGINT or SIGTERM, then shuts down gracefully.
 * Exits 2 for a bad command line and 1 when the server cannot start, with
 * one line on stderr.
 *
 * @module
 */

import { type Logger, setLogger } from "../common/log.ts";
import { parseChoice, parseFlags, parseInteger, UsageError } from "./_flags.ts";
import { DEFAULT_PORT } from "../common/eventer/mod.ts";
import {
  EventServerError,
  type EventServerOptions,
  startEventServer,
} from "../event_server/mod.ts";

/** Default database file, relative to the working directory. */
export const DEFAULT_DB = "hat-event.db";

const FLAGS = {
  host: "string",
  port: "string",
  "server-id": "string",
  "server-token": "string",
  "require-token": "boolean",
  db: "string",
  cert: "string",
  key: "string",
  "flush-delay": "string",
  synchronous: "string",
  verbose: "boolean",
} as const;

/**
 * Usage text of the Event Server.
 *
 * @param command How the server is invoked, for the first line.
 */
export function serveUsage(command: string): string {
  return `Usage: ${command} [flags]

Run a Hat Event Server (Eventer protocol) with an embedded SQLite database.

Flags:
  --host H           address to listen on (default 127.0.0.1)
  --port N           port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --server-id N      id of this server in event ids (default 1)
  --server-token T   refuse clients presenting another token
  --require-token    also refuse clients presenting no token
  --db PATH          database file (default ./${DEFAULT_DB}; :memory: for none)
  --cert PEM --key PEM
                     listen with TLS (certificate chain and private key files)
  --flush-delay MS   commit at most every MS milliseconds (default 0: every
                     event-loop turn); responses wait for the commit
  --synchronous full|normal
                     full (default): a commit survives power loss; normal:
                     it survives a crash of this process, not of the machine
  --verbose          log clients connecting and disconnecting to stderr
  -h, --help         show this help

Prints one line once ready: "event server <id> listening on <host>:<port> ...".
Stops gracefully on SIGINT or SIGTERM (a second one quits at once).`;
}

/**
 * Parse the Event Server's flags.
 *
 * @param args Command-line arguments.
 * @returns Options, or `null` when help was asked for.
 * @throws {UsageError} For a bad flag.
 */
export async function parseServeArgs(
  args: readonly string[],
): Promise<(EventServerOptions & { verbose: boolean }) | null> {
  const { flags, positionals } = parseFlags(args, FLAGS, "serve");
  if (flags.help) return null;
  if (positionals.length) {
    throw new UsageError(`unexpected argument ${positionals[0]}`);
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new UsageError("flags --cert and --key go together");
  }
  const options: EventServerOptions & { verbose: boolean } = {
    db: flags.db ?? DEFAULT_DB,
    hostname: flags.host ?? "127.0.0.1",
    port: flags.port === undefined
      ? DEFAULT_PORT
      : parseInteger("port", flags.port, 0, 65535),
    serverId: flags["server-id"] === undefined
      ? 1
      : parseInteger("server-id", flags["server-id"]),
    serverToken: flags["server-token"] ?? null,
    requireToken: flags["require-token"] ?? false,
    flushDelay: flags["flush-delay"] === undefined
      ? 0
      : parseInteger("flush-delay", flags["flush-delay"], 0, 60_000),
    synchronous: flags.synchronous === undefined ? "full" : parseChoice(
      "synchronous",
      flags.synchronous,
      {
        full: "full",
        normal: "normal",
      } as const,
    ),
    verbose: flags.verbose ?? false,
  };
  if (options.db === "") throw new UsageError("flag --db needs a path");
  if (options.requireToken && options.serverToken === null) {
    throw new UsageError("flag --require-token needs --server-token");
  }
  if (flags.cert !== undefined && flags.key !== undefined) {
    options.tls = {
      cert: await readText("cert", flags.cert),
      key: await readText("key", flags.key),
    };
  }
  return options;
}

/**
 * Run the Event Server until SIGINT or SIGTERM.
 *
 * @param args Command-line arguments.
 * @param command How the server is invoked, for help and messages.
 * @returns The process exit code.
 */
export async function serveMain(
  args: readonly string[],
  command = "cli/serve.ts",
): Promise<number> {
  let options;
  try {
    options = await parseServeArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message} (see ${command} --help)`);
    return 2;
  }
  if (options === null) {
    console.log(serveUsage(command));
    return 0;
  }
  if (options.verbose) setLogger(verboseLogger);

  let server;
  try {
    server = await startEventServer(options);
  } catch (e) {
    if (!(e instanceof EventServerError)) throw e;
    console.error(`error: ${e.message}`);
    return 1;
  }
  // A second signal quits at once, in case stopping hangs; nothing that
  // was answered is lost by that.
  const stop = () => {
    if (server.isOpen) server.close();
    else Deno.exit(130);
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    const { hostname, port } = server.addresses[0];
    const db = options.db === ":memory:" ? "in memory" : options.db;
    console.log(
      `event server ${server.serverId} listening on ${hostname}:${port} (${
        options.tls ? "TLS, " : ""
      }database ${db})`,
    );
    await server.waitClosing();
    console.error("event server stopping");
    await server.waitClosed();
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
  return 0;
}

async function readText(flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(
      `cannot read --${flag} file ${path}: ${(e as Error).message}`,
    );
  }
}

const verboseLogger: Logger = {
  debug: (message, ...args) => console.error(message, ...args),
  warn: (message, ...args) => console.error(`warning: ${message}`, ...args),
  error: (message, ...args) => console.error(`error: ${message}`, ...args),
};

if (import.meta.main) {
  Deno.exit(await serveMain(Deno.args, "deno task start"));
}
