/**
 * The Event Server's side of sync in a monitor group (SPEC-monitor 6.1):
 * on every monitor state, the other Event Servers of the group are the
 * candidates, and each gets a loop of sync connections
 * ({@linkcode startSync}) copying its events into this server's store,
 * as the reference's `hat.event.server.eventer_client_runner` does. The
 * peers' statuses tell whether another server of the group is active:
 * while one is, this server's engine must not start (5.2 behaviour 4a).
 *
 * @module
 */

import { Group, Resource, sleep } from "../common/async/mod.ts";
import type { ConnectOptions } from "../client.ts";
import type { Status } from "../common/event/mod.ts";
import { log } from "../common/log.ts";
import type { State } from "../monitor/mod.ts";
import { type ServerData, serverDataOf } from "../monitor/event_component.ts";
import {
  startSync,
  type SyncClient,
  type SyncedState,
  type SyncTarget,
} from "./_sync_client.ts";

/** Default of {@linkcode SyncRunnerOptions.reconnectDelay}, as the reference's. */
export const DEFAULT_SYNC_RECONNECT_DELAY = 5000;

/** Options of {@linkcode SyncRunner}. */
export interface SyncRunnerOptions
  extends Pick<ConnectOptions, "pingDelay" | "pingTimeout" | "connectTimeout"> {
  /** This server's name (the sync clients are named `event/<name>`). */
  name: string;
  /** This server's id. */
  serverId: number;
  /** The Event Servers' monitor group. */
  group: string;
  /**
   * This server's token: sent to peers, and when set, only peers with
   * the same token are synced from.
   */
  serverToken: string | null;
  /** Where the peers' events go. */
  target: SyncTarget;
  /**
   * Milliseconds to wait after a failed connect before trying the same
   * peer again, and the least time between two
   * {@linkcode SyncRunner.restart}s of a peer's sync (default
   * {@linkcode DEFAULT_SYNC_RECONNECT_DELAY}).
   */
  reconnectDelay?: number;
  /** Called with each synced state of a peer's sync. */
  syncedCb?: (
    peerServerId: number,
    state: SyncedState,
    count: number | null,
  ) => unknown;
  /** Called when "remote active" changes. */
  remoteActiveCb?: (remoteActive: boolean) => unknown;
}

const keyOf = (d: ServerData) =>
  `${d.serverId}@${d.addr.hostname}:${d.addr.port}`;

/** The loops of sync connections to the other Event Servers of a group. */
export class SyncRunner extends Resource {
  readonly #options: SyncRunnerOptions;
  readonly #group = new Group();
  // The latest candidates, and the loops running (by key).
  #candidates = new Map<string, ServerData>();
  readonly #looping = new Set<string>();
  // Peers connected whose status is not standby.
  readonly #active = new Set<string>();
  #remoteActive = false;
  #changed: PromiseWithResolvers<void> | null = null;
  // The sync connection of each loop while connected, and the keys whose
  // connection restart() closed (by key).
  readonly #clients = new Map<string, { serverId: number; sync: SyncClient }>();
  readonly #restarting = new Set<string>();

  /** @param options Own identity, the target, callbacks. */
  constructor(options: SyncRunnerOptions) {
    super();
    this.#options = options;
  }

  /** The runner's group: closing it closes every sync connection. */
  get group(): Group {
    return this.#group;
  }

  /** True while a connected peer reports a status other than standby. */
  get remoteActive(): boolean {
    return this.#remoteActive;
  }

  /**
   * Resolves once no connected peer is active (at once when none is), or
   * when `signal` aborts.
   */
  async waitNotRemoteActive(signal: AbortSignal): Promise<void> {
    while (this.#remoteActive && !signal.aborted && this.#group.isOpen) {
      const changed = (this.#changed ??= Promise.withResolvers()).promise;
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          resolve();
        };
        signal.addEventListener("abort", done, { once: true });
        changed.then(done);
        this.#group.waitClosing().then(done);
      });
    }
  }

  /**
   * A new monitor state: the candidates are the other components of the
   * group with valid Event Server data (and this server's token, when it
   * has one); a loop starts for each one not looping yet.
   */
  setState(state: State): void {
    if (!this.#group.isOpen) return;
    const o = this.#options;
    const candidates = new Map<string, ServerData>();
    for (const info of state.components) {
      if (info.group !== o.group) continue;
      if (
        state.info !== null && info.cid === state.info.cid &&
        info.mid === state.info.mid
      ) continue;
      const data = serverDataOf(info, o.serverToken);
      if (data === null || data.serverId === o.serverId) continue;
      candidates.set(keyOf(data), data);
    }
    this.#candidates = candidates;
    for (const [key, data] of candidates) {
      if (this.#looping.has(key)) continue;
      this.#looping.add(key);
      this.#group.spawn((signal) => this.#loop(key, data, signal));
    }
  }

  /**
   * Close the sync connections to the peers `peerServerIds` now, so that
   * each is made again at once and syncs from the last event the target
   * holds: events written by the old one may be lost (a failed commit),
   * and notifications only ever bring newer ones. A peer restarted less
   * than `reconnectDelay` ago is connected again once that much time has
   * passed, so a disk that stays full does not make the peer serve a
   * sync in a loop.
   *
   * @param peerServerIds The peers' server ids.
   * @param reason Why, for the log.
   */
  restart(peerServerIds: ReadonlySet<number>, reason: string): void {
    const restarted: number[] = [];
    for (const [key, { serverId, sync }] of this.#clients) {
      if (!peerServerIds.has(serverId)) continue;
      this.#restarting.add(key);
      sync.close();
      restarted.push(serverId);
    }
    if (restarted.length === 0) return;
    log.warn(
      `sync: ${reason}: syncing again from server ${restarted.join(", ")}`,
    );
  }

  // Connect, sync until the connection ends, and again while the peer is
  // a candidate; a failed connect waits reconnectDelay first. (As the
  // reference, the candidates are looked at between attempts only.)
  async #loop(key: string, data: ServerData, signal: AbortSignal) {
    const o = this.#options;
    const delay = o.reconnectDelay ?? DEFAULT_SYNC_RECONNECT_DELAY;
    let restarted = false;
    let restartedAt = -Infinity;
    try {
      while (!signal.aborted && this.#candidates.has(key)) {
        if (restarted) {
          // A restart keeps the peer's last status until the new
          // connection tells it: the peer is as alive as before, and
          // "not active" for a moment could let this server's engine
          // start (blessed) beside an active peer (SPEC-monitor 5.2
          // behaviour 4a). A lost connection or a failed connect, as
          // before, says nothing of the peer: not active.
          const wait = restartedAt + delay - Date.now();
          if (wait > 0) await sleep(wait, signal);
          restartedAt = Date.now();
          restarted = false;
          if (signal.aborted || !this.#candidates.has(key)) break;
        } else {
          this.#setStatus(key, null);
        }
        let sync;
        try {
          sync = await startSync(data.addr, {
            pingDelay: o.pingDelay,
            pingTimeout: o.pingTimeout,
            connectTimeout: o.connectTimeout,
            name: o.name,
            serverId: o.serverId,
            peerServerId: data.serverId,
            clientToken: o.serverToken,
            target: o.target,
            syncedCb: (state, count) =>
              o.syncedCb?.(data.serverId, state, count),
            peerStatusCb: (status) => this.#setStatus(key, status),
            // Closing the runner aborts a connect in flight.
            signal,
          });
        } catch (e) {
          if (signal.aborted) break;
          this.#setStatus(key, null);
          log.warn(
            `sync: cannot connect to server ${data.serverId} at ` +
              `${data.addr.hostname}:${data.addr.port}: ${
                (e as Error).message
              }`,
          );
          await sleep(delay, signal);
          continue;
        }
        const stop = () => sync.close();
        // The runner may have closed while the connect completed: an abort
        // listener added now would never run, and the sync would go on.
        if (signal.aborted) stop();
        else signal.addEventListener("abort", stop, { once: true });
        this.#clients.set(key, { serverId: data.serverId, sync });
        try {
          await sync.waitClosing();
        } finally {
          signal.removeEventListener("abort", stop);
          this.#clients.delete(key);
          restarted = this.#restarting.delete(key);
          await sync.asyncClose();
        }
      }
    } finally {
      this.#looping.delete(key);
      this.#setStatus(key, null);
    }
  }

  #setStatus(key: string, status: Status | null): void {
    if (status === null || status === "standby") this.#active.delete(key);
    else this.#active.add(key);
    const remoteActive = this.#active.size > 0;
    if (remoteActive === this.#remoteActive) return;
    this.#remoteActive = remoteActive;
    log.debug(`sync: remote active ${remoteActive}`);
    this.#changed?.resolve();
    this.#changed = null;
    this.#options.remoteActiveCb?.(remoteActive);
  }
}
