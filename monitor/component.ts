/**
 * A Hat component: registered with its local Hat Monitor Server, and
 * running its activity (a runner) only while the monitor blesses it
 * (`hat.monitor.component`, SPEC-monitor §2).
 *
 * @module
 */

import { abortable, Group, Resource, runTask } from "../common/async/mod.ts";
import * as chatter from "../common/chatter/mod.ts";
import {
  type Address,
  ConnectionError,
  type ConnectOptions as ChatterConnectOptions,
} from "../common/chatter/mod.ts";
import { jsonText, type JsonValue } from "../common/json/mod.ts";
import type { BlessingRes, SbsInteger } from "../common/monitor/mod.ts";
import { log } from "../common/log.ts";
import { LatestIterator } from "../_latest_iterator.ts";
import { ObserverClient } from "./_observer_client.ts";
import { EMPTY_STATE, type State } from "./state.ts";

/**
 * A component's activity while it is blessed: anything that can be
 * closed and says when it closes. Every `Resource` of this library is one,
 * and so is a {@linkcode Group}.
 */
export interface Runner {
  /** Resolves when the runner starts closing (by itself or not). */
  waitClosing(): Promise<void>;
  /** Close, and resolve once fully closed. */
  asyncClose(): Promise<void>;
}

/**
 * Makes the runner when the component becomes active. Throwing closes the
 * component.
 */
export type RunnerCb = (component: Component) => Runner | Promise<Runner>;

/**
 * Called with each new state; a promise is awaited before the next
 * message is read.
 */
export type StateCb = (component: Component, state: State) => unknown;

/**
 * Called when the Monitor Server asks the component to close (MsgClose);
 * the component closes right after.
 */
export type CloseReqCb = (component: Component) => unknown;

/** Unread states a {@linkcode Component.states} iterator keeps, by default. */
export const DEFAULT_MAX_STATES = 16;

/**
 * Options of {@linkcode connectComponent}: the component's data and
 * callbacks, and the Chatter options of its connection (`signal` aborts
 * connecting; `pingDelay`, `pingTimeout`, ... as for every connection).
 */
export interface ComponentOptions extends ChatterConnectOptions {
  /** Component data, published to every component (default null). */
  data?: JsonValue;
  /** New state callback. */
  stateCb?: StateCb;
  /** Close request callback. */
  closeReqCb?: CloseReqCb;
}

/** Options of {@linkcode Component.states}. */
export interface StatesOptions {
  /** Ends the iterator, as `break` does. */
  signal?: AbortSignal;
  /**
   * Unread states kept; past it the oldest is dropped, so a slow consumer
   * still gets the latest (default {@linkcode DEFAULT_MAX_STATES}, 16).
   */
  maxStates?: number;
}

/**
 * Connect to the local Monitor Server and register a component.
 *
 * The component starts not ready: nothing runs until
 * {@linkcode Component.setReady} is called with true and the monitor
 * blesses the component. Then `runnerCb` makes the runner; it is closed
 * when the blessing is revoked or readiness withdrawn, and the response
 * token is given back only after it has closed, so that in a BLESS_ONE
 * group no two runners ever overlap. A runner that closes by itself while
 * still blessed closes the component.
 *
 * @param addr The local Monitor Server (Hat's default port is 23010).
 * @param name Component name.
 * @param group Component group (the monitor blesses per group).
 * @param runnerCb Makes the runner each time the component becomes active.
 * @param options Data, callbacks and Chatter options.
 * @returns The component, its first MsgClient sent.
 * @throws {ConnectionError} When the connection cannot be made.
 * @throws {JsonPayloadError} When `data` has no JSON text.
 *
 * @example A component of group "g" that works only while blessed
 * ```ts
 * import { connectComponent } from "@hat/eventer/monitor";
 * import { Group } from "@hat/eventer";
 *
 * // Needs a Hat Monitor Server (hat-monitor) at `port`: call it with one.
 * export async function worker(port = 23010): Promise<void> {
 *   await using component = await connectComponent(
 *     { hostname: "127.0.0.1", port },
 *     "worker-1",
 *     "g",
 *     () => {
 *       const runner = new Group();
 *       runner.spawn(async (signal) => {
 *         while (!signal.aborted) {
 *           // the component's work, only while blessed
 *           await new Promise((r) => setTimeout(r, 100));
 *         }
 *       });
 *       return runner;
 *     },
 *     { data: { role: "worker" } },
 *   );
 *   await component.setReady(true);
 *   for await (const state of component.states()) {
 *     console.log(state.info?.blessingReq.token, component.isActive);
 *   }
 * }
 * ```
 */
export async function connectComponent(
  addr: Address,
  name: string,
  group: string,
  runnerCb: RunnerCb,
  options?: ComponentOptions,
): Promise<Component> {
  options ??= {};
  const data = jsonText(options.data ?? null);
  const conn = await chatter.connect(addr, options);
  try {
    const client = new ObserverClient(conn, name, group, data);
    // Client behaviour 1: MsgClient at once, before anything is read.
    await client.setBlessingRes({ token: null, ready: false });
    return newComponent(conn, client, runnerCb, options);
  } catch (e) {
    await conn.asyncClose();
    throw e;
  }
}

let newComponent: (
  conn: chatter.Connection,
  client: ObserverClient,
  runnerCb: RunnerCb,
  options: ComponentOptions,
) => Component;

/** A monitor component. Create with {@linkcode connectComponent}. */
export class Component extends Resource {
  readonly #group: Group;
  readonly #conn: chatter.Connection;
  readonly #client: ObserverClient;
  readonly #runnerCb: RunnerCb;
  readonly #stateCb?: StateCb;
  readonly #closeReqCb?: CloseReqCb;
  #state: State = EMPTY_STATE;
  #res: BlessingRes = { token: null, ready: false };
  #active = false;
  #released: SbsInteger | null = null;
  #changed: PromiseWithResolvers<void> | null = null;
  readonly #iterators = new Set<LatestIterator<State>>();

  static {
    newComponent = (conn, client, runnerCb, options) =>
      new Component(conn, client, runnerCb, options);
  }

  private constructor(
    conn: chatter.Connection,
    client: ObserverClient,
    runnerCb: RunnerCb,
    options: ComponentOptions,
  ) {
    super();
    this.#conn = conn;
    this.#client = client;
    this.#runnerCb = runnerCb;
    this.#stateCb = options.stateCb;
    this.#closeReqCb = options.closeReqCb;
    this.#group = new Group({
      onClose: () => {
        for (const it of this.#iterators) it.end();
      },
    });
    const signal = this.#group.signal;
    runTask(this.#group, () => this.#receiveLoop(signal));
    runTask(this.#group, () => this.#componentLoop(signal));
  }

  /** The group owning the component's tasks. */
  get group(): Group {
    return this.#group;
  }

  /** The last state received (empty before the first MsgServer). */
  get state(): State {
    return this.#state;
  }

  /** What was last given to {@linkcode Component.setReady}. */
  get ready(): boolean {
    return this.#res.ready;
  }

  /** True while the runner is open (blessed, ready, token shown back). */
  get isActive(): boolean {
    return this.#active;
  }

  /**
   * Say whether the component may be blessed; a no-op when unchanged.
   * Setting false while active closes the runner, then gives the token
   * back.
   *
   * @param ready Ready or not.
   * @throws {ConnectionError} When the component is closed.
   */
  async setReady(ready: boolean): Promise<void> {
    if (this.#res.ready === ready) return;
    if (this.isClosing) {
      throw new ConnectionError("component closed", { code: "CLOSED" });
    }
    await this.#changeRes({ token: this.#res.token, ready });
  }

  /**
   * Every new state from now on, as an async iterator; it ends when the
   * component closes.
   *
   * @param options Bound and abort signal.
   * @returns The iterator.
   */
  states(options?: StatesOptions): AsyncIterableIterator<State> {
    const it = new LatestIterator<State>(
      Math.max(1, options?.maxStates ?? DEFAULT_MAX_STATES),
      () => this.#iterators.delete(it),
      options?.signal,
    );
    if (this.isClosing) it.end();
    else if (!it.ended) this.#iterators.add(it);
    return it;
  }

  async #changeRes(res: BlessingRes): Promise<void> {
    this.#res = res;
    this.#notify();
    await this.#client.setBlessingRes(res);
  }

  #notify(): void {
    const changed = this.#changed;
    if (changed) {
      this.#changed = null;
      changed.resolve();
    }
  }

  #nextChange(signal: AbortSignal): Promise<void> {
    return abortable(
      (this.#changed ??= Promise.withResolvers()).promise,
      signal,
    );
  }

  async #receiveLoop(signal: AbortSignal): Promise<void> {
    try {
      await this.#client.receiveLoop({
        state: (state) => {
          this.#state = state;
          // The server has seen the token given back: from now on its
          // states are not stale, and a new master (whose tokens count
          // from 1 again) may hand out the same number.
          if (state.info?.blessingRes.token === null) this.#released = null;
          this.#notify();
          for (const it of this.#iterators) it.push(state);
          const done = this.#stateCb?.(this, state);
          return done instanceof Promise ? done.then(() => {}) : undefined;
        },
        closeReq: async () => {
          if (this.#closeReqCb) await this.#closeReqCb(this);
        },
      }, signal);
    } catch (e) {
      if (!signal.aborted && !(e instanceof ConnectionError)) {
        log.warn(`monitor component: ${e instanceof Error ? e.message : e}`);
        this.#conn.fail(e, "observer message");
      }
    } finally {
      this.close();
    }
  }

  // The token the master asks for, once ready (component behaviour 2).
  // A token given back is not taken on again until the server shows it
  // given back: a MsgServer sent before that still shows it, request and
  // response alike, and taking it on again would start a runner the master
  // no longer counts on.
  #requestToken(): SbsInteger | null {
    if (!this.#res.ready) return null;
    const token = this.#state.info?.blessingReq.token ?? null;
    return token === this.#released ? null : token;
  }

  // Blessed and ready: the request token is the one taken on.
  #blessedAndReady(): boolean {
    const token = this.#state.info?.blessingReq.token ?? null;
    return this.#res.ready && token !== null && token === this.#res.token;
  }

  async #componentLoop(signal: AbortSignal): Promise<void> {
    try {
      for (;;) {
        let token = this.#requestToken();
        while (token === null) {
          await this.#nextChange(signal);
          token = this.#requestToken();
        }
        if (this.#res.token !== token) {
          await this.#changeRes({ token, ready: this.#res.ready });
        }
        if (!await this.#tokenShownBack(signal)) continue;
        if (await this.#run(signal)) break;
      }
    } catch (e) {
      if (!signal.aborted && !(e instanceof ConnectionError)) {
        log.warn(
          `monitor component loop: ${e instanceof Error ? e.message : e}`,
        );
      }
    } finally {
      this.close();
      await this.#conn.asyncClose();
    }
  }

  // Component behaviour 4: wait until the server shows our response token
  // back; true when the request token still equals it.
  async #tokenShownBack(signal: AbortSignal): Promise<boolean> {
    for (;;) {
      const own = this.#res.token;
      if (!this.#res.ready || own === null) return false;
      const info = this.#state.info;
      if (info && info.blessingRes.token === own) {
        return info.blessingReq.token === own;
      }
      await this.#nextChange(signal);
    }
  }

  // Active (behaviours 5-7): true when the runner closed by itself while
  // still blessed and ready, which ends the component.
  async #run(signal: AbortSignal): Promise<boolean> {
    const runner = await this.#runnerCb(this);
    this.#active = true;
    let byItself = false;
    try {
      const runnerClosing = runner.waitClosing().then(() => true);
      for (;;) {
        if (!this.#blessedAndReady()) break;
        const closed = await Promise.race([
          runnerClosing,
          this.#nextChange(signal).then(() => false),
        ]);
        if (closed) {
          byItself = this.#blessedAndReady();
          break;
        }
      }
    } finally {
      // The runner ends before the token is given back, or before the
      // connection closes.
      await runner.asyncClose();
      this.#active = false;
    }
    if (signal.aborted) return true;
    this.#released = this.#res.token;
    await this.#changeRes({ token: null, ready: this.#res.ready });
    return byItself;
  }
}
