/**
 * A runnable Hat Event Server with an embedded SQLite database: the
 * Eventer server of `@hat/eventer` answering clients the way the Python
 * reference's Event Server (hat-event 0.9) does, with ids and timestamps
 * assigned here, queries answered from the database, group commit, and
 * register responses sent only once the events are on disk; with engine
 * modules in TypeScript, the LMDB backend's storage rules, and membership
 * of a redundant Hat monitor group.
 *
 * Uses Deno's built-in `node:sqlite`, which is why it is a separate entry
 * point from the protocol library.
 *
 * Run one from the command line with `deno task start` (a checkout) or
 * `deno run -N -R -W jsr:@hat/eventer/cli serve`; see the README for its
 * flags and for running it as a service.
 *
 * @example
 * ```ts
 * import { connect } from "@hat/eventer";
 * import { startEventServer } from "@hat/eventer/event-server";
 *
 * await using server = await startEventServer({ db: ":memory:", port: 0 });
 * await using client = await connect(server.addresses[0], "example");
 * const events = await client.register([{ type: ["a", "b"] }], true);
 * if (events === null) throw new Error("the server refused the events");
 * // A new session per register request: session 1 was the engine's
 * // STARTED event, session 2 this client's CONNECTED event.
 * console.log(events[0].id); // { server: 1, session: 3, instance: 1 }
 * ```
 *
 * @module
 */

export { DEFAULT_PORT } from "../common/eventer/mod.ts";
export {
  DEFAULT_MAX_CLIENT_NAME_BYTES,
  EventServer,
  EventServerError,
  type EventServerMonitorOptions,
  type EventServerOptions,
  startEventServer,
} from "./event_server.ts";
export {
  DEFAULT_MAX_SESSION_EVENTS,
  DEFAULT_MODULE_MAX_FAILURES,
  DEFAULT_MODULE_TIMEOUT,
} from "./engine.ts";
export type {
  CreateModule,
  Engine,
  Module,
  ModuleConf,
  ModuleInfo,
  ModuleSpec,
  ProcessResult,
  Source,
  SourceType,
} from "./module.ts";
export type {
  Condition,
  JsonCondition,
  JsonPath,
  RetentionLimit,
  StorageCondition,
  StorageRules,
  Synchronous,
  TimeseriesPartition,
} from "../store/mod.ts";
