/**
 * `subscribe`: notified events as JSON lines until Ctrl-C.
 *
 * @module
 */

import { type EventType, formatEventType } from "../common/event/mod.ts";
import {
  CLI,
  CommandError,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  connectionArgs,
  open,
  print,
} from "./_connection.ts";
import { type FlagKinds, parseCommand, parseInteger } from "./_flags.ts";
import { parseQueryTypes } from "./_parse.ts";

const SUBSCRIBE_FLAGS = {
  ...CONNECTION_FLAGS,
  types: "list",
  "server-id": "string",
  persisted: "boolean",
} as const satisfies FlagKinds;

const SUBSCRIBE_USAGE = `Usage: ${CLI} subscribe [--types Q ...] [flags]

Print every notified event as a JSON line until Ctrl-C (SIGINT). Status
changes and "subscribed" go to stderr.

Flags:
  --types Q          query type, written as register's --type (repeatable;
                     ? one segment, final * any number); default *
  --server-id N      only events registered by this server
  --persisted        only notify events once committed

${CONNECTION_HELP}`;

/**
 * `subscribe`: print notified events until SIGINT.
 *
 * @param argv Arguments after the command.
 * @returns The exit code.
 */
export async function subscribe(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, SUBSCRIBE_FLAGS, SUBSCRIBE_USAGE);
  if (parsed === null) return 0;
  const { flags } = parsed;
  const subscriptions: EventType[] = parseQueryTypes(flags.types ?? ["*"]);
  const serverId = flags["server-id"] === undefined
    ? null
    : parseInteger("server-id", flags["server-id"]);
  const args = await connectionArgs(flags);

  const stop = Promise.withResolvers<void>();
  const onSignal = () => stop.resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    await using client = await open(args, {
      subscriptions,
      serverId,
      persisted: flags.persisted ?? false,
      eventsCb: (_client, events) => print(events, args.binary),
      statusCb: (_client, status) => console.error(`status: ${status}`),
    });
    const { hostname, port } = args.addr;
    console.error(
      `subscribed to ${
        subscriptions.map((t) => formatEventType(t) || "''").join(", ")
      } at ${hostname}:${port} (status: ${client.status})`,
    );
    const closed = client.waitClosing().then(() => "closed" as const);
    if (await Promise.race([stop.promise, closed]) === "closed") {
      throw new CommandError(`connection to ${hostname}:${port} closed`);
    }
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}
