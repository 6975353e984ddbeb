/**
 * Keepalive of a Chatter connection: a Ping after `pingDelay` without
 * incoming data, and closing when nothing at all arrives within
 * `pingTimeout` after it (SPEC §2).
 *
 * @module
 */

import { type Deadline, SharedTimer } from "../async/mod.ts";
import { ConnectionError } from "./errors.ts";

/** What a {@linkcode Keepalive} needs of its connection. */
export interface KeepaliveHost {
  /** True until the connection starts closing. */
  readonly isOpen: boolean;
  /**
   * Reads and writes completed so far: any data received, and any write
   * the peer let through by reading, count as signs of life.
   */
  readonly progress: number;
  /** Queue a Ping; throws when it cannot be queued. */
  sendPing(): void;
  /** Close for `reason`. */
  closeWithReason(reason: Error): void;
  /** Close because handling failed with `e`. */
  fail(e: unknown): void;
}

// Ping checks per pingDelay while data comes in: how late a Ping may be,
// as a fraction of pingDelay (see Keepalive.onDue).
const PING_CHECKS = 8;

// The ping checks of every connection share one timer: a Deno timer each
// costs ~1.3 KB of heap.
const pingTimer = new SharedTimer((d, e) => (d as Keepalive).host.fail(e));

/**
 * The ping checks of one connection. Reads and writes are counted, not
 * timed (a clock read per read costs the round trip): the check, every
 * pingDelay / PING_CHECKS, notes whether the count moved, so the last
 * progress is placed at the first check after it, and a Ping goes out
 * between pingDelay and about 1.16 times pingDelay after it (a check
 * interval and the grid of #arm). A completed write counts: a peer that
 * reads what we send is alive even while it has nothing to say, and a
 * Ping queued behind a long backlog would otherwise time out.
 */
export class Keepalive implements Deadline {
  /** The connection. */
  readonly host: KeepaliveHost;
  /** @internal When the check is due (see {@linkcode SharedTimer}). */
  dueAt = 0;
  /** @internal Place in the ping timer's heap. */
  heapIndex = -1;
  readonly #delay: number;
  /** The interval of the checks: delay / PING_CHECKS. */
  readonly #step: number;
  readonly #timeout: number;
  #lastRx: number;
  #progressAtCheck = 0;
  #pingSentAt = -1;

  /**
   * Start the checks (none when `delayMs` is 0).
   *
   * @param host The connection.
   * @param delayMs Milliseconds without data before a Ping.
   * @param timeoutMs Milliseconds to wait for data after a Ping.
   */
  constructor(host: KeepaliveHost, delayMs: number, timeoutMs: number) {
    this.host = host;
    this.#delay = delayMs;
    this.#timeout = timeoutMs;
    this.#lastRx = performance.now();
    this.#step = delayMs / PING_CHECKS;
    if (delayMs > 0) this.#arm(this.#step);
  }

  /** Stop the checks. */
  stop(): void {
    pingTimer.unschedule(this);
  }

  // Due times are rounded up to a grid of an eighth of a check interval,
  // shared by the connections of one pingDelay: their checks fire
  // together, so the process wakes at most 8 * PING_CHECKS times per
  // pingDelay for them, however many there are.
  #arm(delay: number): void {
    const grain = this.#step / 8;
    const now = performance.now();
    const at = Math.ceil((now + delay) / grain) * grain;
    pingTimer.schedule(this, at - now);
  }

  /** @internal Check due (see {@linkcode SharedTimer}). */
  onDue(): void {
    const host = this.host;
    if (!host.isOpen) return;
    const now = performance.now();
    // Data came, or went, since the last check: at most a check interval
    // ago.
    const progress = host.progress;
    const heard = progress !== this.#progressAtCheck;
    if (heard) {
      this.#progressAtCheck = progress;
      this.#lastRx = now;
    }
    const step = this.#step;
    if (this.#pingSentAt >= 0) {
      if (!heard) {
        const waited = now - this.#pingSentAt;
        if (waited >= this.#timeout) {
          host.closeWithReason(
            new ConnectionError(
              `ping timeout: nothing received within ${this.#timeout} ms ` +
                "of a Ping (pingTimeout): the peer or the network is down or " +
                "stuck",
              { code: "PING_TIMEOUT" },
            ),
          );
        } else {
          this.#arm(Math.min(step, this.#timeout - waited));
        }
        return;
      }
      this.#pingSentAt = -1;
    }
    const idle = now - this.#lastRx;
    if (idle < this.#delay) {
      this.#arm(Math.min(step, this.#delay - idle));
      return;
    }
    try {
      host.sendPing();
    } catch (e) {
      host.closeWithReason(e as Error);
      return;
    }
    this.#pingSentAt = now;
    // Checked again within a step, so that the next Ping goes out about
    // pingDelay after the Pong, as the reference does, not after pingTimeout.
    this.#arm(Math.min(step, this.#timeout));
  }
}
