/**
 * Values of the command line: event and query types, timestamps, event
 * ids and payloads.
 *
 * @module
 */

import { parseJsonText } from "../common/json/mod.ts";
import {
  assertTimestamp,
  InvalidQueryTypeError,
  normalizeSeconds,
  now,
  parseEventType,
  Subscription,
  timestampFromFloat,
} from "../common/event/mod.ts";
import type {
  EventId,
  EventPayload,
  EventType,
  Timestamp,
} from "../common/event/mod.ts";
import { parseInteger, UsageError } from "./_flags.ts";

/**
 * An event or query type, as the library's {@linkcode parseEventType}
 * reads it: segments separated by `/` (`a/b/c`, `\/` for a `/` inside a
 * segment), `""` for the empty type, or a JSON array of strings.
 */
function parseType(text: string, what: string): EventType {
  try {
    return parseEventType(text);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new UsageError(e.message.replace("event type", what));
  }
}

/**
 * An event type to register: no `?` or `*` segment.
 *
 * @throws {UsageError} For a wildcard segment or malformed JSON.
 */
export function parseRegisterType(text: string): EventType {
  const type = parseType(text, "event type");
  const wildcard = type.find((s) => s === "?" || s === "*");
  if (wildcard !== undefined) {
    throw new UsageError(
      `invalid event type ${
        JSON.stringify(text)
      }: "${wildcard}" segments are only allowed in query types`,
    );
  }
  return type;
}

/**
 * Query types (`?` any one segment, final `*` any number of segments).
 *
 * @throws {UsageError} For a `*` before the last segment.
 */
export function parseQueryTypes(texts: readonly string[]): EventType[] {
  const types = texts.map((t) => parseType(t, "query type"));
  for (let i = 0; i < types.length; i++) {
    try {
      new Subscription([types[i]]);
    } catch (e) {
      if (!(e instanceof InvalidQueryTypeError)) throw e;
      throw new UsageError(
        `invalid query type ${
          JSON.stringify(texts[i])
        }: "*" is only allowed as the last segment`,
      );
    }
  }
  return types;
}

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d*))?$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * A timestamp: `now`, seconds since the epoch (`1704164645.5`, exact to
 * the microsecond, or with an exponent), or an ISO-8601 date
 * (`2024-01-02T03:04:05.123456Z`; without a zone it is UTC).
 *
 * @throws {UsageError} When `text` is none of these or out of range.
 */
export function parseTimestamp(flag: string, text: string): Timestamp {
  const t = text.trim();
  let us: bigint | null = null;
  if (t === "now") return now();
  const decimal = DECIMAL.exec(t);
  const iso = decimal ? null : ISO.exec(t);
  if (decimal) {
    const [, sign, whole, fraction = ""] = decimal;
    us = BigInt(whole) * 1_000_000n + fractionMicros(fraction);
    if (sign === "-") us = -us;
  } else if (iso) {
    us = isoMicros(iso);
  } else if (FLOAT.test(t)) {
    try {
      return timestampFromFloat(Number(t));
    } catch {
      us = null;
    }
  }
  if (us !== null) {
    const s = us / 1_000_000n - (us % 1_000_000n < 0n ? 1n : 0n);
    const timestamp = {
      s: normalizeSeconds(s),
      us: Number(us - s * 1_000_000n),
    };
    try {
      assertTimestamp(timestamp);
      return timestamp;
    } catch {
      // Out of range: reported below.
    }
  }
  throw new UsageError(
    `flag --${flag}: invalid timestamp ${
      JSON.stringify(text)
    } (expected an ISO-8601 date like 2024-01-02T03:04:05.123456Z, seconds like 1704164645.5, or now)`,
  );
}

/** Microseconds of a decimal fraction, rounded half to even. */
function fractionMicros(digits: string): bigint {
  const head = BigInt((digits.slice(0, 6) || "0").padEnd(6, "0"));
  const rest = digits.slice(6);
  if (rest === "" || /^0*$/.test(rest)) return head;
  const half = rest[0] > "5" || (rest[0] === "5" && /[1-9]/.test(rest.slice(1)))
    ? 1n
    : rest[0] === "5"
    ? head % 2n
    : 0n;
  return head + half;
}

function isoMicros(m: RegExpExecArray): bigint | null {
  const [, y, mo, d, hh = "0", mm = "0", ss = "0", fraction = "", zone] = m;
  const fields = [+y, +mo - 1, +d, +hh, +mm, +ss];
  const date = new Date(0);
  date.setUTCFullYear(fields[0], fields[1], fields[2]);
  if (
    date.getUTCMonth() !== fields[1] || date.getUTCDate() !== fields[2] ||
    fields[3] > 23 || fields[4] > 59 || fields[5] > 60
  ) {
    return null;
  }
  let ms = date.getTime() + ((fields[3] * 60 + fields[4]) * 60 + fields[5]) *
      1000;
  if (zone && zone.toUpperCase() !== "Z") {
    const [, sign, zh, zm = "0"] = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    if (+zh > 23 || +zm > 59) return null;
    ms -= (sign === "-" ? -1 : 1) * (+zh * 60 + +zm) * 60_000;
  }
  return BigInt(ms) * 1000n + fractionMicros(fraction);
}

/**
 * An event id written `server/session/instance`, e.g. `1/42/3`.
 *
 * @throws {UsageError} When malformed.
 */
export function parseEventId(flag: string, text: string): EventId {
  const parts = text.split("/");
  if (parts.length !== 3) {
    throw new UsageError(
      `flag --${flag} must be server/session/instance, e.g. 1/42/3, got ${
        JSON.stringify(text)
      }`,
    );
  }
  const [server, session, instance] = parts.map((p) =>
    parseInteger(flag, p, 0)
  );
  return { server, session, instance };
}

/** Where a register command takes its payload from. */
export interface PayloadSource {
  /** JSON text, or `-` for stdin. */
  json?: string;
  /** File holding JSON text, or `-` for stdin. */
  jsonFile?: string;
  /** File holding the binary payload, or `-` for stdin. */
  binaryFile?: string;
  /** Type of the binary payload. */
  binaryType?: string;
}

/**
 * Read the payload named by at most one of the sources.
 *
 * @throws {UsageError} For conflicting flags, an unreadable file or
 *   invalid JSON.
 */
export async function readPayload(
  source: PayloadSource,
  stdin: () => Promise<Uint8Array> = readStdin,
): Promise<EventPayload | null> {
  const given = [
    source.json !== undefined && "--json",
    source.jsonFile !== undefined && "--json-file",
    source.binaryFile !== undefined && "--binary-file",
  ].filter(Boolean);
  if (given.length > 1) {
    throw new UsageError(`flags ${given.join(" and ")} exclude each other`);
  }
  if ((source.binaryFile === undefined) !== (source.binaryType === undefined)) {
    throw new UsageError("flags --binary-file and --binary-type go together");
  }
  if (source.binaryFile !== undefined) {
    const data = await readInput("binary-file", source.binaryFile, stdin);
    return { kind: "binary", type: source.binaryType!, data };
  }
  let text: string;
  if (source.json !== undefined) {
    text = source.json === "-"
      ? new TextDecoder().decode(await stdin())
      : source.json;
  } else if (source.jsonFile !== undefined) {
    text = new TextDecoder().decode(
      await readInput("json-file", source.jsonFile, stdin),
    );
  } else {
    return null;
  }
  try {
    return { kind: "json", data: parseJsonText(text) };
  } catch (e) {
    throw new UsageError(`invalid JSON payload: ${(e as Error).message}`);
  }
}

async function readInput(
  flag: string,
  path: string,
  stdin: () => Promise<Uint8Array>,
): Promise<Uint8Array> {
  if (path === "-") return await stdin();
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new UsageError(
      `cannot read --${flag} ${path}: ${(e as Error).message}`,
    );
  }
}

async function readStdin(): Promise<Uint8Array> {
  return new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
}
