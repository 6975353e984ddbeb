/**
 * What the three queries' runs share: candidates in result order, those
 * registered meanwhile merged in, the byte and count caps, and the events
 * of the chosen ones read a step at a time (see `_query.ts`).
 *
 * @module
 */

import type { Event, QueryResult } from "../common/event/mod.ts";
import type { EventQueries } from "./_query.ts";

/** A value bound to a statement parameter. */
export type Param = number | string | Uint8Array | null;

/**
 * Bytes an event takes in a result besides its type's segments and its
 * payload's type and data: at most 24 for the id, 13 + 12 for the
 * timestamps, 2 for the segment count, 12 for the payload's choice and
 * length prefixes; the JSON text of a type (quotes, commas) outgrows
 * the length prefixes of its segments.
 */
export const EVENT_OVERHEAD = 96;

// What one step reads: some 0.2-1 ms of work on the project's box (a
// latest query's steps: median 0.5-1 ms), a small part of a turn.
/** Candidate rows, type ids or index entries examined by a step. */
export const SCAN_ROWS = 512;
/** Events built by a step. */
const FETCH_ROWS = 128;
/** Estimated bytes of events read by a step (at least one event). */
const FETCH_BYTES = 1 << 20;
/** Sequence numbers of events registered meanwhile examined by a step. */
export const CATCH_UP_ROWS = 1024;

// The bytes of the payload of `events AS e`, read without building it.
export const PAYLOAD_SIZE = `coalesce(octet_length(e.payload_type), 0) +
  coalesce(octet_length(e.payload_data), 0)`;

/** Ordering key and id of a timeseries candidate. */
export interface SortKey {
  key: Uint8Array;
  server: number;
  session: number;
  instance: number;
  /** Its sequence number, where a scan of runs needs it. */
  seq?: number;
}

/** A candidate read from events registered after a run's snapshot. */
export interface Fresh {
  seq: number;
  size: number;
  typeId: number;
  // Ordering key, for timeseries.
  key?: SortKey;
  event?: Event;
}

/** Which candidates make the result, when some are fresh. */
interface Plan {
  // Main candidates by index, fresh ones as such, in result order.
  chosen: (number | Fresh)[];
  // Main candidates to fetch: the chosen ones are below.
  main: number;
  moreFollows: boolean;
}

const SCAN = 0;
const FETCH = 1;
const FINAL = 2;

/**
 * One query's run: candidates from a scan of the events registered before
 * its snapshot (the main ones, in result order) and, at the end, the
 * fresh ones registered since, merged in; then the events of the chosen.
 */
export abstract class Run {
  protected readonly q: EventQueries;
  protected readonly limit: number;
  /** Last event registered when the run began. */
  protected readonly snapshot: number;
  // Main candidates, in result order.
  protected readonly seqs: number[] = [];
  protected readonly sizes: number[] = [];
  /** True once the scan found every main candidate there is. */
  protected exhausted = false;
  // How many main candidates make the result when nothing is fresh, and
  // whether one was left out.
  #count = 0;
  #bytes = 0;
  #cut = false;
  // Events of the first main candidates.
  readonly #events: Event[] = [];
  // Fresh candidates in result order; the plan merging them in.
  readonly #fresh: Fresh[] = [];
  #plan: Plan | null | undefined;
  #phase = SCAN;
  readonly #withTypes: boolean;

  /**
   * @param q The queries' statements.
   * @param limit Most events of the result.
   * @param withTypes Whether to read the events' types with them (their
   *   types are mostly not in memory).
   */
  constructor(q: EventQueries, limit: number, withTypes = false) {
    this.q = q;
    this.limit = limit;
    this.#withTypes = withTypes;
    this.snapshot = q.lastSeq();
  }

  /** Ready to scan (query types resolved...); false while not. */
  protected prepare(): boolean {
    return true;
  }

  /** Read a bounded number of main candidates, in result order. */
  protected abstract scan(): void;

  /**
   * Bring the candidates up to date with what was registered or
   * committed since they were read; false while more remains to read
   * (then call again in a later step).
   */
  protected abstract refresh(): boolean;

  /**
   * Order of fresh candidate `f` against main candidate `i`: negative
   * before, positive after, 0 when it replaces it.
   */
  protected abstract compareMain(f: Fresh, i: number): number;

  /** Order of two fresh candidates; 0 when `b` replaces `a`. */
  protected abstract compareFresh(a: Fresh, b: Fresh): number;

  /**
   * Ready to compare fresh candidates with the main ones (whose sort keys
   * may be read only now); false while not (then call again in a later
   * step).
   */
  protected readyToMerge(): boolean {
    return true;
  }

  /** One more main candidate, after every other. */
  protected add(seq: number, size: number): void {
    this.seqs.push(seq);
    this.sizes.push(size);
    this.#plan = undefined;
    if (this.#cut) return;
    if (this.#count >= this.limit) {
      this.#cut = true;
      return;
    }
    const bytes = this.#bytes + size;
    if (bytes > this.q.maxBytes && this.#count > 0) {
      this.#cut = true;
      return;
    }
    this.#bytes = bytes;
    this.#count++;
  }

  /** True once the main candidates beyond the result's end were found. */
  protected get cut(): boolean {
    return this.#cut;
  }

  /** A candidate registered after the snapshot. */
  protected addFresh(f: Fresh): void {
    const fresh = this.#fresh;
    let lo = 0;
    let hi = fresh.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compareFresh(fresh[mid], f) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < fresh.length && this.compareFresh(fresh[lo], f) === 0) {
      fresh[lo] = f;
    } else {
      fresh.splice(lo, 0, f);
    }
    this.#plan = undefined;
  }

  step(): QueryResult | undefined {
    switch (this.#phase) {
      case SCAN:
        if (!this.prepare()) return;
        if (!this.#cut && !this.exhausted) {
          this.scan();
          return;
        }
        this.#phase = FETCH;
        // falls through
      case FETCH:
        if (this.#events.length < this.#count) {
          this.#fetchMain(this.#count);
          return;
        }
        this.#phase = FINAL;
        // falls through
      default:
        return this.#final();
    }
  }

  // The result, once up to date with every registration: checked again
  // in every step until one finds nothing new and nothing left to fetch.
  #final(): QueryResult | undefined {
    if (!this.refresh()) return;
    if (this.#fresh.length === 0) {
      if (!this.#cut && !this.exhausted) {
        this.scan();
        return;
      }
      if (this.#events.length < this.#count) {
        this.#fetchMain(this.#count);
        return;
      }
      const events = this.#events;
      if (events.length > this.#count) events.length = this.#count;
      return { events, moreFollows: this.#cut };
    }
    if (!this.readyToMerge()) return;
    if (this.#plan === undefined) this.#plan = this.#makePlan();
    const plan = this.#plan;
    if (plan === null) {
      this.scan();
      return;
    }
    if (this.#events.length < plan.main) {
      this.#fetchMain(plan.main);
      return;
    }
    if (this.#fetchFresh(plan.chosen)) return;
    return {
      events: plan.chosen.map((c) =>
        typeof c === "number" ? this.#events[c] : c.event!
      ),
      moreFollows: plan.moreFollows,
    };
  }

  // The main and fresh candidates merged, then cut; null when the main
  // ones read so far cannot tell where the result ends.
  #makePlan(): Plan | null {
    const fresh = this.#fresh;
    const seqs = this.seqs;
    const chosen: (number | Fresh)[] = [];
    let main = 0;
    let moreFollows = false;
    let bytes = 0;
    let i = 0;
    let j = 0;
    for (;;) {
      let next: number | Fresh;
      let size: number;
      const order = j === fresh.length
        ? 1
        : i === seqs.length
        ? -1
        : this.compareMain(fresh[j], i);
      if (order <= 0) {
        // A fresh candidate beyond the main ones read: some main one
        // not read yet may come first.
        if (i === seqs.length && !this.exhausted) return null;
        next = fresh[j++];
        size = next.size;
        if (order === 0) i++;
      } else if (i < seqs.length) {
        next = i;
        size = this.sizes[i++];
      } else {
        if (!this.exhausted) return null;
        break;
      }
      if (chosen.length >= this.limit) {
        moreFollows = true;
        break;
      }
      bytes += size;
      if (bytes > this.q.maxBytes && chosen.length > 0) {
        moreFollows = true;
        break;
      }
      chosen.push(next);
      if (typeof next === "number") main = next + 1;
    }
    return { chosen, main, moreFollows };
  }

  // Events of the main candidates from the first not fetched, up to `end`
  // (exclusive), as many as a step reads.
  #fetchMain(end: number): void {
    const from = this.#events.length;
    let to = from;
    let bytes = 0;
    while (
      to < end && to - from < FETCH_ROWS && (bytes < FETCH_BYTES || to === from)
    ) bytes += this.sizes[to++];
    this.#events.push(
      ...this.q.fetch(this.seqs.slice(from, to), this.#withTypes),
    );
  }

  // Events of chosen fresh candidates, as many as a step reads; false when
  // none was missing.
  #fetchFresh(chosen: (number | Fresh)[]): boolean {
    const missing: Fresh[] = [];
    let bytes = 0;
    for (const c of chosen) {
      if (typeof c === "number" || c.event !== undefined) continue;
      if (
        missing.length === FETCH_ROWS ||
        (bytes >= FETCH_BYTES && missing.length > 0)
      ) break;
      missing.push(c);
      bytes += c.size;
    }
    if (missing.length === 0) return false;
    const events = this.q.fetch(missing.map((f) => f.seq), this.#withTypes);
    for (let k = 0; k < missing.length; k++) missing[k].event = events[k];
    return true;
  }
}
