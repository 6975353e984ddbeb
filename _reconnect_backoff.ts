/**
 * The redial policy of the reconnecting client: its options, checked
 * once, and the delay before each round of dialing.
 *
 * @module
 */

/** The options this policy reads, as `ReconnectOptions` documents them. */
export interface BackoffOptions {
  minDelay?: number;
  maxDelay?: number;
  jitter?: number;
  maxReconnectAttempts?: number;
}

const DEFAULT_MIN_DELAY = 100;
const DEFAULT_MAX_DELAY = 10_000;
const DEFAULT_JITTER = 0.5;

/** Exponential backoff with a random share taken off, and a round limit. */
export class Backoff {
  readonly #minDelay: number;
  readonly #maxDelay: number;
  readonly #jitter: number;
  readonly #maxAttempts: number;

  /**
   * Check the options.
   *
   * @throws {TypeError} Naming the first option that is out of its range.
   */
  constructor(options: BackoffOptions) {
    this.#minDelay = duration(options, "minDelay", DEFAULT_MIN_DELAY);
    this.#maxDelay = duration(options, "maxDelay", DEFAULT_MAX_DELAY);
    if (this.#minDelay > this.#maxDelay) {
      throw new TypeError(
        `minDelay (${this.#minDelay} ms) must not exceed maxDelay (${this.#maxDelay} ms)`,
      );
    }
    const jitter: unknown = options.jitter ?? DEFAULT_JITTER;
    if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
      throw new TypeError(
        `jitter must be a number from 0 to 1, got ${show(jitter)}`,
      );
    }
    this.#jitter = jitter;
    const max: unknown = options.maxReconnectAttempts ?? -1;
    if (
      typeof max !== "number" ||
      !(max === -1 || max === Infinity || (Number.isInteger(max) && max >= 0))
    ) {
      throw new TypeError(
        `maxReconnectAttempts must be -1 (for ever) or a non-negative integer, got ${
          show(max)
        }`,
      );
    }
    this.#maxAttempts = max === -1 ? Infinity : max;
  }

  /** Whether round `attempt` (from 1, after the first round) may start. */
  allows(attempt: number): boolean {
    return attempt <= this.#maxAttempts;
  }

  /**
   * Milliseconds before round `attempt` (from 1): `minDelay` doubled per
   * round, capped at `maxDelay`, then up to `jitter` of it taken off at
   * random. Taken off, not added: no delay exceeds `maxDelay`, and clients
   * that all reached it still spread out.
   */
  delay(attempt: number): number {
    const exponential = this.#minDelay * 2 ** Math.min(attempt - 1, 64);
    const capped = Math.min(this.#maxDelay, exponential);
    return capped * (1 - this.#jitter * Math.random());
  }
}

// An option in milliseconds: absent is the default; anything but a finite
// non-negative number is refused, naming the option.
function duration(
  options: BackoffOptions,
  name: "minDelay" | "maxDelay",
  fallback: number,
): number {
  const value: unknown = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new TypeError(
      `${name} must be a finite non-negative number of milliseconds, got ${
        show(value)
      }`,
    );
  }
  return value;
}

function show(value: unknown): string {
  return typeof value === "number" ? String(value) : typeof value;
}
