/**
 * Sync between Event Servers: one connection to a peer Event Server of
 * the same monitor group, copying the events that peer created into this
 * server's store, as the reference's `hat.event.server.eventer_client`
 * does (the order of its steps is the contract: see the cluster spec,
 * section 6).
 *
 * The client connects as `event/<own name>` with the peer's server id,
 * subscriptions `[["*"]]` and `persisted`, so the peer notifies only
 * events it created, once committed. It then pages through the peer's
 * committed events after the last one the target holds (server queries
 * with `persisted` and `lastEventId`), writing whole sessions as they
 * come; then the notifications received meanwhile that are newer; then
 * every notification as it arrives. Each step of the way is a synced
 * state (`CONNECTED`, `SYNCING`, `SYNCED`) registered on the peer as
 * `event/<own id>/synced/<peer id>` and reported to `syncedCb`.
 *
 * @module
 */

import { Group, Resource } from "../common/async/mod.ts";
import type { Address } from "../common/chatter/mod.ts";
import {
  compareEventIds,
  type Event,
  type EventId,
  type RegisterEvent,
  type Status,
} from "../common/event/mod.ts";
import { type Client, connect, type ConnectOptions } from "../client.ts";
import { log } from "../common/log.ts";

/** How far a sync has come: the reference's `SyncedState`. */
export type SyncedState = "CONNECTED" | "SYNCING" | "SYNCED";

/** Where synced events go: this server's store, in practice. */
export interface SyncTarget {
  /**
   * The last event id the target holds of `serverId` (session and
   * instance 0 when none).
   */
  getLastEventId(serverId: number): EventId;
  /**
   * Store `events`, all of the peer, in id order, keeping their ids and
   * timestamps. Called one batch at a time, never concurrently.
   */
  write(events: Event[]): void | Promise<void>;
}

/** Options of {@linkcode startSync}. */
export interface SyncOptions
  extends Omit<ConnectOptions, "subscriptions" | "serverId" | "persisted"> {
  /** This server's name: the client is named `event/<name>`. */
  name: string;
  /** This server's id. */
  serverId: number;
  /** The peer's server id. */
  peerServerId: number;
  /** Where the peer's events go. */
  target: SyncTarget;
  /** Called with each synced state and, for `SYNCED`, the events synced. */
  syncedCb?: (state: SyncedState, count: number | null) => unknown;
  /** Called with the peer's status, first at init, then on each change. */
  peerStatusCb?: (status: Status) => unknown;
  /**
   * Notification batches held while the first sync runs (default 1024);
   * past it the sync client closes, to start again from the store's last
   * id: nothing is lost, and memory stays bounded.
   */
  maxQueuedBatches?: number;
}

const DEFAULT_MAX_QUEUED_BATCHES = 1024;

/**
 * Connect to a peer Event Server at `addr` and sync from it until the
 * connection ends (then the client closes; reconnecting is the caller's
 * rule).
 *
 * @param addr The peer's Eventer address.
 * @param options Own and peer identity, the target, callbacks.
 * @returns The running sync client.
 * @throws What {@linkcode connect} throws.
 */
export async function startSync(
  addr: Address,
  options: SyncOptions,
): Promise<SyncClient> {
  const sync = new SyncClient(options);
  await sync._connect(addr);
  return sync;
}

/** A sync connection to one peer; see {@linkcode startSync}. */
export class SyncClient extends Resource {
  readonly #options: SyncOptions;
  readonly #group = new Group();
  #client: Client | null = null;
  #synced: SyncedState | null = null;
  #count = 0;
  // Notification batches received before the first sync ended; null after.
  #queued: Event[][] | null = [];
  readonly #maxQueued: number;

  /** @ignore Made by {@linkcode startSync}. */
  constructor(options: SyncOptions) {
    super();
    this.#options = options;
    this.#maxQueued = options.maxQueuedBatches ?? DEFAULT_MAX_QUEUED_BATCHES;
  }

  /** The client's group: closing it ends the sync. */
  get group(): Group {
    return this.#group;
  }

  /** How far the sync has come (null before it starts). */
  get synced(): SyncedState | null {
    return this.#synced;
  }

  /** Events copied by the first sync (before notifications took over). */
  get count(): number {
    return this.#count;
  }

  /** The peer's status, as it last reported it. */
  get peerStatus(): Status {
    return this.#client?.status ?? "standby";
  }

  /** @ignore */
  async _connect(addr: Address): Promise<void> {
    const o = this.#options;
    const client = await connect(addr, `event/${o.name}`, {
      ...o,
      subscriptions: [["*"]],
      serverId: o.peerServerId,
      persisted: true,
      // The peer's payload texts are stored and served as they are.
      keepJsonText: true,
      statusCb: (_c, status) => this.#onStatus(status),
      eventsCb: (_c, events) => this.#onEvents(events),
      // Closing the sync client, or the caller's signal, aborts connecting.
      signal: o.signal
        ? AbortSignal.any([o.signal, this.#group.signal])
        : this.#group.signal,
    });
    this.#client = client;
    client.group.waitClosing().then(() => this.close());
    this.#group.waitClosing().then(() => client.close());
    o.peerStatusCb?.(client.status);
    this.#group.spawn(() => this.#synchronize());
  }

  #onStatus(status: Status): void {
    if (status === "operational" && this.#synced !== null) {
      // The peer became operational: tell its engine where this sync is
      // (a standby peer dropped the earlier states).
      this.#registerOnPeer(
        this.#synced,
        this.#synced === "SYNCED" ? null : undefined,
      );
    }
    this.#options.peerStatusCb?.(status);
  }

  // The client calls it one batch at a time, in order.
  async #onEvents(events: Event[]): Promise<void> {
    if (!this.#group.isOpen) return;
    if (this.#queued) {
      if (this.#queued.length >= this.#maxQueued) {
        log.warn(
          `sync from server ${this.#options.peerServerId}: more than ` +
            `${this.#queued.length} notifications during the first sync; ` +
            "starting again",
        );
        this.close();
        return;
      }
      this.#queued.push(events);
      return;
    }
    await this.#write(events);
  }

  // A write that fails ends the sync: the next one starts from what the
  // target holds. Once closing, nothing more is written: the sync may
  // have been closed because the target lost events (a failed commit),
  // and newer ones written after them would leave a hole the next sync
  // cannot see.
  async #write(events: Event[]): Promise<void> {
    if (!this.#group.isOpen) throw new Error("the sync is closed");
    try {
      await this.#options.target.write(events);
    } catch (e) {
      log.error(
        `sync from server ${this.#options.peerServerId}: cannot store ` +
          `${events.length} events: ${(e as Error).message}`,
      );
      this.close();
      throw e;
    }
  }

  async #synchronize(): Promise<void> {
    const o = this.#options;
    const client = this.#client!;
    try {
      let last = o.target.getLastEventId(o.peerServerId);
      await this.#setSynced("CONNECTED", null);
      let pending: Event[] = [];
      for (let more = true; more;) {
        const result = await client.query({
          kind: "server",
          serverId: o.peerServerId,
          persisted: true,
          lastEventId: last,
        });
        more = result.moreFollows;
        if (result.events.length === 0) continue;
        if (this.#count === 0) await this.#setSynced("SYNCING", null);
        this.#count += result.events.length;
        pending = pending.concat(result.events);
        last = pending[pending.length - 1].id;
        // Whole sessions go to the store; the newest may go on.
        const lastSession = last.session;
        let cut = pending.length;
        while (cut > 0 && pending[cut - 1].id.session === lastSession) cut--;
        if (cut > 0) {
          await this.#write(pending.slice(0, cut));
          pending = pending.slice(cut);
        }
      }
      if (pending.length > 0) await this.#write(pending);
      // Notifications received meanwhile, newer than the query's last;
      // more may arrive while these are written. Once the queue is found
      // empty, notifications are written as they come.
      const queued = this.#queued!;
      for (let batch; (batch = queued.shift());) {
        const newer = batch.filter((e) => compareEventIds(e.id, last) > 0);
        if (newer.length > 0) await this.#write(newer);
      }
      this.#queued = null;
      await this.#setSynced("SYNCED", this.#count);
    } catch (e) {
      if (this.#group.isOpen && client.isOpen) {
        log.error(
          `sync from server ${o.peerServerId} failed: ${(e as Error).message}`,
        );
      }
      this.close();
    }
  }

  async #setSynced(state: SyncedState, count: number | null): Promise<void> {
    this.#synced = state;
    this.#registerOnPeer(state, state === "SYNCED" ? count : undefined);
    await this.#options.syncedCb?.(state, count);
  }

  // No response asked: a standby peer drops it.
  #registerOnPeer(state: SyncedState, count: number | null | undefined) {
    const o = this.#options;
    const event: RegisterEvent = {
      type: ["event", String(o.serverId), "synced", String(o.peerServerId)],
      payload: {
        kind: "json",
        data: count === undefined ? { state } : { state, count },
      },
    };
    this.#client?.register([event]).catch(() => {});
  }
}
