/**
 * Engine modules: code run inside the Event Server on every event of a
 * session, which may add events to that session, as the reference's
 * (hat-event 0.9) `hat.event.common.module`.
 *
 * A module file exports `info`, a {@linkcode ModuleInfo} whose `create`
 * gets the module's configuration, the {@linkcode Engine} and the module's
 * own {@linkcode Source}, and returns a {@linkcode Module}. For each
 * register request (a session) the engine calls every module's
 * `onSessionStart`, then `process` for each event its `subscription`
 * matches; what `process` returns is added to the same session and
 * processed in turn by the modules, until no module returns anything. The
 * whole session is then registered, notified and committed together.
 *
 * @example A module adding an alarm event to the session of every
 * measurement over a threshold
 * ```ts
 * import { Subscription } from "@hat/eventer";
 * import type { Module, ModuleInfo } from "@hat/eventer/event-server";
 *
 * export const info: ModuleInfo<{ threshold?: number }> = {
 *   create(conf): Module {
 *     const threshold = conf.threshold ?? 100;
 *     return {
 *       subscription: new Subscription([["measurement", "*"]]),
 *       process(_source, event) {
 *         const value = event.payload?.kind === "json"
 *           ? event.payload.data
 *           : null;
 *         if (typeof value !== "number" || value <= threshold) return;
 *         return [{
 *           type: ["alarm", ...event.type.slice(1)],
 *           payload: { kind: "json", data: { value, threshold } },
 *         }];
 *       },
 *     };
 *   },
 * };
 * ```
 *
 * @module
 */

import type {
  Event,
  QueryParams,
  QueryResult,
  RegisterEvent,
  Subscription,
} from "../common/event/mod.ts";

/**
 * Who registered an event, as the reference's `SourceType`: a client
 * connection (`eventer`, `id` the connection's id), a module (`module`,
 * `id` its index in the configuration), the engine itself (`engine`, for
 * its `STARTED` event) or the server (`server`).
 */
export type SourceType = "eventer" | "module" | "engine" | "server";

/** Source of a session's events, as the reference's `Source`. */
export interface Source {
  /** What kind of source. */
  readonly type: SourceType;
  /** Its id within its kind. */
  readonly id: number;
}

/**
 * The engine, as a module sees it (the reference's `Engine`).
 */
export interface Engine {
  /** Id of this server. */
  readonly serverId: number;

  /**
   * Register events as a new session of their own, processed by the
   * modules as a client's are, once the session under way (if any) is
   * done.
   *
   * Do not await it inside {@linkcode Module.process},
   * `onSessionStart` or `onSessionStop`: the new session waits for the
   * current one, so the call would wait for itself until the module's
   * time budget fails it (the reference deadlocks there). To add events
   * to the current session, return them from `process`.
   *
   * @param source Source of the events (usually the module's own).
   * @param events Events to register.
   * @returns The registered events (those given, not those the modules
   *   added), once committed; `null` when they were refused or the commit
   *   failed.
   */
  register(
    source: Source,
    events: readonly RegisterEvent[],
  ): Promise<Event[] | null>;

  /**
   * Run a query on the server's events, as a client's is run (a long one
   * a step at a time, other clients served in between). The events of
   * the session under way are not in it: they are registered once it
   * ends.
   *
   * @param params The query, as a client's.
   * @returns Its result.
   * @throws What the store throws for an invalid query (the promise
   *   rejects).
   */
  query(params: QueryParams): Promise<QueryResult>;

  /**
   * Names of the connected clients.
   *
   * @returns Each client's source and name.
   */
  getClientNames(): [Source, string][];
}

/**
 * What `process` may return: events to add to the session, or nothing.
 */
export type ProcessResult =
  | Iterable<RegisterEvent>
  | null
  | undefined
  | void;

/**
 * An engine module (the reference's `Module`). Every method may be
 * synchronous or return a promise; each call has the engine's time budget
 * (`moduleTimeout` of {@linkcode EventServerOptions}).
 */
export interface Module {
  /**
   * Event types the module processes; constant for the module's life.
   */
  readonly subscription: Subscription;

  /**
   * Called as a session starts, before any `process` of it.
   *
   * @param session The session's number (`id.session` of its events).
   */
  onSessionStart?(session: number): void | Promise<void>;

  /**
   * Called once every event of a session was processed, before it is
   * registered.
   *
   * @param session The session's number.
   */
  onSessionStop?(session: number): void | Promise<void>;

  /**
   * Process an event of the session that the subscription matches. Calls
   * of one module are sequential.
   *
   * @param source Who registered the event (a client, the engine, or the
   *   module that returned it).
   * @param event The event, with the id and timestamp it is registered
   *   with.
   * @returns Events to add to the session: they get the session's
   *   timestamp and the next instances, and this module as their source.
   */
  process(
    source: Source,
    event: Event,
  ): ProcessResult | Promise<ProcessResult>;

  /** Called once as the server stops, after the last session. */
  close?(): void | Promise<void>;
}

/**
 * A module's configuration: its entry in the configuration file's
 * `modules` (with `module`, the file it comes from), or what was given
 * with it to `startEventServer`. A module's own configuration type is
 * best declared with `type` (not `interface`), so that it is one of these
 * and its `info` is accepted by `startEventServer`.
 */
export type ModuleConf = { readonly [key: string]: unknown };

/**
 * Creates a module (the reference's `CreateModule`).
 *
 * @param conf The module's configuration.
 * @param engine The engine, to register and query with.
 * @param source The module's source: that of the events it returns.
 * @returns The module.
 */
export type CreateModule<C = ModuleConf> = (
  conf: C,
  engine: Engine,
  source: Source,
) => Module | Promise<Module>;

/**
 * What a module file exports as `info` (the reference's `ModuleInfo`).
 */
export interface ModuleInfo<C = ModuleConf> {
  /**
   * Creates the module, as a {@linkcode CreateModule}.
   *
   * @param conf The module's configuration.
   * @param engine The engine, to register and query with.
   * @param source The module's source: that of the events it returns.
   * @returns The module.
   */
  create(conf: C, engine: Engine, source: Source): Module | Promise<Module>;
}

/**
 * A module as `startEventServer` takes it: already created, a create
 * function (configuration `{}`), or a module file's `info` with its
 * configuration (default `{}`), which `info.create` gets as is.
 *
 * @example A module counting the events of a session, given as a create
 * function
 * ```ts
 * import { connect, Subscription } from "@hat/eventer";
 * import { startEventServer } from "@hat/eventer/event-server";
 *
 * await using server = await startEventServer({
 *   db: ":memory:",
 *   port: 0,
 *   modules: [(_conf, _engine, _source) => {
 *     let count = 0;
 *     return {
 *       subscription: new Subscription([["a", "*"]]),
 *       onSessionStart: () => void (count = 0),
 *       process: (_s, event) =>
 *         // Only the client's events: not the ones this module adds.
 *         event.type[1] === "count" ? [] : [{
 *           type: ["a", "count"],
 *           payload: { kind: "json", data: ++count },
 *         }],
 *     };
 *   }],
 * });
 * await using client = await connect(server.addresses[0], "example");
 * const events = await client.register([{ type: ["a", "b"] }], true);
 * // The response holds the client's events; the session also holds the
 * // module's a/count, instance 2, committed with them.
 * console.log(events?.[0].id.instance); // 1
 * ```
 */
export type ModuleSpec =
  | Module
  | CreateModule
  | { readonly info: ModuleInfo; readonly conf?: ModuleConf };
