/**
 * The options of an Event Server ({@linkcode EventServerOptions}, and
 * {@linkcode EventServerMonitorOptions} for a member of a Hat monitor
 * group), with their defaults.
 *
 * @module
 */

import type {
  Address,
  ChatterOptions,
  ListenTlsOptions,
} from "../common/chatter/mod.ts";
import type { Timestamp } from "../common/event/mod.ts";
import type { ListenOptions } from "../server.ts";
import type { StorageRules, Synchronous } from "../store/mod.ts";
import type { ModuleSpec } from "./module.ts";

/** Default of {@linkcode EventServerOptions.maxClientNameBytes}. */
export const DEFAULT_MAX_CLIENT_NAME_BYTES = 256;

/**
 * Options of {@linkcode startEventServer}. Every duration (`flushDelay`,
 * `initTimeout`, `pingDelay`, `pingTimeout`) is in milliseconds.
 *
 * Besides the fields below, it takes `initTimeout`, `initMaxFrameSize`,
 * `maxSubscriptions` and `maxNotifyBytes` of {@linkcode ListenOptions},
 * and `pingDelay`, `pingTimeout`, `receiveQueueSize`, `sendQueueSize`,
 * `sendQueueBytes` and `maxFrameSize` of {@linkcode ChatterOptions}, for
 * every connection.
 */
export interface EventServerOptions extends
  ChatterOptions,
  Pick<
    ListenOptions,
    "initTimeout" | "initMaxFrameSize" | "maxSubscriptions" | "maxNotifyBytes"
  > {
  /**
   * Database file (created if missing), or `":memory:"`. The file itself
   * is locked while the server runs: another server on it, through any
   * path (relative, symlink, hard link), is refused.
   */
  db: string;
  /** Host to listen on (default `"127.0.0.1"`). */
  hostname?: string;
  /** Port to listen on (default 23012; 0 picks a free port). */
  port?: number;
  /** Id of this server: `id.server` of every event it registers (default 1). */
  serverId?: number;
  /**
   * Token clients must present. As in the reference, a client that sends
   * a token different from this one (or any token when this is unset) is
   * refused with `"invalid client token"`; one that sends none is
   * accepted unless `requireToken` is set.
   */
  serverToken?: string | null;
  /** Also refuse clients that send no token (default false). */
  requireToken?: boolean;
  /** Listen with TLS. */
  tls?: ListenTlsOptions;
  /**
   * Milliseconds between the first registration after a commit and the
   * next commit (default 0: once per event-loop turn). Longer periods mean
   * fewer fsyncs and later persisted notifications and register responses.
   */
  flushDelay?: number;
  /** Durability of a commit (default `"full"`: survives power loss). */
  synchronous?: Synchronous;
  /** Cap on the events of one timeseries or server query result (default 4096). */
  maxResults?: number;
  /**
   * Cap on the bytes of one query result (default 16 MiB), latest queries
   * included: a result stops before the event that would cross it and
   * answers `moreFollows: true`. The server never sends a result larger
   * than it would itself receive: the cap is at most `maxFrameSize` less
   * 64 KiB for the message around the events.
   */
  maxResultBytes?: number;
  /**
   * Most UTF-8 bytes of a client's name (default
   * {@linkcode DEFAULT_MAX_CLIENT_NAME_BYTES}): the name becomes the
   * event type `event/<serverId>/eventer/<name>`, kept for good. A longer
   * one is refused at init with `client name longer than <n> bytes`.
   */
  maxClientNameBytes?: number;
  /**
   * Most segments of a registered event type (default 32); a request
   * beyond it, or beyond `maxEventTypeBytes` or `maxPayloadBytes`, is
   * answered failure and logged, and the connection goes on.
   */
  maxEventTypeSegments?: number;
  /** Most UTF-8 bytes of a registered event type (default 1 KiB). */
  maxEventTypeBytes?: number;
  /** Most bytes of a registered event's payload (default 1 MiB). */
  maxPayloadBytes?: number;
  /**
   * Sessions reserved durably at a time, so that no id notified before a
   * crash is given again after it (default 65,536; a crash skips at most
   * that many).
   */
  sessionBlock?: number;
  /**
   * Event types kept in memory (default 16,384); the others are read from
   * the database when needed, so memory does not grow with the number of
   * stored types.
   */
  eventTypeCacheSize?: number;
  /**
   * Commit registrations in a worker thread (default true): the server
   * goes on decoding, checking and answering while the previous commit is
   * written and synced, on a second core. An answer still means
   * committed. See `SqliteStoreOptions.writerThread`.
   */
  writerThread?: boolean;
  /**
   * Clock giving registration timestamps (default: the system clock, with
   * microsecond resolution).
   */
  now?: () => Timestamp;
  /**
   * Join a Hat monitor group (SPEC-monitor §5): register with the local
   * Hat Monitor Server and run the engine only while blessed. Without it
   * the server is active at once, alone.
   */
  monitor?: EventServerMonitorOptions;
  /**
   * Engine modules, in order: each event of a session is offered to them
   * in this order (see {@linkcode Module}). Without modules (the
   * default), registration goes straight to the store.
   */
  modules?: readonly ModuleSpec[];
  /**
   * Milliseconds a module's call (`process`, `onSessionStart`,
   * `onSessionStop`, `close`) may take before it counts a failure and
   * its output is dropped (default 1,000).
   */
  moduleTimeout?: number;
  /**
   * Failures in a row after which a module is disabled until the server
   * restarts (default 3; 0: never).
   */
  moduleMaxFailures?: number;
  /**
   * Most events of one session, modules' output included (default
   * 10,000): output past it is dropped, which bounds modules answering
   * each other for ever.
   */
  maxSessionEvents?: number;
  /**
   * Storage rules, the reference LMDB backend's `conditions`, `latest`
   * and `timeseries` (default: every event stored, every type with a
   * latest entry, one partition by timestamp and one by source
   * timestamp). An event its `conditions` refuse is still registered (it
   * has an id, is answered and notified) but not stored: no query answers
   * it and its type's latest event stays the previous one. Types outside
   * `latest.subscriptions` have no latest entry. A timeseries query reads
   * the first partition of its `orderBy` sharing a type with it; see
   * `SqliteStoreOptions.storage`.
   */
  storage?: StorageRules;
  /**
   * Shuts the server down gracefully when it aborts, as `close()` does.
   * Already aborted, `startEventServer` rejects with its reason without
   * opening the database or binding; aborted while starting, it rejects
   * with its reason once the server has stopped again.
   */
  signal?: AbortSignal;
}

/**
 * How an Event Server joins a Hat monitor group: the options of
 * {@linkcode EventServerOptions.monitor}.
 *
 * The server registers as component `name` of `group` with data
 * `{"server_id": ..., "eventer_server": {"host": ..., "port": ...},
 * "server_token": ...}` (the listening address, as the reference
 * publishes it), sets itself ready, and starts `standby`. While the
 * monitor blesses it, its engine runs: status `starting`, the engine's
 * `STARTED` event, `operational`; when the blessing goes, `stopping`, the
 * `STOPPED` event, a commit, `standby`. Registrations are answered
 * `failure` while it is not operational; queries are always answered. The
 * server closes when its monitor connection closes (the reference's
 * process exits), or on MsgClose.
 *
 * The server also syncs with every other Event Server of the group
 * (SPEC-monitor §6), standby or active: it keeps one connection to each
 * (named `event/<name>`, with its `serverToken`; a peer whose published
 * token differs is not synced from when `serverToken` is set), copies the
 * events that peer created into its own store with their ids and
 * timestamps, and notifies them to its own clients like any others. Its
 * engine starts only while no connected peer reports a status other than
 * `standby`, so two servers of a pair are never operational at once. The
 * synced states (`CONNECTED`, `SYNCING`, `SYNCED`) are registered on the
 * peer as `event/<own id>/synced/<peer id>` and, while the engine runs,
 * here too. Hat components find the active server through the monitor
 * (`hat.event.component`, or `connectEventComponent` of
 * `@hat/eventer/monitor`).
 */
export interface EventServerMonitorOptions {
  /** The local Hat Monitor Server (Hat's default port is 23010). */
  addr: Address;
  /** The Event Servers' monitor group (BLESS_ONE in the monitor). */
  group: string;
  /**
   * Monitor component name (default `event-<serverId>`); sync
   * connections to the other Event Servers are named `event/<name>`.
   */
  name?: string;
  /**
   * Milliseconds before connecting again to a peer Event Server whose
   * sync connect failed (default 5,000, as the reference's); a sync
   * connection that ends is reconnected at once.
   */
  syncReconnectDelay?: number;
}
