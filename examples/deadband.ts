/**
 * An engine module: a deadband on numeric measurements. For every event
 * of its `subscriptions` whose JSON payload is a number, it adds to the
 * same session an event of type `prefix` + the event's type, with the
 * same payload and source timestamp, when the value moved by more than
 * `deadband` from the last one it forwarded for that type (the first
 * value of a type always goes through). Subscribers of the `prefix` types
 * then hear of significant changes only.
 *
 * In a configuration file (`deno task start --conf server.json`):
 *
 * ```json
 * "modules": [
 *   {
 *     "module": "./examples/deadband.ts",
 *     "subscriptions": [["measurement", "*"]],
 *     "deadband": 0.5,
 *     "prefix": ["deadband"]
 *   }
 * ]
 * ```
 *
 * or from code: `startEventServer({ modules: [{ info, conf: {...} }] })`.
 *
 * @module
 */

import { type EventType, Subscription } from "../mod.ts";
import type { Module, ModuleInfo } from "../event_server/mod.ts";

/** Configuration of the deadband module. */
export type DeadbandConf = {
  /** Event types to watch (default `[["measurement", "*"]]`). */
  subscriptions?: EventType[];
  /** Smallest change forwarded (default 0: every change). */
  deadband?: number;
  /** Segments put before the type of a forwarded event (default `["deadband"]`). */
  prefix?: string[];
  /** Most types remembered (default 100,000); past it, the oldest is forgotten. */
  maxTypes?: number;
};

/** The module file's `info`, as the engine loads it. */
export const info: ModuleInfo<DeadbandConf> = {
  create(conf): Module {
    const deadband = conf.deadband ?? 0;
    const prefix = conf.prefix ?? ["deadband"];
    const maxTypes = conf.maxTypes ?? 100_000;
    if (typeof deadband !== "number" || !(deadband >= 0)) {
      throw new TypeError("deadband must be a number >= 0");
    }
    // Last value forwarded, by type (a Map keeps insertion order: the
    // first key is the one least recently forwarded).
    const last = new Map<string, number>();
    const subscription = new Subscription(
      conf.subscriptions ?? [["measurement", "*"]],
    );
    return {
      subscription,
      process(_source, event) {
        // Its own output, should the subscriptions cover it too.
        if (prefix.length > 0 && prefix.every((s, i) => event.type[i] === s)) {
          return;
        }
        const payload = event.payload;
        if (payload?.kind !== "json" || typeof payload.data !== "number") {
          return;
        }
        const key = event.type.join("/");
        const previous = last.get(key);
        if (
          previous !== undefined &&
          Math.abs(payload.data - previous) <= deadband
        ) return;
        last.delete(key);
        last.set(key, payload.data);
        if (last.size > maxTypes) last.delete(last.keys().next().value!);
        return [{
          type: [...prefix, ...event.type],
          sourceTimestamp: event.sourceTimestamp,
          payload,
        }];
      },
    };
  },
};
