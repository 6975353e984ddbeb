/**
 * Command-line client of Hat Event Servers (ours or the Python
 * reference's): register an event, query, subscribe, or serve.
 *
 *     deno task cli register --type a/b/c --json '{"x": 1}'
 *     deno task cli query timeseries --types 'a/*' --max-results 10
 *     deno task cli subscribe --types 'a/*'
 *     deno task cli serve --port 23012 --db hat-event.db
 *
 * `deno task cli` is in a checkout; anywhere, the published package runs
 * as `deno run -N -R -W jsr:@hat/eventer/cli <command>` (`--allow-net`;
 * `--allow-read` for payload and certificate files; `--allow-read` and
 * `--allow-write` of the database for `serve`). As a service, run `serve`
 * with the Deno binary itself, not through `npx`, so that `SIGTERM`
 * reaches it (the README shows a systemd unit).
 *
 * Events are printed one JSON object per line. Errors are one line on
 * stderr, with exit code 2 for a bad command line or input and 1 when the
 * server cannot be reached, refuses the client or fails the request.
 *
 * @module
 */

import { EventerInitError } from "./client.ts";
import { ConnectionError } from "./common/chatter/mod.ts";
import { setLogger } from "./common/log.ts";
import { CLI, CommandError } from "./cli/_connection.ts";
import { UsageError } from "./cli/_flags.ts";
import { query } from "./cli/_query.ts";
import { register } from "./cli/_register.ts";
import { subscribe } from "./cli/_subscribe.ts";
import { serveMain } from "./cli/serve.ts";

const USAGE = `Usage: ${CLI} <command> [flags]

Talk to a Hat Event Server over the Eventer protocol.

Commands:
  register    register one event and print it as registered
  query       query events: latest, timeseries or server
  subscribe   print notified events as JSON lines until Ctrl-C
  serve       run an Event Server (same as deno task start)
  help        show this help, or a command's: help <command>

Run "${CLI} <command> --help" for a command's flags.
Each event is printed as one JSON line:
  {"id":{"server":1,"session":2,"instance":1},"type":["a","b"],
   "timestamp":{"iso":"...Z","s":1700000000,"us":0},"sourceTimestamp":null,
   "payload":{"kind":"json","data":...}}
Exit codes: 0 ok, 1 server or connection error, 2 bad command line or input.`;

/**
 * Run the CLI.
 *
 * @param argv Command-line arguments (command first).
 * @returns The process exit code.
 */
export async function main(argv: readonly string[]): Promise<number> {
  let [command, ...rest] = argv;
  const commands: Record<string, (argv: string[]) => Promise<number>> = {
    register,
    query,
    subscribe,
  };
  if (command === "help" && rest.length > 0) {
    // `help query` is `query --help`.
    [command, rest] = [rest[0], ["--help"]];
    if (command === "help") rest = [];
  }
  if (command === "serve") {
    return await serveMain(rest, `${CLI} serve`);
  }
  if (
    command === undefined || command === "-h" || command === "--help" ||
    command === "help"
  ) {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (!Object.hasOwn(commands, command)) {
    console.error(`error: unknown command ${command} (see ${CLI} --help)`);
    return 2;
  }
  // The error line says what went wrong; the library's warnings about the
  // same connection would only repeat it.
  setLogger({
    debug() {},
    warn() {},
    error: (message, ...args) => console.error(`error: ${message}`, ...args),
  });
  try {
    return await commands[command](rest);
  } catch (e) {
    const [message, code] = describeError(e);
    const hint = e instanceof UsageError
      ? ` (see ${CLI} ${command} --help)`
      : e instanceof EventerInitError && e.message === "invalid client token"
      ? tokenHint(rest)
      : "";
    console.error(`error: ${message.replaceAll(/\s*\n\s*/g, " ")}${hint}`);
    return code;
  }
}

// Servers (ours as the reference) answer "invalid client token" both to
// a token other than theirs, which includes any token at all when they
// were started without one, and to no token when they require one.
function tokenHint(argv: readonly string[]): string {
  const sent = argv.some((a) => a === "--token" || a.startsWith("--token="));
  return sent
    ? " (a server started without a server token refuses every client" +
      " token: leave --token out, or give the server's own)"
    : " (this server requires a client token: give --token)";
}

function describeError(e: unknown): [string, number] {
  if (e instanceof UsageError) return [e.message, 2];
  if (e instanceof EventerInitError) {
    return [`the server refused the client: ${e.message}`, 1];
  }
  if (e instanceof DOMException && e.name === "TimeoutError") {
    return ["no answer from the server in time (see --timeout-ms)", 1];
  }
  if (e instanceof ConnectionError || e instanceof CommandError) {
    return [e.message, 1];
  }
  if (e instanceof Error) return [`${e.name}: ${e.message}`, 1];
  return [String(e), 1];
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
