/**
 * Taking part in a Hat system through a Hat Monitor Server
 * (SPEC-monitor): a component registered with its local Monitor Server
 * that runs only while blessed ({@linkcode connectComponent}).
 *
 * @example A BLESS_ONE pair: only one of two components works at a time
 * ```ts ignore
 * import { connectComponent } from "@hat/eventer/monitor";
 * import { Group } from "@hat/eventer";
 *
 * const monitor = { hostname: "127.0.0.1", port: 23010 };
 * await using component = await connectComponent(
 *   monitor,
 *   "worker-1",
 *   "workers",
 *   () => new Group(), // the work, started when blessed
 * );
 * await component.setReady(true);
 * await component.waitClosed();
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
