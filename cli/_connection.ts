/**
 * What the client commands share: connection flags, connecting, printing.
 *
 * @module
 */

import { connect, type ConnectOptions } from "../client.ts";
import type { Client } from "../client.ts";
import type { Event } from "../common/event/mod.ts";
import { DEFAULT_PORT } from "../common/eventer/mod.ts";
import {
  type FlagKinds,
  parseChoice,
  parseInteger,
  parseMilliseconds,
  UsageError,
} from "./_flags.ts";
import { type BinaryEncoding, renderEvent } from "./_render.ts";

/** How the CLI is invoked, for help and messages. */
export const CLI = "deno task cli";

/** Flags every client command takes. */
export const CONNECTION_FLAGS = {
  host: "string",
  port: "string",
  name: "string",
  token: "string",
  tls: "boolean",
  "ca-cert": "string",
  "timeout-ms": "string",
  "binary-encoding": "string",
} as const satisfies FlagKinds;

/** Help on {@linkcode CONNECTION_FLAGS}. */
export const CONNECTION_HELP = `Connection and output flags:
  --host H           server host (default 127.0.0.1)
  --port N           server port (default ${DEFAULT_PORT})
  --name NAME        client name (default cli)
  --token T          client token
  --tls              connect over TLS
  --ca-cert PEM      trust this CA certificate file (with --tls)
  --timeout-ms MS    milliseconds to wait for the server (default 10000)
  --binary-encoding base64|hex
                     how binary payloads are printed (default base64)
  -h, --help         show help`;

/** A failure worth one line and exit code 1. */
export class CommandError extends Error {
  /** @param message What failed, in one line. */
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}

/** Where and how to connect, and how to print. */
export interface ConnectionArgs {
  addr: { hostname: string; port: number };
  name: string;
  options: ConnectOptions;
  /** Milliseconds to wait for the server, per step. */
  timeout: number;
  binary: BinaryEncoding;
}

/**
 * Connection arguments from the flags (reading the `--ca-cert` file).
 *
 * @throws {UsageError} For a bad flag or an unreadable certificate.
 */
export async function connectionArgs(
  flags: { [K in keyof typeof CONNECTION_FLAGS]?: string | boolean },
): Promise<ConnectionArgs> {
  const caCert = flags["ca-cert"] as string | undefined;
  if (caCert !== undefined && !flags.tls) {
    throw new UsageError("flag --ca-cert needs --tls");
  }
  const timeout = flags["timeout-ms"] === undefined
    ? 10_000
    : parseMilliseconds("timeout-ms", flags["timeout-ms"] as string, 1);
  const args: ConnectionArgs = {
    addr: {
      hostname: (flags.host as string | undefined) ?? "127.0.0.1",
      port: flags.port === undefined
        ? DEFAULT_PORT
        : parseInteger("port", flags.port as string, 1, 65535),
    },
    name: (flags.name as string | undefined) ?? "cli",
    options: {
      clientToken: (flags.token as string | undefined) ?? null,
      tls: flags.tls ? { caCerts: [] } : undefined,
    },
    timeout,
    binary: flags["binary-encoding"] === undefined ? "base64" : parseChoice(
      "binary-encoding",
      flags["binary-encoding"] as string,
      {
        base64: "base64",
        hex: "hex",
      } as const,
    ),
  };
  if (caCert !== undefined) {
    try {
      args.options.tls = { caCerts: [await Deno.readTextFile(caCert)] };
    } catch (e) {
      throw new UsageError(
        `cannot read --ca-cert ${caCert}: ${(e as Error).message}`,
      );
    }
  }
  return args;
}

/** Connect with the CLI's arguments and a connect timeout. */
export async function open(
  args: ConnectionArgs,
  extra: ConnectOptions = {},
): Promise<Client> {
  return await connect(args.addr, args.name, {
    ...args.options,
    ...extra,
    signal: AbortSignal.timeout(args.timeout),
  });
}

/** Request options: the timeout. */
export function request(args: ConnectionArgs): { signal: AbortSignal } {
  return { signal: AbortSignal.timeout(args.timeout) };
}

/** Print events as JSON lines. */
export function print(events: readonly Event[], binary: BinaryEncoding): void {
  if (events.length === 0) return;
  console.log(events.map((e) => renderEvent(e, binary)).join("\n"));
}
