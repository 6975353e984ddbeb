/**
 * Taking part in a Hat system through a Hat Monitor Server
 * (SPEC-monitor): a component registered with its local Monitor Server
 * that runs only while blessed ({@linkcode connectComponent}).
 *
 * Components find the active Event Server of a redundant group with
 * {@linkcode connectEventComponent}, the way `hat.event.component` does.
 *
 * @example Whichever of two processes is blessed does the work
 * ```ts
 * import { connectComponent } from "@hat/eventer/monitor";
 * import { Group } from "@hat/eventer";
 *
 * // Run in two processes against a Hat Monitor Server whose group
 * // "workers" is BLESS_ONE: only one runner is ever open.
 * export async function run(port = 23010): Promise<void> {
 *   await using component = await connectComponent(
 *     { hostname: "127.0.0.1", port },
 *     `worker-${Deno.pid}`,
 *     "workers",
 *     () => new Group(), // the work, started when blessed
 *   );
 *   await component.setReady(true);
 *   await component.waitClosed();
 * }
 * ```
 *
 * @module
 */

export {
  type CloseReqCb,
  Component,
  type ComponentOptions,
  connectComponent,
  DEFAULT_MAX_STATES,
  type Runner,
  type RunnerCb,
  type StateCb,
  type StatesOptions,
} from "./component.ts";
export {
  type BlessingReq,
  type BlessingRes,
  type ComponentInfo,
  type SbsInteger,
  type State,
} from "./state.ts";
export {
  activeServerData,
  connectEventComponent,
  DEFAULT_RECONNECT_DELAY,
  type EventCloseReqCb,
  EventComponent,
  type EventComponentOptions,
  type EventerOptions,
  type EventEventsCb,
  type EventRunnerCb,
  type EventStateCb,
  type EventStatusCb,
  type ServerData,
} from "./event_component.ts";
