/**
 * A runnable Event Server: the Eventer server of `server.ts` backed by an
 * event store (the embedded SQLite one), doing for its clients what the
 * reference's (hat-event 0.9) Event Server with an LMDB backend does:
 * engine modules, storage rules and retention, and, in a Hat monitor
 * group, activity while blessed and sync with the other Event Servers.
 *
 * @module
 */

import { clearImmediate, setImmediate } from "node:timers";
import {
  type Address,
  checkChatterOptions,
  DEFAULT_MAX_FRAME_SIZE,
} from "../common/chatter/mod.ts";
import {
  checkDuration,
  Group,
  Resource,
  timerDelay,
} from "../common/async/mod.ts";
import { EventerError, type EventerErrorOptions } from "../common/errors.ts";
import { log } from "../common/log.ts";
import type {
  Event,
  QueryParams,
  QueryResult,
  RegisterEvent,
  Status,
} from "../common/event/mod.ts";
import { DEFAULT_PORT } from "../common/eventer/mod.ts";
import { type ConnectionInfo, listen, type Server } from "../server.ts";
import {
  checkStorageRules,
  DatabaseInUseError,
  DEFAULT_MAX_RESULT_BYTES,
  type EventStore,
  SqliteStore,
} from "../store/mod.ts";
import { type Component, connectComponent } from "../monitor/mod.ts";
import type { JsonValue } from "../common/json/mod.ts";
import { SyncRunner } from "./_sync_runner.ts";
import type { SyncedState } from "./_sync_client.ts";
import { QueryTurns } from "./_query_turns.ts";
import { runCleanup } from "./_cleanup.ts";
import {
  DEFAULT_MAX_CLIENT_NAME_BYTES,
  type EventServerMonitorOptions,
  type EventServerOptions,
} from "./options.ts";
import { Engine, ENGINE_SOURCE } from "./engine.ts";
import type { ModuleSpec, Source } from "./module.ts";

const SHUTDOWN_GRACE_MS = 50;

// Long queries under way at once; more wait (see QueryTurns).
const MAX_LONG_QUERIES = 2;

// In a monitor group, an event loop that stood still longer than
// STALL_MS (the process frozen, swapped out, stuck on its disk) may have
// been replaced: the monitor blesses another server once its pings go
// unanswered. Registrations are then refused for STALL_GRACE_MS, while
// what arrived meanwhile is read: the monitor's closed connection or new
// state among it. A tick every STALL_TICK_MS notices the stall too.
const STALL_MS = 2000;
const STALL_GRACE_MS = 500;
const STALL_TICK_MS = 250;

export {
  DEFAULT_MAX_CLIENT_NAME_BYTES,
  type EventServerMonitorOptions,
  type EventServerOptions,
};

// Room for what a query result's frame holds besides its events.
const RESULT_ENVELOPE = 64 * 1024;

/**
 * Start an Event Server: open (or create) the database, listen, register
 * the engine's `STARTED` event and become `"operational"` (with
 * `monitor`, join the monitor group and do so only once blessed).
 *
 * Register requests get ids (this server's id, a new session per request,
 * instances from 1) and the registration timestamp. Subscribers that did
 * not ask for persisted events are notified at once; the events are then
 * committed together with every other request of the same event-loop turn
 * (group commit), after which persisted subscribers are notified and
 * register requests that wanted a response are answered: a response means
 * the events are on disk.
 *
 * @param options Database, address, server id, token and tuning.
 * @returns The running server; close it to shut down gracefully.
 * @throws {EventServerError} When the database is in use by another
 *   server, through whatever path (code `DATABASE_IN_USE`), or cannot be
 *   opened (`STORE`), or the address cannot be bound (`ADDRESS_IN_USE`,
 *   `LISTEN_FAILED`, `TLS` for a certificate or key it cannot use).
 * @throws {TypeError} For a duration that is not a finite number of
 *   milliseconds >= 0, or invalid storage rules, naming the field (before
 *   anything is opened).
 * @throws The reason of `options.signal`, when it aborted before the
 *   server was running.
 * @throws {EventServerError} With `monitor`, when the Monitor Server
 *   cannot be reached (the code of the connection's error, e.g.
 *   `CONNECTION_REFUSED`).
 *
 * @example
 * ```ts
 * import { startEventServer } from "@hat/eventer/event-server";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using server = await startEventServer({
 *     db: `${dir}/hat-event.db`, // created if missing
 *     hostname: "127.0.0.1",
 *     port: 0, // a free port (the default is 23012)
 *     serverId: 1,
 *   });
 *   console.log(server.addresses[0], server.status); // { hostname: "127.0.0.1", port: ... } operational
 * } // closed here: status "stopping", the engine's STOPPED event, a last commit
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function startEventServer(
  options: EventServerOptions,
): Promise<EventServer> {
  checkDuration("flushDelay", options.flushDelay);
  checkDuration("initTimeout", options.initTimeout);
  checkDuration("moduleTimeout", options.moduleTimeout);
  checkChatterOptions(options);
  checkStorageRules(options.storage);
  const signal = options.signal;
  signal?.throwIfAborted();
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? DEFAULT_PORT;
  const serverId = options.serverId ?? 1;
  let store: EventStore;
  try {
    store = SqliteStore.open({
      path: options.db,
      serverId,
      synchronous: options.synchronous,
      maxResults: options.maxResults,
      maxResultBytes: Math.max(
        1,
        Math.min(
          options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES,
          (options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE) - RESULT_ENVELOPE,
        ),
      ),
      now: options.now,
      sessionBlock: options.sessionBlock,
      maxEventTypeSegments: options.maxEventTypeSegments,
      maxEventTypeBytes: options.maxEventTypeBytes,
      maxPayloadBytes: options.maxPayloadBytes,
      eventTypeCacheSize: options.eventTypeCacheSize,
      writerThread: options.writerThread ?? true,
      storage: options.storage,
    });
  } catch (e) {
    throw new EventServerError(
      e instanceof DatabaseInUseError
        ? `database ${options.db} is in use by another event server: stop ` +
          "it, or give this one another database"
        : `cannot open database ${options.db}: ${(e as Error).message}`,
      {
        code: e instanceof DatabaseInUseError ? "DATABASE_IN_USE" : "STORE",
        cause: e,
      },
    );
  }
  const server = await startServer(store, options, { hostname, port });
  if (signal) {
    if (signal.aborted) {
      await server.asyncClose();
      throw signal.reason;
    }
    signal.addEventListener("abort", () => server.close(), {
      once: true,
      signal: server.group.signal,
    });
  }
  return server;
}

/**
 * The Event Server could not start; `code` says why: `ADDRESS_IN_USE`,
 * `LISTEN_FAILED` or `TLS` (binding), `DATABASE_IN_USE` or `STORE` (the
 * database), `MODULE` (an engine module could not be created).
 */
export class EventServerError extends EventerError {
  /**
   * Creates the error.
   *
   * @param message What failed, in one line.
   * @param options The code (by default the cause's, when it has one,
   * else `STORE`) and `cause`.
   */
  constructor(message: string, options?: EventerErrorOptions) {
    super(message, {
      ...options,
      code: options?.code ??
        (options?.cause instanceof EventerError ? options.cause.code : "STORE"),
    });
    this.name = "EventServerError";
  }
}

// EventServer's constructor and start, private to this module: servers
// come from startEventServer. Closes the store if the server fails to
// start.
let startServer: (
  store: EventStore,
  options: EventServerOptions,
  addr: Address,
) => Promise<EventServer>;

/** A running Event Server. Create with {@linkcode startEventServer}. */
export class EventServer extends Resource {
  /** Id of this server. */
  readonly serverId: number;

  readonly #group = new Group();
  readonly #store: EventStore;
  readonly #options: EventServerOptions;
  #srv: Server | null = null;
  // Registrations are accepted only while operational, as the reference's
  // engine: before it starts and once it stops they fail.
  #engineOpen = false;
  // The monitor component, when the server is in a monitor group.
  #component: Component | null = null;
  // Sync with the group's other Event Servers, in a monitor group.
  #sync: SyncRunner | null = null;
  // Status changes of the engine, one after the other.
  #engineSteps: Promise<void> = Promise.resolve();
  #cancelFlush: (() => void) | null = null;
  // Requests awaiting their commit, by session.
  #commitWaiters = new Map<number, (committed: boolean) => void>();
  readonly #queryTurns = new QueryTurns(MAX_LONG_QUERIES);
  // Present only with modules: registration then goes through it.
  #engine: Engine | null = null;
  // In a monitor group: the last tick, and until when registrations are
  // refused after a stall (performance.now() milliseconds).
  #tick = 0;
  #refuseUntil = 0;

  /** @ignore Made by {@linkcode startEventServer}. */
  private constructor(store: EventStore, options: EventServerOptions) {
    super();
    this.serverId = store.serverId;
    this.#store = store;
    this.#options = options;
  }

  static {
    startServer = async (store, options, addr) => {
      const server = new EventServer(store, options);
      try {
        await server.#start(addr);
      } catch (e) {
        await server.#abort();
        throw e;
      }
      return server;
    };
  }

  async #start(addr: Address): Promise<void> {
    const o = this.#options;
    let srv: Server;
    try {
      srv = await this.#listen(addr, o);
    } catch (e) {
      // listen's own message names the address and says what to do.
      throw new EventServerError(
        e instanceof EventerError
          ? e.message
          : `cannot listen on ${addr.hostname}:${addr.port}: ${
            e instanceof Error ? e.message : String(e)
          }`,
        {
          code: e instanceof EventerError ? e.code : "LISTEN_FAILED",
          cause: e,
        },
      );
    }
    this.#srv = srv;
    // The server closes with the Eventer server too, e.g. if it fails.
    srv.waitClosing().then(() => this.close());
    this.#group.spawn(async (signal) => {
      await new Promise((resolve) =>
        signal.addEventListener("abort", resolve, { once: true })
      );
      await this.#shutdown();
    });
    const period = this.#store.cleanupPeriod;
    if (period != null && this.#store.cleanup !== undefined) {
      this.#group.spawn((signal) => runCleanup(this.#store, period, signal));
    }
    const monitor = o.monitor;
    if (!monitor) {
      await this.#startEngine();
      return;
    }
    this.#tick = performance.now();
    const ticker = setInterval(() => {
      this.#stalled();
      this.#tick = performance.now();
    }, STALL_TICK_MS);
    this.#group.signal.addEventListener(
      "abort",
      () => clearInterval(ticker),
      { once: true },
    );
    const { hostname, port } = srv.addresses[0];
    const name = monitor.name ?? `event-${this.serverId}`;
    const sync = new SyncRunner({
      name,
      serverId: this.serverId,
      group: monitor.group,
      serverToken: o.serverToken ?? null,
      reconnectDelay: monitor.syncReconnectDelay,
      pingDelay: o.pingDelay,
      pingTimeout: o.pingTimeout,
      target: {
        getLastEventId: (serverId) => this.#store.getLastEventId(serverId),
        write: (events) => this.#writeSynced(events),
      },
      syncedCb: (peer, state, count) => this.#synced(peer, state, count),
    });
    this.#sync = sync;
    let component: Component;
    try {
      component = await connectComponent(
        monitor.addr,
        name,
        monitor.group,
        () => this.#engineRunner(),
        {
          stateCb: (_c, state) => sync.setState(state),
          data: {
            server_id: this.serverId,
            eventer_server: { host: hostname, port },
            server_token: o.serverToken ?? null,
          },
          pingDelay: o.pingDelay,
          pingTimeout: o.pingTimeout,
        },
      );
    } catch (e) {
      const { hostname: mh, port: mp } = monitor.addr;
      throw new EventServerError(
        `cannot join the Hat Monitor Server at ${mh}:${mp}: ${
          e instanceof Error ? e.message : String(e)
        }`,
        { cause: e },
      );
    }
    this.#component = component;
    // Out of the monitor group, the server ends (5.2 behaviour 7).
    component.waitClosing().then(() => this.close());
    await component.setReady(true);
  }

  async #startEngine(): Promise<void> {
    const srv = this.#srv!;
    await srv.setStatus("starting");
    this.#engineOpen = true;
    const modules = this.#options.modules;
    if (modules && modules.length > 0) {
      await this.#createEngine(modules);
    } else {
      await this.#registerOwn(["engine"], "STARTED");
    }
    await srv.setStatus("operational");
  }

  async #stopEngine(): Promise<void> {
    const srv = this.#srv!;
    await srv.setStatus("stopping");
    await this.#engine?.drain();
    await this.#registerOwn(["engine"], "STOPPED");
    this.#engineOpen = false;
    await this.#flush();
    // The modules are created anew at the next start, as the reference's.
    const engine = this.#engine;
    this.#engine = null;
    await engine?.closeModules();
    await srv.setStatus("standby");
  }

  #engineStep(step: () => Promise<void>): Promise<void> {
    this.#engineSteps = this.#engineSteps.catch(() => {}).then(step);
    return this.#engineSteps;
  }

  // The monitor component's runner: the engine, while blessed. Start and
  // stop run one after the other, so a blessing lost while starting
  // stops the engine once started.
  #engineRunner(): Group {
    const runner = new Group();
    runner.spawn(async (signal) => {
      // Never two operational servers: wait while a synced peer is not
      // standby (SPEC-monitor 5.2 behaviour 4a).
      await this.#sync?.waitNotRemoteActive(signal);
      if (signal.aborted) return;
      await this.#engineStep(() => this.#startEngine());
      await new Promise((resolve) => {
        if (signal.aborted) resolve(undefined);
        signal.addEventListener("abort", resolve, { once: true });
      });
      await this.#engineStep(() => this.#stopEngine());
    });
    return runner;
  }

  // As the reference: the STARTED session is queued before the modules
  // are created, so that it is the first they process.
  async #createEngine(modules: readonly ModuleSpec[]): Promise<void> {
    const engine = new Engine(this.#store, {
      registered: (events) => this.#registered(events),
      committed: (session) => this.#committed(session),
      clientNames: () =>
        this.getConnInfos().map((
          info,
        ) => [{ type: "eventer", id: info.id }, info.clientName]),
      // As a client's, a long query a step at a time (-1: no connection).
      query: (params) =>
        this.#queryTurns.run(this.#store.startQuery(params), -1),
    }, this.#options);
    this.#engine = engine;
    const started = this.#registerOwn(["engine"], "STARTED", ENGINE_SOURCE);
    try {
      await engine.createModules(modules);
    } catch (e) {
      throw new EventServerError((e as Error).message, {
        code: "MODULE",
        cause: e,
      });
    } finally {
      engine.start();
    }
    await started;
  }

  #listen(addr: Address, o: EventServerOptions): Promise<Server> {
    return listen(addr, {
      pingDelay: o.pingDelay,
      pingTimeout: o.pingTimeout,
      receiveQueueSize: o.receiveQueueSize,
      sendQueueSize: o.sendQueueSize,
      sendQueueBytes: o.sendQueueBytes,
      maxFrameSize: o.maxFrameSize,
      initTimeout: o.initTimeout,
      initMaxFrameSize: o.initMaxFrameSize,
      maxSubscriptions: o.maxSubscriptions,
      maxNotifyBytes: o.maxNotifyBytes,
      tls: o.tls,
      status: o.monitor ? "standby" : "starting",
      // Payloads are stored and served as the text they arrived in.
      keepJsonText: true,
      // Registration is in call order and answers follow the commits: a
      // client's next requests are registered while the last commits.
      registerWindow: REGISTER_WINDOW,
      connectedCb: (info) => this.#connected(info),
      disconnectedCb: (info) => this.#disconnected(info),
      registerCb: (info, events, withResponse) =>
        this.#register(info, events, withResponse),
      queryCb: (info, params) => this.#query(info, params),
    });
  }

  // In a monitor group: true while registrations are refused after the
  // event loop stood still (see STALL_MS).
  #stalled(): boolean {
    if (!this.#options.monitor) return false;
    const now = performance.now();
    const still = now - this.#tick;
    if (still > STALL_MS) {
      this.#tick = now;
      this.#refuseUntil = now + STALL_GRACE_MS;
      log.warn(
        `event server: the event loop stood still for ${still.toFixed(0)} ` +
          `ms; registrations refused for ${STALL_GRACE_MS} ms, until the ` +
          "monitor's news is read",
      );
    }
    return now < this.#refuseUntil;
  }

  // Releases what startEventServer acquired.
  async #abort(): Promise<void> {
    await this.#sync?.asyncClose();
    if (this.#srv) await this.asyncClose();
    else this.#group.close();
    await this.#engine?.closeModules();
    this.#closeStore();
  }

  /** The server's group; closing it shuts the server down gracefully. */
  get group(): Group {
    return this.#group;
  }

  /** Bound addresses (with the real port when 0 was asked for). */
  get addresses(): Address[] {
    return this.#srv?.addresses ?? [];
  }

  /** Current status, as notified to clients. */
  get status(): Status {
    return this.#srv?.status ?? "starting";
  }

  /** Infos of the connected clients. */
  getConnInfos(): ConnectionInfo[] {
    return this.#srv?.getConnInfos() ?? [];
  }

  async #connected(info: ConnectionInfo): Promise<void> {
    const maxName = this.#options.maxClientNameBytes ??
      DEFAULT_MAX_CLIENT_NAME_BYTES;
    if (
      info.clientName.length > maxName ||
      new TextEncoder().encode(info.clientName).length > maxName
    ) {
      log.warn(
        `client refused: name of ${info.clientName.length} characters ` +
          `longer than ${maxName} bytes`,
      );
      throw new Error(`client name longer than ${maxName} bytes`);
    }
    const token = this.#options.serverToken ?? null;
    if (
      (info.clientToken !== null && info.clientToken !== token) ||
      (info.clientToken === null && this.#options.requireToken)
    ) {
      log.debug(`client ${info.clientName} refused: invalid client token`);
      throw new Error("invalid client token");
    }
    log.debug(`client ${info.clientName} connected (connection ${info.id})`);
    await this.#registerOwn(
      ["eventer", info.clientName],
      "CONNECTED",
      { type: "eventer", id: info.id },
    );
  }

  async #disconnected(info: ConnectionInfo): Promise<void> {
    log.debug(`client ${info.clientName} disconnected (connection ${info.id})`);
    await this.#registerOwn(
      ["eventer", info.clientName],
      "DISCONNECTED",
      { type: "eventer", id: info.id },
    );
  }

  /**
   * `event/<serverId>/<...type>` with a JSON string payload, through the
   * modules when there are (and a source is given: `STOPPED` is not, as
   * in the reference). A failure (a client named `*`, say) is logged: it
   * must not refuse the client.
   */
  async #registerOwn(
    type: string[],
    status: JsonValue,
    source: Source | null = null,
  ): Promise<void> {
    if (!this.#engineOpen) return;
    const events: RegisterEvent[] = [{
      type: ["event", String(this.serverId), ...type],
      payload: { kind: "json", data: status },
    }];
    try {
      if (this.#engine !== null && source !== null) {
        await this.#engine.register(source, events, false);
      } else {
        await this.#registerEvents(events);
      }
    } catch (e) {
      log.warn(
        `cannot register ${type.join("/")} ${JSON.stringify(status)}: ${
          (e as Error).message
        }`,
      );
    }
  }

  async #register(
    info: ConnectionInfo,
    events: RegisterEvent[],
    withResponse: boolean,
  ): Promise<Event[] | null> {
    if (!this.#engineOpen || this.#stalled()) return null;
    // Other clients' queries yield sooner while this one is about.
    this.#queryTurns.note(info.id);
    if (this.#engine !== null) {
      return this.#engine.register(
        { type: "eventer", id: info.id },
        events,
        withResponse,
      );
    }
    let registered: Event[];
    try {
      registered = this.#store.register(events);
    } catch (e) {
      log.warn(
        `register request of ${info.clientName} failed: ${
          (e as Error).message
        }`,
      );
      return null;
    }
    if (registered.length === 0) return registered;
    // The response waits for the commit, so a client holding it knows the
    // events survive a crash. Without one nobody waits: the connection
    // goes on to its next request and the commit follows this turn.
    const committed = withResponse
      ? this.#committed(registered[0].id.session)
      : null;
    await this.#registered(registered);
    if (committed === null) return registered;
    return await committed ? registered : null;
  }

  // A peer's events, from its sync connection: stored as they are and
  // notified like any others (SPEC-monitor 5.3 behaviour 11).
  async #writeSynced(events: Event[]): Promise<void> {
    if (this.#store.closed) throw new Error("the event store is closed");
    let written;
    try {
      written = this.#store.writeSynced(events);
    } catch (e) {
      // The store may have lost what was pending, other peers' synced
      // events too: learn it now, before their syncs write newer ones.
      void this.#flush();
      throw e;
    }
    if (written.length > 0) await this.#registered(written);
  }

  // A peer's synced state, registered here too while the engine runs
  // (SPEC-monitor 6.4 rule 15).
  async #synced(
    peer: number,
    state: SyncedState,
    count: number | null,
  ): Promise<void> {
    log.debug(`sync from server ${peer}: ${state}`);
    await this.#registerOwn(
      ["synced", String(peer)],
      state === "SYNCED" ? { state, count } : { state },
      { type: "server", id: 0 },
    );
  }

  async #registerEvents(events: RegisterEvent[]): Promise<Event[]> {
    const registered = this.#store.register(events);
    if (registered.length > 0) await this.#registered(registered);
    return registered;
  }

  // Registered, not yet committed: non-persisted subscribers hear now.
  async #registered(registered: Event[]): Promise<void> {
    this.#scheduleFlush();
    await this.#srv?.notifyEvents(registered, false);
  }

  // A query is run a step at a time, each a bounded amount of store work;
  // once a turn's worth of steps ran, the event loop runs before the next
  // ones, so other clients are served meanwhile. A short query is
  // answered at once, without a promise.
  #query(
    info: ConnectionInfo,
    params: QueryParams,
  ): QueryResult | Promise<QueryResult> {
    this.#queryTurns.note(info.id);
    let result: QueryResult | Promise<QueryResult>;
    try {
      result = this.#queryTurns.run(this.#store.startQuery(params), info.id);
    } catch (e) {
      return queryFailed(params, e);
    }
    if (!(result instanceof Promise)) return result;
    return result.catch((e) => queryFailed(params, e));
  }

  // Set in the turn the request registered, so the flush reporting its
  // session cannot come first.
  #committed(session: number): Promise<boolean> {
    const waiter = Promise.withResolvers<boolean>();
    this.#commitWaiters.set(session, waiter.resolve);
    return waiter.promise;
  }

  // "Once per event-loop turn" is setImmediate: a 0 ms setTimeout costs
  // about 2 ms in Deno, which would bound a connection to some 500
  // acknowledged requests per second.
  #scheduleFlush(): void {
    if (this.#cancelFlush !== null || this.#store.closed) return;
    const delay = this.#options.flushDelay ?? 0;
    if (delay > 0) {
      const timer = setTimeout(() => this.#flush(), timerDelay(delay));
      this.#cancelFlush = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.#flush());
      this.#cancelFlush = () => clearImmediate(immediate);
    }
  }

  async #flush(): Promise<void> {
    this.#cancelFlush?.();
    this.#cancelFlush = null;
    if (this.#store.closed) return;
    const { committed, failed, error } = this.#store.flushAsync
      ? await this.#store.flushAsync()
      : this.#store.flush();
    if (failed.length > 0) {
      const lost = failed.reduce((n, events) => n + events.length, 0);
      log.error(
        `commit failed, ${lost} events of ${failed.length} requests lost: ${error?.message}`,
      );
      this.#resync(failed);
    }
    // One message per subscriber for the whole commit, in id order: one
    // per request would fill a subscriber's send queue with a big commit.
    // It is queued before the first await, so a flush running meanwhile
    // cannot interleave its notifications with these.
    const events = committed.flat();
    const notified = events.length > 0
      ? this.#srv?.notifyEvents(events, true)
      : undefined;
    this.#answer(committed, true);
    this.#answer(failed, false);
    await notified;
  }

  // Synced events lost by a failed commit are not in the store any more
  // (nor in getLastEventId), but their sync connections go on notifying
  // newer ones: restart those syncs, now, before they write another, so
  // that they ask the peers again from the last event stored.
  #resync(failed: Event[][]): void {
    if (this.#sync === null) return;
    const peers = new Set<number>();
    // A synced request is one batch of one peer's events.
    for (const events of failed) {
      const server = events[0]?.id.server;
      if (server !== undefined && server !== this.serverId) peers.add(server);
    }
    if (peers.size > 0) {
      this.#sync.restart(peers, "synced events lost by a failed commit");
    }
  }

  #answer(requests: Event[][], committed: boolean): void {
    for (const events of requests) {
      // A peer's synced events: nobody waits for them.
      if (events[0].id.server !== this.serverId) continue;
      const session = events[0].id.session;
      this.#commitWaiters.get(session)?.(committed);
      this.#commitWaiters.delete(session);
    }
  }

  // As the reference: stopping, the engine's last event, everything
  // committed and notified, standby, then clients disconnected.
  async #shutdown(): Promise<void> {
    const srv = this.#srv!;
    try {
      if (this.#options.monitor) {
        // Closing the component closes the engine's runner first.
        await this.#component?.asyncClose();
        await this.#sync?.asyncClose();
      } else {
        await this.#stopEngine();
      }
      // Closing a connection drops what it has not written yet: give the
      // last responses and notifications a moment to reach the socket.
      await new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS));
    } catch (e) {
      log.error("event server shutdown failed:", e);
    } finally {
      await srv.asyncClose();
      await this.#flush();
      await this.#engine?.closeModules();
      this.#closeStore();
    }
  }

  #closeStore(): void {
    this.#cancelFlush?.();
    this.#cancelFlush = null;
    if (this.#store.closed) return;
    try {
      this.#store.close();
    } catch (e) {
      log.error("closing the event store failed:", e);
    }
  }
}

/**
 * Register requests of one client registered while their answers wait for
 * the commit (see `ListenOptions.registerWindow`).
 */
const REGISTER_WINDOW = 4;

// The protocol has no error answer: the reference closes the connection;
// an empty result keeps the client usable.
function queryFailed(params: QueryParams, e: unknown): QueryResult {
  log.warn(`${params.kind} query failed: ${(e as Error).message}`);
  return { events: [], moreFollows: false };
}
