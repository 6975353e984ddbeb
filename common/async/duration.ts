/**
 * Durations of options: every one is milliseconds, as `setTimeout` and
 * `AbortSignal.timeout` count, and is checked where the options are
 * taken, so that a mistaken unit or value fails at once, by name.
 *
 * @module
 */

/**
 * Longest delay a timer takes: `setTimeout` fires at once (after a
 * warning) for anything longer, so longer durations wait this long.
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * Checks an option holding a duration in milliseconds: absent (`undefined`,
 * the default) or a finite number >= 0; `null` only when `allowNull` (where
 * it means "never" or "none").
 *
 * @param name The option's name, for the message.
 * @param value The option's value.
 * @param allowNull Whether `null` has a meaning for this option.
 * @throws {TypeError} Naming the option and the value, when it is not a
 * finite number >= 0 (nor absent, nor an allowed `null`).
 *
 * @example
 * ```ts
 * import { checkDuration } from "./duration.ts";
 * import assert from "node:assert/strict";
 * checkDuration("pingDelay", 20_000);
 * assert.throws(() => checkDuration("pingDelay", -1), /pingDelay/);
 * ```
 */
export function checkDuration(
  name: string,
  value: unknown,
  allowNull = false,
): void {
  if (value === undefined || (value === null && allowNull)) return;
  if (typeof value === "number" && value >= 0 && value < Infinity) return;
  throw new TypeError(
    `${name} must be a finite number of milliseconds >= 0${
      allowNull ? " or null" : ""
    }, got ${
      typeof value === "string" ? JSON.stringify(value) : String(value)
    }`,
  );
}

/**
 * Milliseconds for `setTimeout`: `ms`, or {@linkcode MAX_TIMER_DELAY} when
 * longer.
 *
 * @param ms A checked duration.
 * @returns The delay to give a timer.
 */
export function timerDelay(ms: number): number {
  return ms < MAX_TIMER_DELAY ? ms : MAX_TIMER_DELAY;
}
