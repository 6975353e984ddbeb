/**
 * A component that finds the active Event Server of a server group through
 * its local Hat Monitor Server and keeps an Eventer client to it
 * (`hat.event.component`, SPEC-monitor §4).
 *
 * @module
 */

import { Group, Resource, sleep } from "../common/async/mod.ts";
import type {
  Address,
  ConnectOptions as ChatterConnectOptions,
} from "../common/chatter/mod.ts";
import type { Event, Status } from "../common/event/mod.ts";
import type { JsonValue } from "../common/json/mod.ts";
import { log } from "../common/log.ts";
import { type Client, connect, type ConnectOptions } from "../client.ts";
import {
  type CloseReqCb as MonitorCloseReqCb,
  type Component,
  connectComponent,
  type Runner,
  type StatesOptions,
} from "./component.ts";
import type { ComponentInfo, State } from "./state.ts";

/** The active Event Server of a group, as its monitor data gives it. */
export interface ServerData {
  /** Its server id. */
  readonly serverId: number;
  /** Its Eventer server address. */
  readonly addr: Address;
  /** Its server token (clients with another token are refused). */
  readonly serverToken: string | null;
}

/**
 * Makes the runner for a client connected to the active Event Server;
 * throwing closes the component. A runner that closes by itself while its
 * client is open closes the component.
 */
export type EventRunnerCb = (
  component: EventComponent,
  server: ServerData,
  client: Client,
) => Runner | Promise<Runner>;

/** Called with each new monitor state. */
export type EventStateCb = (component: EventComponent, state: State) => unknown;

/** Called when the Monitor Server asks the component to close. */
export type EventCloseReqCb = (component: EventComponent) => unknown;

/** Called when the connected Event Server's status changes. */
export type EventStatusCb = (
  component: EventComponent,
  client: Client,
  status: Status,
) => unknown;

/** Called with each batch of events the connected Event Server notifies. */
export type EventEventsCb = (
  component: EventComponent,
  client: Client,
  events: Event[],
) => unknown;

/**
 * Milliseconds between the end of a connection to an Event Server (or a
 * failed attempt) and the next attempt at the same server, by default
 * (0.5 s, the reference's).
 */
export const DEFAULT_RECONNECT_DELAY = 500;

/**
 * Options of each Eventer connection the component makes: those of
 * {@linkcode connect} but the callbacks (the component's own are used)
 * and the signal (the component's lifetime is).
 */
export type EventerOptions = Omit<
  ConnectOptions,
  "statusCb" | "eventsCb" | "signal"
>;

/**
 * Options of {@linkcode connectEventComponent}: the component's data and
 * callbacks, the Eventer connections' options, and the Chatter options of
 * the monitor connection (`signal` aborts connecting to the monitor).
 */
export interface EventComponentOptions extends ChatterConnectOptions {
  /** Monitor component data (default null). */
  data?: JsonValue;
  /** New monitor state callback. */
  stateCb?: EventStateCb;
  /** Close request (MsgClose) callback. */
  closeReqCb?: EventCloseReqCb;
  /** Event Server status callback. */
  statusCb?: EventStatusCb;
  /** Notified events callback. */
  eventsCb?: EventEventsCb;
  /**
   * Milliseconds before connecting again to the same server after its
   * connection ended or an attempt failed (default 500). A new active
   * server is connected to at once.
   */
  reconnectDelay?: number;
  /**
   * Options of the Eventer connections (`subscriptions`, `clientToken`,
   * `persisted`, ...). `serverId` defaults to the active server's id, so
   * only the events it created are notified; with `clientToken` set, only
   * a server with that `server_token` counts as active.
   */
  eventer?: EventerOptions;
}

/**
 * Connect to the local Monitor Server as a component of `group` and keep
 * an Eventer client to the active Event Server of `serverGroup`.
 *
 * The component starts not ready, like the reference's: call
 * {@linkcode EventComponent.setReady} with true. Once the monitor blesses
 * it (component groups are usually BLESS_ALL), it connects to the first
 * component of `serverGroup` whose blessing request and response tokens
 * are equal, and hands the client to `runnerCb`. When the monitor shows
 * another active server, the runner and client are closed and the new
 * server connected to at once; when the connection drops, the same
 * server is connected to again after `reconnectDelay`.
 *
 * The runner gets the client whatever the server's status: a server that
 * just became active may still be `standby` for a moment and answer
 * registrations with failure. Watch `statusCb` or `client.status`.
 *
 * @param addr The local Monitor Server (Hat's default port is 23010).
 * @param name Monitor component name.
 * @param group Monitor component group.
 * @param serverGroup The Event Servers' monitor group.
 * @param clientName Eventer client name.
 * @param runnerCb Makes the runner for each connected client.
 * @param options Callbacks, Eventer and Chatter options.
 * @returns The component.
 * @throws {ConnectionError} When the monitor connection cannot be made.
 *
 * @example Register through whichever Event Server is active
 * ```ts
 * import { connectEventComponent } from "@hat/eventer/monitor";
 * import { Group } from "@hat/eventer";
 *
 * // Needs a Hat Monitor Server with Event Servers in group "event".
 * export async function gateway(port = 23010): Promise<void> {
 *   await using component = await connectEventComponent(
 *     { hostname: "127.0.0.1", port },
 *     "gateway-1", // name and group of this component
 *     "gateway",
 *     "event", // the Event Servers' group
 *     "gateway-1", // Eventer client name
 *     (_component, server, client) => {
 *       console.log("connected to Event Server", server.serverId);
 *       const runner = new Group();
 *       runner.spawn(async (signal) => {
 *         while (!signal.aborted && client.isOpen) {
 *           await client.register([{ type: ["gateway", "alive"] }]);
 *           await new Promise((r) => setTimeout(r, 1000));
 *         }
 *       });
 *       return runner;
 *     },
 *     { statusCb: (_c, _client, status) => console.log("status", status) },
 *   );
 *   await component.setReady(true);
 *   await component.waitClosed();
 * }
 * ```
 */
export async function connectEventComponent(
  addr: Address,
  name: string,
  group: string,
  serverGroup: string,
  clientName: string,
  runnerCb: EventRunnerCb,
  options?: EventComponentOptions,
): Promise<EventComponent> {
  options ??= {};
  const self = newEventComponent(serverGroup, clientName, runnerCb, options);
  const closeReqCb: MonitorCloseReqCb | undefined = options.closeReqCb
    ? () => options.closeReqCb!(self)
    : undefined;
  const component = await connectComponent(
    addr,
    name,
    group,
    (c) => attach(self).monitorRunner(c),
    {
      ...options,
      stateCb: (c, state) => attach(self).state(c, state),
      closeReqCb,
    },
  );
  attach(self).setComponent(component);
  return self;
}

// The monitor component's callbacks may come before connectComponent
// returns: each one hands the component over.
interface Internals {
  setComponent(component: Component): void;
  state(component: Component, state: State): Promise<void> | undefined;
  monitorRunner(component: Component): Runner;
}

let newEventComponent: (
  serverGroup: string,
  clientName: string,
  runnerCb: EventRunnerCb,
  options: EventComponentOptions,
) => EventComponent;
let attach: (c: EventComponent) => Internals;

/** An Eventer component. Create with {@linkcode connectEventComponent}. */
export class EventComponent extends Resource {
  #component: Component | null = null;
  readonly #serverGroup: string;
  readonly #clientName: string;
  readonly #runnerCb: EventRunnerCb;
  readonly #options: EventComponentOptions;
  readonly #reconnectDelay: number;
  #serverData: ServerData | null = null;
  #client: Client | null = null;
  #changed: PromiseWithResolvers<void> | null = null;

  static {
    newEventComponent = (serverGroup, clientName, runnerCb, options) =>
      new EventComponent(serverGroup, clientName, runnerCb, options);
    attach = (c) => ({
      setComponent: (component) => c.#component = component,
      state: (component, state) => {
        c.#component = component;
        return c.#onState(state);
      },
      monitorRunner: (component) => {
        c.#component = component;
        return c.#monitorRunner();
      },
    });
  }

  private constructor(
    serverGroup: string,
    clientName: string,
    runnerCb: EventRunnerCb,
    options: EventComponentOptions,
  ) {
    super();
    this.#serverGroup = serverGroup;
    this.#clientName = clientName;
    this.#runnerCb = runnerCb;
    this.#options = options;
    this.#reconnectDelay = options.reconnectDelay ?? DEFAULT_RECONNECT_DELAY;
  }

  /** The monitor component's group: closing it closes everything. */
  get group(): Group {
    return this.#component!.group;
  }

  /** The last monitor state. */
  get state(): State {
    return this.#component!.state;
  }

  /** What was last given to {@linkcode EventComponent.setReady}. */
  get ready(): boolean {
    return this.#component!.ready;
  }

  /** The active Event Server the monitor state shows, if any. */
  get serverData(): ServerData | null {
    return this.#serverData;
  }

  /** The client connected to the active Event Server, if any. */
  get client(): Client | null {
    return this.#client;
  }

  /**
   * Say whether the component may be blessed (it does nothing until then).
   *
   * @param ready Ready or not.
   * @throws {ConnectionError} When the component is closed.
   */
  setReady(ready: boolean): Promise<void> {
    return this.#component!.setReady(ready);
  }

  /**
   * Every new monitor state from now on; ends when the component closes.
   *
   * @param options Bound and abort signal.
   * @returns The iterator.
   */
  states(options?: StatesOptions): AsyncIterableIterator<State> {
    return this.#component!.states(options);
  }

  #onState(state: State): Promise<void> | undefined {
    const data = activeServerData(
      state.components,
      this.#serverGroup,
      this.#options.eventer?.clientToken ?? null,
    );
    if (!sameServerData(data, this.#serverData)) {
      this.#serverData = data;
      const changed = this.#changed;
      this.#changed = null;
      changed?.resolve();
    }
    const cb = this.#options.stateCb;
    if (!cb) return;
    return Promise.resolve(cb(this, state)).then(() => {});
  }

  #nextChange(): Promise<void> {
    return (this.#changed ??= Promise.withResolvers()).promise;
  }

  // The monitor runner: alive while this component is blessed.
  #monitorRunner(): Runner {
    const runner = new Group();
    runner.spawn((signal) => this.#serverDataLoop(runner, signal));
    return runner;
  }

  async #serverDataLoop(runner: Group, signal: AbortSignal): Promise<void> {
    const aborted = whenAborted(signal);
    while (!signal.aborted) {
      const data = this.#serverData;
      if (!data) {
        await Promise.race([this.#nextChange(), aborted]);
        continue;
      }
      const clientGroup = runner.child();
      clientGroup.spawn((s) => this.#clientLoop(data, s));
      await Promise.race([this.#nextChange(), aborted]);
      await clientGroup.asyncClose();
    }
  }

  async #clientLoop(data: ServerData, signal: AbortSignal): Promise<void> {
    const eventer = this.#options.eventer ?? {};
    const statusCb = this.#options.statusCb;
    const eventsCb = this.#options.eventsCb;
    const aborted = whenAborted(signal);
    while (!signal.aborted) {
      let client: Client;
      try {
        client = await connect(data.addr, this.#clientName, {
          ...eventer,
          serverId: eventer.serverId !== undefined
            ? eventer.serverId
            : data.serverId,
          statusCb: statusCb && ((c, status) => statusCb(this, c, status)),
          eventsCb: eventsCb && ((c, events) => eventsCb(this, c, events)),
          signal,
        });
      } catch (e) {
        if (signal.aborted) return;
        log.warn(
          `event component: connecting to Event Server ${data.serverId} ` +
            `failed: ${e instanceof Error ? e.message : e}`,
        );
        await sleep(this.#reconnectDelay, signal);
        continue;
      }
      this.#client = client;
      let runner: Runner | null = null;
      try {
        runner = await this.#runnerCb(this, data, client);
        const runnerClosed = await Promise.race([
          runner.waitClosing().then(() => true),
          client.waitClosing().then(() => false),
          aborted.then(() => false),
        ]);
        if (runnerClosed && client.isOpen && !signal.aborted) {
          // The runner gave up while connected: the component ends.
          this.close();
          return;
        }
      } catch (e) {
        if (!signal.aborted) {
          log.warn(
            `event component: runner failed: ${
              e instanceof Error ? e.message : e
            }`,
          );
          this.close();
        }
        return;
      } finally {
        if (this.#client === client) this.#client = null;
        await runner?.asyncClose();
        await client.asyncClose();
      }
      await sleep(this.#reconnectDelay, signal);
    }
  }
}

/**
 * The active Event Server of `serverGroup`: the first component of the
 * group whose request token equals its response token, if its data names
 * a server id, an Eventer address and a token (SPEC-monitor 4.2).
 *
 * @param components The monitor state's components.
 * @param serverGroup The Event Servers' group.
 * @param clientToken When set, a server with another token is not active.
 * @returns The server's data, or null.
 */
export function activeServerData(
  components: readonly ComponentInfo[],
  serverGroup: string,
  clientToken: string | null = null,
): ServerData | null {
  const info = components.find((c) =>
    c.group === serverGroup && c.blessingReq.token !== null &&
    c.blessingReq.token === c.blessingRes.token
  );
  if (!info) return null;
  return serverDataOf(info, clientToken);
}

/**
 * An Event Server's data as its monitor data gives it: a server id, an
 * Eventer address and a token (SPEC-monitor 4.2), else null.
 *
 * @param info The Event Server's component.
 * @param clientToken When set, a server with another token gives null.
 * @returns The server's data, or null.
 */
export function serverDataOf(
  info: ComponentInfo,
  clientToken: string | null = null,
): ServerData | null {
  const data = info.data as Record<string, JsonValue> | null;
  if (!data || typeof data !== "object" || Array.isArray(data)) return null;
  const serverId = data.server_id;
  const server = data.eventer_server as Record<string, JsonValue> | null;
  const host = server && typeof server === "object" ? server.host : undefined;
  const port = server && typeof server === "object" ? server.port : undefined;
  const serverToken = data.server_token;
  if (
    !Number.isSafeInteger(serverId) || typeof host !== "string" ||
    !Number.isSafeInteger(port) ||
    !(serverToken === null || typeof serverToken === "string")
  ) return null;
  if (clientToken !== null && clientToken !== serverToken) return null;
  return {
    serverId: serverId as number,
    addr: { hostname: host, port: port as number },
    serverToken,
  };
}

function sameServerData(a: ServerData | null, b: ServerData | null): boolean {
  if (a === null || b === null) return a === b;
  return a.serverId === b.serverId && a.addr.hostname === b.addr.hostname &&
    a.addr.port === b.addr.port && a.serverToken === b.serverToken;
}

function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
