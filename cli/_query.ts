/**
 * `query`: every query parameter as a flag, pages followed on request.
 *
 * @module
 */

import type { QueryParams, QueryResult } from "../common/event/mod.ts";
import {
  CLI,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  connectionArgs,
  open,
  print,
  request,
} from "./_connection.ts";
import {
  type FlagKinds,
  parseChoice,
  parseCommand,
  parseInteger,
  UsageError,
} from "./_flags.ts";
import { parseEventId, parseQueryTypes, parseTimestamp } from "./_parse.ts";

const QUERY_FLAGS = {
  ...CONNECTION_FLAGS,
  types: "list",
  from: "string",
  to: "string",
  "source-from": "string",
  "source-to": "string",
  order: "string",
  "order-by": "string",
  "max-results": "string",
  "last-event-id": "string",
  "server-id": "string",
  persisted: "boolean",
  all: "boolean",
} as const satisfies FlagKinds;

const QUERY_KIND_FLAGS: Record<QueryParams["kind"], string[]> = {
  latest: ["types"],
  timeseries: [
    "types",
    "from",
    "to",
    "source-from",
    "source-to",
    "order",
    "order-by",
    "max-results",
    "last-event-id",
    "all",
  ],
  server: ["server-id", "persisted", "max-results", "last-event-id", "all"],
};

const QUERY_USAGE = `Usage: ${CLI} query latest|timeseries|server [flags]

Print the matching events, one JSON line each. When more events match
than one result of the server holds, a note on stderr tells how to
continue (or give --all).

  latest       the latest event of each matching type
    --types Q            query type, written as register's --type
                         (repeatable; ? one segment, final * any
                         number); default all
  timeseries   events in a time range
    --types Q            as above
    --from TS --to TS    timestamp bounds, inclusive (formats as in register)
    --source-from TS --source-to TS
                         source timestamp bounds, inclusive
    --order asc|desc     default desc
    --order-by timestamp|source
                         default timestamp
    --max-results N      events per result
    --last-event-id S/S/I
                         continue after this event (server/session/instance)
    --all                keep querying until no more events follow
  server       events registered by one server, in id order
    --server-id N        required
    --persisted          only events already committed
    --max-results N, --last-event-id S/S/I, --all
                         as above

${CONNECTION_HELP}`;

/**
 * `query latest|timeseries|server`: print the matching events.
 *
 * @param argv Arguments after the command.
 * @returns The exit code.
 */
export async function query(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, QUERY_FLAGS, QUERY_USAGE, 1);
  if (parsed === null) return 0;
  const { flags, positionals: [kindText] } = parsed;
  if (kindText === undefined) {
    throw new UsageError("query needs a kind: latest, timeseries or server");
  }
  if (!Object.hasOwn(QUERY_KIND_FLAGS, kindText)) {
    throw new UsageError(
      `unknown query kind ${
        JSON.stringify(kindText)
      }: latest, timeseries or server`,
    );
  }
  const kind = kindText as QueryParams["kind"];
  for (const name of Object.keys(flags)) {
    if (name in CONNECTION_FLAGS || QUERY_KIND_FLAGS[kind].includes(name)) {
      continue;
    }
    throw new UsageError(`flag --${name} does not apply to query ${kind}`);
  }
  const eventTypes = flags.types ? parseQueryTypes(flags.types) : null;
  const ts = (name: "from" | "to" | "source-from" | "source-to") =>
    flags[name] === undefined ? null : parseTimestamp(name, flags[name]);
  const maxResults = flags["max-results"] === undefined
    ? null
    : parseInteger("max-results", flags["max-results"], 0);
  const lastEventId = flags["last-event-id"] === undefined
    ? null
    : parseEventId("last-event-id", flags["last-event-id"]);
  let params: QueryParams;
  if (kind === "latest") {
    params = { kind, eventTypes };
  } else if (kind === "timeseries") {
    params = {
      kind,
      eventTypes,
      tFrom: ts("from"),
      tTo: ts("to"),
      sourceTFrom: ts("source-from"),
      sourceTTo: ts("source-to"),
      order: flags.order === undefined ? "descending" : parseChoice(
        "order",
        flags.order,
        {
          asc: "ascending",
          ascending: "ascending",
          desc: "descending",
          descending: "descending",
        } as const,
      ),
      orderBy: flags["order-by"] === undefined ? "timestamp" : parseChoice(
        "order-by",
        flags["order-by"],
        {
          timestamp: "timestamp",
          source: "sourceTimestamp",
          sourceTimestamp: "sourceTimestamp",
        } as const,
      ),
      maxResults,
      lastEventId,
    };
  } else {
    if (flags["server-id"] === undefined) {
      throw new UsageError("query server needs --server-id");
    }
    params = {
      kind,
      serverId: parseInteger("server-id", flags["server-id"]),
      persisted: flags.persisted ?? false,
      maxResults,
      lastEventId,
    };
  }
  const args = await connectionArgs(flags);

  await using client = await open(args);
  for (;;) {
    const result: QueryResult = await client.query(params, request(args));
    print(result.events, args.binary);
    const last = result.events.at(-1);
    if (!result.moreFollows || !last || params.kind === "latest") break;
    if (!flags.all) {
      const { server, session, instance } = last.id;
      console.error(
        `more events follow: continue with --last-event-id ${server}/${session}/${instance}`,
      );
      break;
    }
    params = { ...params, lastEventId: last.id };
  }
  return 0;
}
