/**
 * Command-line flags: `--name value`, `--name=value` and `--flag`, checked
 * against a declaration so that every mistake is one clear line.
 *
 * @module
 */

/** A mistake in the command line; the message is shown as is. */
export class UsageError extends Error {
  /** @param message What is wrong, in one line. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

// Flags of durations that were seconds (or had no unit in their name)
// before version 0.2: named in the error for the old name.
const RENAMED: Record<string, string> = {
  "timeout": "timeout-ms",
  "init-timeout": "init-timeout-ms",
  "ping-delay": "ping-delay-ms",
  "ping-timeout": "ping-timeout-ms",
  "flush-delay": "flush-delay-ms",
};

/** How each flag is given: with one value, repeatable, or alone. */
export type FlagKinds = Record<string, "string" | "list" | "boolean">;

/** Parsed flags: strings, string lists and booleans by flag name. */
export type Flags<K extends FlagKinds> = {
  [N in keyof K]?: K[N] extends "boolean" ? boolean
    : K[N] extends "list" ? string[]
    : string;
};

/**
 * Parse `args` against `kinds`. `--help` and `-h` are always accepted
 * (as `help`); `--` ends the flags.
 *
 * Messages do not name the command: the caller's hint does (`see deno
 * task start --help`), and only the caller knows how it was invoked (the
 * same server flags are `deno task start` and `deno task cli serve`).
 *
 * @param args Arguments after the command name.
 * @param kinds Accepted flags (without `--`).
 * @returns The flags and the positional arguments.
 * @throws {UsageError} For an unknown flag, a missing or unexpected value,
 *   or a non-repeatable flag given twice.
 */
export function parseFlags<K extends FlagKinds>(
  args: readonly string[],
  kinds: K,
): { flags: Flags<K> & { help?: boolean }; positionals: string[] } {
  const flags: Record<string, string | string[] | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === "-h" || arg === "--help") {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith("--") || arg === "-") {
      if (arg.startsWith("-") && arg !== "-" && !/^-\d/.test(arg)) {
        throw new UsageError(`unknown flag ${arg}`);
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = Object.hasOwn(kinds, name) ? kinds[name] : undefined;
    if (kind === undefined) {
      const renamed = Object.hasOwn(RENAMED, name) ? RENAMED[name] : undefined;
      throw new UsageError(
        renamed !== undefined && Object.hasOwn(kinds, renamed)
          ? `unknown flag --${name}: it is --${renamed} now, in milliseconds`
          : `unknown flag --${name}`,
      );
    }
    if (kind === "boolean") {
      if (eq >= 0) {
        throw new UsageError(`flag --${name} takes no value`);
      }
      flags[name] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = args[i + 1];
      if (next === undefined || (next.startsWith("--") && next !== "--")) {
        throw new UsageError(`flag --${name} needs a value`);
      }
      value = next;
      i++;
    }
    if (kind === "list") {
      ((flags[name] ??= []) as string[]).push(value);
    } else if (name in flags) {
      throw new UsageError(`flag --${name} given twice`);
    } else {
      flags[name] = value;
    }
  }
  return { flags: flags as Flags<K> & { help?: boolean }, positionals };
}

/**
 * Parse a command's arguments: {@linkcode parseFlags}, then `--help`
 * (prints `usage` and returns `null`), then at most `maxPositionals`
 * positional arguments.
 *
 * @param args Arguments after the command name.
 * @param kinds Accepted flags (without `--`).
 * @param usage The command's help text.
 * @param maxPositionals How many positional arguments it takes.
 * @returns The flags and the positional arguments, or `null` for `--help`.
 * @throws {UsageError} For a bad flag (see parseFlags) or an extra argument.
 */
export function parseCommand<K extends FlagKinds>(
  args: readonly string[],
  kinds: K,
  usage: string,
  maxPositionals = 0,
): { flags: Flags<K>; positionals: string[] } | null {
  const { flags, positionals } = parseFlags(args, kinds);
  if (flags.help) {
    console.log(usage);
    return null;
  }
  if (positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument ${positionals[maxPositionals]}`);
  }
  return { flags, positionals };
}

/**
 * An integer flag value within `[min, max]`.
 *
 * @throws {UsageError} When `value` is not such an integer.
 */
export function parseInteger(
  name: string,
  value: string,
  min = Number.MIN_SAFE_INTEGER,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = min === Number.MIN_SAFE_INTEGER
      ? "an integer"
      : max === Number.MAX_SAFE_INTEGER
      ? `an integer >= ${min}`
      : `an integer in [${min}, ${max}]`;
    throw new UsageError(
      `flag --${name} must be ${range}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

const UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};

/**
 * The bytes of a size written as an integer, optionally followed by `B`,
 * `KiB`, `MiB` or `GiB` (`16MiB`, `256 KiB`); NaN for other text.
 */
export function sizeInBytes(text: string): number {
  const m = /^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$/.exec(text);
  return m ? Number(m[1]) * UNITS[m[2] ?? ""] : NaN;
}

/**
 * A size in bytes: an integer, optionally followed by `B`, `KiB`, `MiB` or
 * `GiB` (`16MiB`, `256 KiB`).
 *
 * @throws {UsageError} When `value` is not such a size in [min, max].
 */
export function parseBytes(
  name: string,
  value: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = sizeInBytes(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `flag --${name} must be a size in bytes in [${min}, ${max}] ` +
        `(e.g. 16MiB), got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * A duration in whole milliseconds (the flags of durations end in `-ms`).
 *
 * @throws {UsageError} When `value` is not an integer in [min, max].
 */
export function parseMilliseconds(
  name: string,
  value: string,
  min = 0,
  max = 86_400_000,
): number {
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new UsageError(
      `flag --${name} must be milliseconds, an integer in [${min}, ${max}], got ${
        JSON.stringify(value)
      }`,
    );
  }
  return n;
}

/**
 * One of `choices` (keys), mapped to its value.
 *
 * @throws {UsageError} When `value` is not a key of `choices`.
 */
export function parseChoice<T>(
  name: string,
  value: string,
  choices: Record<string, T>,
): T {
  if (!Object.hasOwn(choices, value)) {
    throw new UsageError(
      `flag --${name} must be one of ${Object.keys(choices).join(", ")}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return choices[value];
}
