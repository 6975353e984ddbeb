/**
 * Entry point of the Event Server:
 *
 *     deno run --allow-net --allow-read --allow-write \
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
import {
  parseBytes,
  parseChoice,
  parseFlags,
  parseInteger,
  parseMilliseconds,
  UsageError,
} from "./_flags.ts";
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_PING_DELAY,
  DEFAULT_PING_TIMEOUT,
  DEFAULT_RECEIVE_QUEUE_SIZE,
  DEFAULT_SEND_QUEUE_BYTES,
  DEFAULT_SEND_QUEUE_SIZE,
} from "../common/chatter/mod.ts";
import { DEFAULT_PORT } from "../common/eventer/mod.ts";
import {
  DEFAULT_INIT_TIMEOUT,
  DEFAULT_MAX_NOTIFY_BYTES,
  DEFAULT_MAX_SUBSCRIPTIONS,
  INIT_MAX_FRAME_SIZE,
} from "../server.ts";
import {
  DEFAULT_EVENT_TYPE_CACHE_SIZE,
  DEFAULT_MAX_EVENT_TYPE_BYTES,
  DEFAULT_MAX_EVENT_TYPE_SEGMENTS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_MAX_RESULTS,
  DEFAULT_SESSION_BLOCK,
} from "../store/mod.ts";
import { ConfigError, loadServerConfig } from "./_config.ts";
import {
  DEFAULT_MAX_CLIENT_NAME_BYTES,
  DEFAULT_MAX_SESSION_EVENTS,
  DEFAULT_MODULE_MAX_FAILURES,
  DEFAULT_MODULE_TIMEOUT,
  EventServerError,
  type EventServerOptions,
  startEventServer,
} from "../event_server/mod.ts";

/** Default database file, relative to the working directory. */
export const DEFAULT_DB = "hat-event.db";

const FLAGS = {
  conf: "string",
  host: "string",
  port: "string",
  "server-id": "string",
  "server-token": "string",
  "require-token": "boolean",
  db: "string",
  cert: "string",
  key: "string",
  "flush-delay-ms": "string",
  synchronous: "string",
  "writer-thread": "string",
  monitor: "string",
  group: "string",
  name: "string",
  verbose: "boolean",
  ...Object.fromEntries(
    [
      "max-frame-size",
      "init-max-frame-size",
      "init-timeout-ms",
      "ping-delay-ms",
      "ping-timeout-ms",
      "receive-queue-size",
      "send-queue-size",
      "send-queue-bytes",
      "max-subscriptions",
      "max-notify-bytes",
      "max-results",
      "max-result-bytes",
      "max-client-name-bytes",
      "max-event-type-segments",
      "max-event-type-bytes",
      "max-payload-bytes",
      "session-block",
      "event-type-cache-size",
    ].map((name) => [name, "string" as const]),
  ),
} as const;

const MIB = 1024 * 1024;
// A size as --help prints it.
function size(n: number): string {
  return n % MIB === 0
    ? `${n / MIB}MiB`
    : n % 1024 === 0
    ? `${n / 1024}KiB`
    : String(n);
}

/**
 * Usage text of the Event Server.
 *
 * @param command How the server is invoked, for the first line.
 */
export function serveUsage(command: string): string {
  return `Usage: ${command} [flags]

Run a Hat Event Server (Eventer protocol) with an embedded SQLite database.

Flags (they override the configuration file):
  --conf FILE        configuration file (JSON; see below)
  --host H           address to listen on (default 127.0.0.1)
  --port N           port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --server-id N      id of this server in event ids (default 1)
  --server-token T   refuse clients presenting another token; without it,
                     any client presenting a token is refused (as the
                     reference does), and clients presenting none are let in
  --require-token    also refuse clients presenting no token
  --db PATH          database file (default ./${DEFAULT_DB}; :memory: for none)
  --cert PEM --key PEM
                     listen with TLS (certificate chain and private key files)
  --flush-delay-ms MS
                     commit at most every MS milliseconds (default 0: every
                     event-loop turn); responses wait for the commit
  --synchronous full|normal
                     full (default): a commit survives power loss; normal:
                     it survives a crash of this process, not of the machine
  --writer-thread on|off
                     on (default): commits are written and synced by a
                     second thread while this one goes on registering
  --monitor HOST:PORT --group G [--name N]
                     join monitor group G of the Hat Monitor Server at
                     HOST:PORT (component name N, default event-<server-id>):
                     standby until blessed, the engine only while blessed
                     and no other Event Server of the group is active;
                     syncs with the group's other Event Servers; exits
                     when the monitor connection closes
  --verbose          log clients connecting and disconnecting to stderr
  -h, --help         show this help

Limits, per connection unless said (the defaults are safe for an untrusted
network; sizes take B, KiB, MiB or GiB):
  --max-frame-size SIZE         largest message accepted (default ${
    size(DEFAULT_MAX_FRAME_SIZE)
  })
  --init-max-frame-size SIZE    largest message before a client's init
                                succeeded (default ${size(INIT_MAX_FRAME_SIZE)})
  --init-timeout-ms MS          milliseconds a client has to send its init
                                (default ${DEFAULT_INIT_TIMEOUT})
  --ping-delay-ms MS            milliseconds without data before a Ping
                                (default ${DEFAULT_PING_DELAY}; 0: never)
  --ping-timeout-ms MS          milliseconds to wait for data after a Ping
                                (default ${DEFAULT_PING_TIMEOUT})
  --receive-queue-size N        requests read ahead before reading pauses
                                (default ${DEFAULT_RECEIVE_QUEUE_SIZE})
  --send-queue-size N           messages queued for a client before it is
                                cut as a slow consumer (default ${DEFAULT_SEND_QUEUE_SIZE})
  --send-queue-bytes SIZE       bytes queued for a client before the same
                                (default ${size(DEFAULT_SEND_QUEUE_BYTES)})
  --max-subscriptions N         query types in a subscription (default ${DEFAULT_MAX_SUBSCRIPTIONS})
  --max-notify-bytes SIZE       notifications larger go as several messages
                                (default ${size(DEFAULT_MAX_NOTIFY_BYTES)})
  --max-results N               events in a query result (default ${DEFAULT_MAX_RESULTS})
  --max-result-bytes SIZE       bytes of a query result (default ${
    size(DEFAULT_MAX_RESULT_BYTES)
  })
  --max-client-name-bytes N     bytes of a client's name (default ${DEFAULT_MAX_CLIENT_NAME_BYTES})
  --max-event-type-segments N   segments of a registered event type
                                (default ${DEFAULT_MAX_EVENT_TYPE_SEGMENTS})
  --max-event-type-bytes SIZE   bytes of a registered event type
                                (default ${size(DEFAULT_MAX_EVENT_TYPE_BYTES)})
  --max-payload-bytes SIZE      bytes of a registered payload (default ${
    size(DEFAULT_MAX_PAYLOAD_BYTES)
  })
  --session-block N             sessions reserved on disk at a time: ids a
                                crash may skip (default ${DEFAULT_SESSION_BLOCK})
  --event-type-cache-size N     event types kept in memory; the others are
                                read from the database (default ${DEFAULT_EVENT_TYPE_CACHE_SIZE})

Configuration file (--conf FILE): the reference's (hat-event 0.9) keys, with
the LMDB backend's, mean the same here (durations in seconds, as there);
our own keys are backend.synchronous/writer_thread/session_block/
event_type_cache_size, eventer_server.require_token/tls and the "limits"
section (the limits above, snake_case, plus module_timeout_ms,
module_max_failures and max_session_events). Module paths are relative to the file; db_path and
TLS files to the working directory. monitor_component {host, port,
group} and name join a Hat monitor group (--monitor, --group, --name).
Refused: adminer_server, Python modules, other backends. Every error is printed,
one line each. A complete example:

${CONF_EXAMPLE.replace(/^/gm, "  ")}

Prints one line once ready: "event server <id> listening on <host>:<port> ...".
Stops gracefully on SIGINT or SIGTERM (a second one quits at once).`;
}

/** A complete configuration file, as --help and the README show it. */
export const CONF_EXAMPLE = `{
  "type": "event",
  "name": "event-server",
  "server_id": 1,
  "server_token": null,
  "eventer_server": { "host": "127.0.0.1", "port": 23012 },
  "backend": {
    "module": "hat.event.backends.lmdb",
    "db_path": "hat-event.db",
    "identifier": null,
    "flush_period": 0,
    "cleanup_period": 60,
    "conditions": [
      {
        "subscriptions": [["gateway", "*"]],
        "condition": { "type": "json", "data_path": "quality",
                       "data_value": "GOOD" }
      }
    ],
    "latest": { "subscriptions": [["*"]] },
    "timeseries": [
      {
        "order_by": "TIMESTAMP",
        "subscriptions": [["*"]],
        "limit": { "min_entries": 1000, "duration": 604800 }
      }
    ],
    "timeseries_max_results": 4096,
    "synchronous": "full"
  },
  "modules": [
    {
      "module": "./examples/deadband.ts",
      "subscriptions": [["measurement", "*"]],
      "deadband": 0.5
    }
  ],
  "limits": { "max_payload_bytes": "1MiB", "module_timeout_ms": ${DEFAULT_MODULE_TIMEOUT},
              "module_max_failures": ${DEFAULT_MODULE_MAX_FAILURES}, "max_session_events": ${DEFAULT_MAX_SESSION_EVENTS} }
}`;

/**
 * Parse the Event Server's flags.
 *
 * @param args Command-line arguments.
 * @returns Options, or `null` when help was asked for.
 * @throws {UsageError} For a bad flag.
 */
export async function parseServeArgs(
  args: readonly string[],
): Promise<(EventServerOptions & ServeExtras) | null> {
  const { flags, positionals } = parseFlags(args, FLAGS);
  if (flags.help) return null;
  if (positionals.length) {
    throw new UsageError(`unexpected argument ${positionals[0]}`);
  }
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new UsageError("flags --cert and --key go together");
  }
  // Only the flags given: they override the configuration file.
  const given: Partial<EventServerOptions> = {
    db: flags.db,
    hostname: flags.host,
    port: flags.port === undefined
      ? undefined
      : parseInteger("port", flags.port, 0, 65535),
    serverId: flags["server-id"] === undefined
      ? undefined
      : parseInteger("server-id", flags["server-id"]),
    serverToken: flags["server-token"],
    requireToken: flags["require-token"],
    flushDelay: flags["flush-delay-ms"] === undefined
      ? undefined
      : parseMilliseconds("flush-delay-ms", flags["flush-delay-ms"], 0, 60_000),
    synchronous: flags.synchronous === undefined ? undefined : parseChoice(
      "synchronous",
      flags.synchronous,
      {
        full: "full",
        normal: "normal",
      } as const,
    ),
    writerThread: flags["writer-thread"] === undefined
      ? undefined
      : parseChoice(
        "writer-thread",
        flags["writer-thread"],
        {
          on: true,
          off: false,
        } as const,
      ),
    ...limits(flags),
  };
  for (const key of Object.keys(given) as (keyof EventServerOptions)[]) {
    if (given[key] === undefined) delete given[key];
  }
  if (given.db === "") throw new UsageError("flag --db needs a path");
  if ((flags.monitor === undefined) !== (flags.group === undefined)) {
    throw new UsageError("flags --monitor and --group go together");
  }
  if (flags.name !== undefined && flags.monitor === undefined) {
    throw new UsageError("flag --name needs --monitor");
  }
  if (flags.monitor !== undefined) {
    given.monitor = {
      addr: parseHostPort("monitor", flags.monitor),
      group: flags.group!,
      name: flags.name,
    };
  }
  if (flags.cert !== undefined && flags.key !== undefined) {
    given.tls = {
      cert: await readText("cert", flags.cert),
      key: await readText("key", flags.key),
    };
  }
  const conf = flags.conf === undefined
    ? { options: {}, warnings: [] }
    : await loadServerConfig(flags.conf);
  const options: EventServerOptions & ServeExtras = {
    db: DEFAULT_DB,
    hostname: "127.0.0.1",
    port: DEFAULT_PORT,
    serverId: 1,
    serverToken: null,
    requireToken: false,
    flushDelay: 0,
    synchronous: "full",
    ...conf.options,
    ...given,
    verbose: flags.verbose ?? false,
    warnings: conf.warnings,
  };
  // The configuration's name stays the component's unless --name says.
  const confName = conf.options.monitor?.name;
  if (given.monitor && given.monitor.name === undefined && confName) {
    options.monitor = { ...given.monitor, name: confName };
  }
  if (options.requireToken && options.serverToken === null) {
    throw new UsageError(
      "flag --require-token (or eventer_server.require_token) needs " +
        "--server-token (or server_token)",
    );
  }
  return options;
}

/** What the entry point takes besides the server's options. */
export interface ServeExtras {
  /** Log clients connecting and disconnecting. */
  verbose: boolean;
  /** Configuration keys accepted but ignored, one line each. */
  warnings: string[];
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
    if (e instanceof ConfigError) {
      for (const line of e.errors) console.error(`error: ${e.path}: ${line}`);
      return 2;
    }
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message} (see ${command} --help)`);
    return 2;
  }
  if (options === null) {
    console.log(serveUsage(command));
    return 0;
  }
  if (options.verbose) setLogger(verboseLogger);
  for (const warning of options.warnings) console.error(`warning: ${warning}`);

  let server;
  try {
    server = await startEventServer(options);
  } catch (e) {
    // A TypeError names an option the checks of startEventServer refused
    // (a storage rule of the configuration file, say).
    if (e instanceof TypeError) {
      console.error(`error: ${e.message}`);
      return 2;
    }
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
      }database ${db}${
        options.monitor
          ? `, monitor ${options.monitor.addr.hostname}:${options.monitor.addr.port} group ${options.monitor.group}`
          : ""
      })`,
    );
    await server.waitClosing();
    console.error("event server stopping");
    await server.waitClosed();
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
  return 0;
}

// The limits given on the command line; the others keep their defaults.
function limits(flags: Record<string, unknown>): Partial<EventServerOptions> {
  const o: Partial<EventServerOptions> = {};
  const int = (name: string, min: number) =>
    typeof flags[name] === "string"
      ? parseInteger(name, flags[name] as string, min)
      : undefined;
  const bytes = (name: string, min: number) =>
    typeof flags[name] === "string"
      ? parseBytes(name, flags[name] as string, min)
      : undefined;
  const ms = (name: string, min: number) =>
    typeof flags[name] === "string"
      ? parseMilliseconds(name, flags[name] as string, min)
      : undefined;
  o.maxFrameSize = bytes("max-frame-size", 1024);
  o.initMaxFrameSize = bytes("init-max-frame-size", 1024);
  o.initTimeout = ms("init-timeout-ms", 1);
  o.pingDelay = ms("ping-delay-ms", 0);
  o.pingTimeout = ms("ping-timeout-ms", 1);
  o.receiveQueueSize = int("receive-queue-size", 1);
  o.sendQueueSize = int("send-queue-size", 1);
  o.sendQueueBytes = bytes("send-queue-bytes", 1024);
  o.maxSubscriptions = int("max-subscriptions", 0);
  o.maxNotifyBytes = bytes("max-notify-bytes", 1024);
  o.maxResults = int("max-results", 1);
  o.maxResultBytes = bytes("max-result-bytes", 1024);
  o.maxClientNameBytes = int("max-client-name-bytes", 1);
  o.maxEventTypeSegments = int("max-event-type-segments", 1);
  o.maxEventTypeBytes = bytes("max-event-type-bytes", 1);
  o.maxPayloadBytes = bytes("max-payload-bytes", 0);
  o.sessionBlock = int("session-block", 1);
  o.eventTypeCacheSize = int("event-type-cache-size", 1);
  for (const key of Object.keys(o) as (keyof EventServerOptions)[]) {
    if (o[key] === undefined) delete o[key];
  }
  return o;
}

function parseHostPort(
  flag: string,
  text: string,
): { hostname: string; port: number } {
  const i = text.lastIndexOf(":");
  if (i <= 0) throw new UsageError(`flag --${flag} needs HOST:PORT`);
  return {
    hostname: text.slice(0, i),
    port: parseInteger(flag, text.slice(i + 1), 1, 65535),
  };
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
