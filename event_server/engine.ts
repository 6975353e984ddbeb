/**
 * The engine of an Event Server with modules: sessions built one at a
 * time, each event of a session offered to the modules whose subscription
 * matches it, what they return added to the session and offered in turn,
 * then the whole session registered at once (the reference's
 * `hat.event.server.engine`).
 *
 * Isolation of modules, which the reference does not have (there a module
 * that raises stops the engine, one that hangs stops registration): every
 * call of a module (`process`, `onSessionStart`, `onSessionStop`) that
 * throws, rejects, takes longer than `moduleTimeout` or returns events
 * the store refuses is logged and counts a failure, and its output is
 * dropped (the session goes on without it); a call that succeeds resets
 * the count. A module with `moduleMaxFailures` failures in a row is
 * disabled: logged, and never called again until the server restarts. A
 * session grows to at most `maxSessionEvents` events: output past it is
 * dropped and counted a failure of the module that returned it, which
 * also bounds a loop of modules answering each other. JavaScript cannot
 * stop a call that never yields: a module that loops synchronously
 * blocks the server, as it would the reference's.
 *
 * @module
 */

import { log } from "../common/log.ts";
import type {
  Event,
  QueryParams,
  QueryResult,
  RegisterEvent,
  Timestamp,
} from "../common/event/mod.ts";
import { Subscription } from "../common/event/mod.ts";
import type { EventStore } from "../store/mod.ts";
import type {
  Engine as ModuleEngine,
  Module,
  ModuleSpec,
  ProcessResult,
  Source,
} from "./module.ts";

/** Default of `moduleTimeout` of `EventServerOptions`: 1 s. */
export const DEFAULT_MODULE_TIMEOUT = 1000;
/** Default of `moduleMaxFailures` of `EventServerOptions`. */
export const DEFAULT_MODULE_MAX_FAILURES = 3;
/** Default of `maxSessionEvents` of `EventServerOptions`. */
export const DEFAULT_MAX_SESSION_EVENTS = 10_000;

/** What the engine needs of its server. */
export interface EngineHooks {
  /** Notify non-persisted subscribers and schedule the commit. */
  registered(events: Event[]): Promise<void>;
  /** Wait for the commit of a session; true when it succeeded. */
  committed(session: number): Promise<boolean>;
  /** Connected clients. */
  clientNames(): [Source, string][];
  /** Run a query as a client's is run: a long one in steps. */
  query(params: QueryParams): QueryResult | Promise<QueryResult>;
}

/** Limits of the engine; see the module documentation. */
export interface EngineLimits {
  moduleTimeout?: number;
  moduleMaxFailures?: number;
  maxSessionEvents?: number;
}

interface ModuleSlot {
  readonly name: string;
  readonly source: Source;
  readonly module: Module;
  failures: number;
  disabled: boolean;
}

interface Registered {
  own: Event[];
  notified: Promise<void>;
  committed: Promise<boolean> | null;
}

const FAILED = Symbol("failed");

/** Source of the engine's own `STARTED` event. */
export const ENGINE_SOURCE: Source = Object.freeze({ type: "engine", id: 0 });

/**
 * Sessions through the modules, one at a time. Registration goes through
 * here only when modules are configured; without, the server registers
 * straight into the store.
 */
export class Engine {
  readonly serverId: number;
  readonly #store: EventStore;
  readonly #hooks: EngineHooks;
  readonly #timeout: number;
  readonly #maxFailures: number;
  readonly #maxSessionEvents: number;
  #modules: ModuleSlot[] = [];
  // Sessions run one after the other; the first waits for start().
  readonly #gate = Promise.withResolvers<void>();
  #tail: Promise<unknown> = this.#gate.promise;
  #closing = false;
  /** What modules see of the engine. */
  readonly view: ModuleEngine;

  constructor(store: EventStore, hooks: EngineHooks, limits: EngineLimits) {
    this.serverId = store.serverId;
    this.#store = store;
    this.#hooks = hooks;
    this.#timeout = limits.moduleTimeout ?? DEFAULT_MODULE_TIMEOUT;
    this.#maxFailures = limits.moduleMaxFailures ??
      DEFAULT_MODULE_MAX_FAILURES;
    this.#maxSessionEvents = limits.maxSessionEvents ??
      DEFAULT_MAX_SESSION_EVENTS;
    this.view = {
      serverId: this.serverId,
      register: (source, events) => this.register(source, events, true),
      query: async (params: QueryParams): Promise<QueryResult> =>
        await this.#hooks.query(params),
      getClientNames: () => this.#hooks.clientNames(),
    };
  }

  /**
   * Create the modules, in order (module `i` has source `module`/`i`).
   *
   * @throws {Error} Naming the module whose creation failed.
   */
  async createModules(specs: readonly ModuleSpec[]): Promise<void> {
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i];
      const source: Source = Object.freeze({ type: "module", id: i });
      const conf = typeof spec === "object" && "info" in spec
        ? spec.conf ?? {}
        : {};
      const name = typeof conf.module === "string"
        ? `${i} (${conf.module})`
        : String(i);
      let module: Module;
      try {
        module = typeof spec === "function"
          ? await spec({}, this.view, source)
          : "info" in spec
          ? await spec.info.create(conf, this.view, source)
          : spec;
      } catch (e) {
        throw new Error(
          `module ${name} cannot be created: ${(e as Error)?.message ?? e}`,
          { cause: e },
        );
      }
      if (
        !(module?.subscription instanceof Subscription) ||
        typeof module.process !== "function"
      ) {
        throw new Error(
          `module ${name} is not a module: it needs a subscription (a ` +
            "Subscription) and a process method",
        );
      }
      this.#modules.push({
        name,
        source,
        module,
        failures: 0,
        disabled: false,
      });
    }
  }

  /** Let the sessions queued so far, and the next ones, run. */
  start(): void {
    this.#gate.resolve();
  }

  /**
   * Register events as a session through the modules.
   *
   * @returns The events given, registered; null when refused, when the
   *   commit failed (with `waitCommit`) or once closing.
   */
  async register(
    source: Source,
    events: readonly RegisterEvent[],
    waitCommit: boolean,
  ): Promise<Event[] | null> {
    if (this.#closing) return null;
    if (events.length === 0) return [];
    const turn = this.#tail.then(() =>
      this.#session(source, events, waitCommit)
    );
    this.#tail = turn.catch(() => {});
    const r = await turn;
    if (r === null) return null;
    await r.notified;
    if (r.committed === null) return r.own;
    return await r.committed ? r.own : null;
  }

  /**
   * Refuse new sessions, wait for those queued, then close the modules.
   * The caller registers its `STOPPED` event in between.
   */
  async drain(): Promise<void> {
    this.#closing = true;
    this.#gate.resolve();
    await this.#tail;
  }

  /** Close every module (each within the time budget). */
  async closeModules(): Promise<void> {
    const modules = this.#modules;
    this.#modules = [];
    for (const slot of modules) {
      if (slot.module.close) {
        await this.#call(slot, "close", () => slot.module.close!());
      }
    }
  }

  async #session(
    source: Source,
    input: readonly RegisterEvent[],
    waitCommit: boolean,
  ): Promise<Registered | null> {
    let session: number;
    let timestamp: Timestamp;
    let registered: Event[];
    try {
      this.#store.check(input);
      ({ session, timestamp } = this.#store.nextSession());
      registered = this.#store.register(
        await this.#process(source, input, session, timestamp),
        timestamp,
      );
    } catch (e) {
      log.warn(
        `register request of ${sourceText(source)} failed: ${
          (e as Error).message
        }`,
      );
      return null;
    }
    if (registered[0].id.session !== session) {
      log.error(
        `session ${registered[0].id.session} registered where the modules ` +
          `saw ${session}: something registered past the engine`,
      );
    }
    const committed = waitCommit ? this.#hooks.committed(session) : null;
    const notified = this.#hooks.registered(registered);
    return { own: registered.slice(0, input.length), notified, committed };
  }

  // The reference's order: each round offers every event of the previous
  // round to each module in turn; what they return makes the next round.
  async #process(
    source: Source,
    input: readonly RegisterEvent[],
    session: number,
    timestamp: Timestamp,
  ): Promise<Event[]> {
    const server = this.serverId;
    let instance = 0;
    const make = (e: RegisterEvent): Event => ({
      id: { server, session, instance: ++instance },
      type: e.type,
      timestamp,
      sourceTimestamp: e.sourceTimestamp ?? null,
      payload: e.payload ?? null,
    });
    const events = input.map(make);
    for (const slot of this.#modules) {
      if (slot.disabled || !slot.module.onSessionStart) continue;
      await this.#call(
        slot,
        "onSessionStart",
        () => slot.module.onSessionStart!(session),
      );
    }
    let round: [Source, Event][] = events.map((e) => [source, e]);
    while (round.length > 0) {
      const next: [Source, Event][] = [];
      for (const slot of this.#modules) {
        for (const [from, event] of round) {
          if (slot.disabled || !slot.module.subscription.matches(event.type)) {
            continue;
          }
          const out = await this.#callProcess(slot, from, event);
          if (out === null) continue;
          if (events.length + out.length > this.#maxSessionEvents) {
            this.#failed(
              slot,
              "process",
              new Error(
                `${out.length} events would grow session ${session} past ` +
                  `${this.#maxSessionEvents} events`,
              ),
            );
            continue;
          }
          for (const r of out) {
            const e = make(r);
            events.push(e);
            next.push([slot.source, e]);
          }
        }
      }
      round = next;
    }
    for (const slot of this.#modules) {
      if (slot.disabled || !slot.module.onSessionStop) continue;
      await this.#call(
        slot,
        "onSessionStop",
        () => slot.module.onSessionStop!(session),
      );
    }
    return events;
  }

  // The events `process` returned, checked; null for none or a failure.
  async #callProcess(
    slot: ModuleSlot,
    source: Source,
    event: Event,
  ): Promise<RegisterEvent[] | null> {
    const result = await this.#call(
      slot,
      "process",
      () => slot.module.process(source, event),
    );
    if (result === FAILED || result == null) return null;
    try {
      const out = Array.from(result as Iterable<RegisterEvent>);
      if (out.length === 0) return null;
      this.#store.check(out);
      return out;
    } catch (e) {
      this.#failed(slot, "process", e);
      return null;
    }
  }

  // Calls a module within the time budget; FAILED when it failed.
  async #call(
    slot: ModuleSlot,
    what: string,
    fn: () => ProcessResult | Promise<ProcessResult>,
  ): Promise<ProcessResult | typeof FAILED> {
    try {
      let result = fn();
      if (result instanceof Promise) result = await this.#budget(result);
      slot.failures = 0;
      return result;
    } catch (e) {
      this.#failed(slot, what, e);
      return FAILED;
    }
  }

  #budget<T>(call: Promise<T>): Promise<T> {
    // A call given up on may still reject later: that is not unhandled.
    call.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#timeout} ms`)),
        this.#timeout,
      );
    });
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  #failed(slot: ModuleSlot, what: string, e: unknown): void {
    slot.failures++;
    log.warn(
      `module ${slot.name} ${what} failed (${slot.failures} in a row), its ` +
        `output dropped: ${(e as Error)?.message ?? e}`,
    );
    if (this.#maxFailures > 0 && slot.failures >= this.#maxFailures) {
      slot.disabled = true;
      log.error(
        `module ${slot.name} disabled after ${slot.failures} failures in a ` +
          "row; it is not called again until the server restarts",
      );
    }
  }
}

function sourceText(source: Source): string {
  return source.type === "eventer"
    ? `connection ${source.id}`
    : `${source.type} ${source.id}`;
}
