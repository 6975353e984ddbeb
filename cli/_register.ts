/**
 * `register`: one event, its payload from a flag, a file or stdin.
 *
 * @module
 */

import {
  CLI,
  CommandError,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  connectionArgs,
  open,
  print,
  request,
} from "./_connection.ts";
import { type FlagKinds, parseCommand, UsageError } from "./_flags.ts";
import { parseRegisterType, parseTimestamp, readPayload } from "./_parse.ts";

const REGISTER_FLAGS = {
  ...CONNECTION_FLAGS,
  type: "string",
  "source-timestamp": "string",
  json: "string",
  "json-file": "string",
  "binary-file": "string",
  "binary-type": "string",
  "no-response": "boolean",
} as const satisfies FlagKinds;

const REGISTER_USAGE = `Usage: ${CLI} register --type a/b/c [payload] [flags]

Register one event and print it as registered (id, timestamp) once the
server answered; the server answers once the event is stored.

Flags:
  --type T               event type: segments separated by / (\\/ for a /
                         inside a segment, '' for the empty type), or a
                         JSON array of strings; no ? or * segments
  --source-timestamp TS  ISO-8601 date (UTC unless a zone is given) or
                         seconds since 1970 (e.g. 1704164645.5), or now
  --json TEXT            JSON payload (- reads it from stdin)
  --json-file F          JSON payload from a file (- for stdin)
  --binary-file F --binary-type T
                         binary payload from a file (- for stdin)
  --no-response          do not ask for the registered event

${CONNECTION_HELP}`;

/**
 * `register`: register one event and print it as registered.
 *
 * @param argv Arguments after the command.
 * @returns The exit code.
 */
export async function register(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, REGISTER_FLAGS, REGISTER_USAGE);
  if (parsed === null) return 0;
  const { flags } = parsed;
  if (flags.type === undefined) throw new UsageError("flag --type is required");
  const type = parseRegisterType(flags.type);
  const sourceTimestamp = flags["source-timestamp"] === undefined
    ? null
    : parseTimestamp("source-timestamp", flags["source-timestamp"]);
  const args = await connectionArgs(flags);
  const payload = await readPayload({
    json: flags.json,
    jsonFile: flags["json-file"],
    binaryFile: flags["binary-file"],
    binaryType: flags["binary-type"],
  });
  const events = [{ type, sourceTimestamp, payload }];

  await using client = await open(args);
  if (flags["no-response"]) {
    await client.register(events, false);
    // The register request has no answer; a query behind it has one, and
    // the server handles a connection's requests in order: once it
    // answers, the registration was handled and closing loses nothing.
    await client.query({ kind: "latest", eventTypes: [] }, request(args));
    return 0;
  }
  const registered = await client.register(events, true, request(args));
  if (registered === null) {
    throw new CommandError("the server refused to register the event");
  }
  print(registered, args.binary);
  return 0;
}
