/**
 * Where the library reports what it does not throw: connections closed
 * for a reason, exceptions swallowed in callbacks.
 *
 * @module
 */

/** Receives the library's log records. */
export interface Logger {
  /** Something worth knowing while debugging. */
  debug(message: string, ...args: unknown[]): void;
  /** A connection or request failed; the rest goes on. */
  warn(message: string, ...args: unknown[]): void;
  /** A bug or an unexpected failure. */
  error(message: string, ...args: unknown[]): void;
}

const consoleLogger: Logger = {
  debug() {},
  warn: (message, ...args) => console.warn(`[hat-eventer] ${message}`, ...args),
  error: (message, ...args) =>
    console.error(`[hat-eventer] ${message}`, ...args),
};

/** The logger in use (default: warnings and errors to the console). */
export let log: Logger = consoleLogger;

/**
 * Replace the library's logger; `null` restores the default.
 *
 * @param logger Receives every record from now on.
 */
export function setLogger(logger: Logger | null): void {
  log = logger ?? consoleLogger;
}
