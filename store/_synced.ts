/**
 * Writing a peer's events into the store with their own ids and
 * timestamps (sync between Event Servers, SPEC-monitor 6.5 rule 16): the
 * SQL side of {@linkcode SqliteStore.writeSynced}, run inside the
 * store's open transaction.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  compareEventIds,
  compareTimestamps,
  type Event,
  timestampFromBytes,
  timestampToBytes,
} from "../common/event/mod.ts";
import { log } from "../common/log.ts";
import type { EventTypeTable } from "./_event_types.ts";
import {
  checkPayloadSize,
  checkRegisterType,
  type EventLimits,
  payloadColumns,
} from "./_event_row.ts";
import type { StorageConditions } from "./_conditions.ts";
import type { LatestRule } from "./_latest_rule.ts";
import type { Partitions } from "./_partitions.ts";
import { INSERT_RUN, UPSERT_SERVER } from "./_schema.ts";

/** A server's last stored event: its id and timestamp. */
interface ServerLast {
  session: number;
  instance: number;
  t: Uint8Array;
}

/** The store's parts a synced write uses. */
export interface SyncedWriterParts {
  db: DatabaseSync;
  types: EventTypeTable;
  limits: EventLimits;
  conditions: StorageConditions;
  latestRule: LatestRule;
  /** The timeseries partitions, which keep an event by its type. */
  partitions: Partitions;
  /** The store's own server id: a peer never writes those. */
  serverId: number;
}

/**
 * Writes a peer's events as they are: see
 * {@linkcode SyncedWriter.write}.
 */
export class SyncedWriter {
  readonly #p: SyncedWriterParts;
  readonly #insert: StatementSync;
  readonly #selectServer: StatementSync;
  readonly #updateServer: StatementSync;
  readonly #selectLatest: StatementSync;
  readonly #updateLatest: StatementSync;
  readonly #insertRun: StatementSync;

  /** @param parts The store's database, type table and rules. */
  constructor(parts: SyncedWriterParts) {
    this.#p = parts;
    const db = parts.db;
    this.#insert = db.prepare(
      `INSERT INTO events (seq, server, session, instance, type_id, t,
         source_t, payload_kind, payload_type, payload_data, partitions)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#selectServer = db.prepare(
      "SELECT session, instance, t FROM servers WHERE server = ?",
    );
    this.#updateServer = db.prepare(
      UPSERT_SERVER,
    );
    this.#selectLatest = db.prepare(
      `SELECT e.t, e.server, e.session, e.instance FROM event_types y
       JOIN events e ON e.seq = y.latest WHERE y.id = ?`,
    );
    this.#updateLatest = db.prepare(
      "UPDATE event_types SET latest = ? WHERE id = ?",
    );
    this.#insertRun = db.prepare(INSERT_RUN);
  }

  /**
   * Write `events` (inside the caller's transaction), skipping, as the
   * reference's LMDB backend does, one whose id is not after the last
   * stored id of its server or whose timestamp is before that server's
   * last, and one the storage conditions refuse (neither advances its
   * server's last id). Events of the store's own server id, and events
   * beyond the store's limits, are skipped too (logged).
   *
   * A written event becomes its type's latest unless that one is newer
   * (timestamp, then id) and the latest rules keep the type.
   *
   * @param events A peer's events, in id order.
   * @param lastSeq The store's last row sequence: rows written get the
   *   next ones.
   * @returns The events written, in order, and the last sequence used.
   * @throws {Error} When SQLite fails writing.
   */
  write(
    events: readonly Event[],
    lastSeq: number,
  ): { written: Event[]; lastSeq: number } {
    let seq = lastSeq;
    const p = this.#p;
    const lasts = new Map<number, ServerLast | null>();
    const touched = new Set<number>();
    const written: Event[] = [];
    // The stretch of one server's session and timestamp being written
    // (see _schema.ts).
    let run:
      | { first: number; server: number; session: number; t: Uint8Array }
      | null = null;
    for (const event of events) {
      const { server, session, instance } = event.id;
      if (server === p.serverId) {
        log.warn(
          `synced event ${server},${session},${instance} skipped: ` +
            "this server's own id",
        );
        continue;
      }
      let last = lasts.get(server);
      if (last === undefined) {
        last = (this.#selectServer.get(server) as ServerLast | undefined) ??
          null;
        lasts.set(server, last);
      }
      if (
        last !== null &&
        (session - last.session || instance - last.instance) <= 0
      ) continue;
      if (
        last !== null &&
        compareTimestamps(event.timestamp, timestampFromBytes(last.t)) < 0
      ) {
        log.warn(
          `synced event ${server},${session},${instance} skipped: ` +
            "timestamp before its server's last",
        );
        continue;
      }
      let payload;
      try {
        checkRegisterType(event.type, p.limits);
        payload = payloadColumns(event.payload);
        checkPayloadSize(payload, p.limits.maxPayloadBytes);
      } catch (e) {
        log.warn(
          `synced event ${server},${session},${instance} skipped: ` +
            (e as Error).message,
        );
        continue;
      }
      if (
        !p.conditions.empty && !p.conditions.matches(event.type, event.payload)
      ) {
        continue;
      }
      const typeId = p.types.ensure(event.type);
      const t = timestampToBytes(event.timestamp);
      const sourceT = event.sourceTimestamp == null
        ? null
        : timestampToBytes(event.sourceTimestamp);
      seq++;
      if (
        run !== null &&
        (run.server !== server || run.session !== session ||
          compareBytes(run.t, t) !== 0)
      ) {
        this.#insertRun.run(run.first, seq - 1, run.server, run.session, run.t);
        run = null;
      }
      run ??= { first: seq, server, session, t };
      this.#insert.run(
        seq,
        server,
        session,
        instance,
        typeId,
        t,
        sourceT,
        ...payload,
        p.partitions.mask(typeId, event.type, sourceT !== null),
      );
      if (p.latestRule.all || p.latestRule.keeps(event.type)) {
        const latest = this.#selectLatest.get(typeId) as
          | { t: Uint8Array; server: number; session: number; instance: number }
          | undefined;
        if (latest === undefined || !newer(latest, t, event)) {
          this.#updateLatest.run(seq, typeId);
        }
      }
      lasts.set(server, { session, instance, t });
      touched.add(server);
      written.push({ ...event, type: p.types.typeOf(typeId) });
    }
    if (run !== null) {
      this.#insertRun.run(run.first, seq, run.server, run.session, run.t);
    }
    for (const server of touched) {
      const last = lasts.get(server)!;
      this.#updateServer.run(server, last.session, last.instance, last.t);
    }
    return { written, lastSeq: seq };
  }
}

// Whether the stored latest comes after the event (timestamp, then id).
function newer(
  latest: { t: Uint8Array; server: number; session: number; instance: number },
  t: Uint8Array,
  event: Event,
): boolean {
  // Timestamp bytes compare in time order (big-endian, see _schema.ts).
  return (compareBytes(latest.t, t) || compareEventIds(latest, event.id)) > 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}
