/**
 * The differential tests' engine module, for our Event Server;
 * `double_module.py` beside it is the same logic for the reference's.
 *
 * For each event of type `in/<x>` with a number payload it adds to the
 * session `out/<x>` with `{"value": <double>, "source": "<type> <id>",
 * "session": <session of onSessionStart>}`; for each `out/<x>` whose
 * value is over 10 (its own output, processed in turn) it adds
 * `alarm/<x>` with `"high"`.
 *
 * @module
 */

import { type EventType, Subscription } from "../../../mod.ts";
import type { Module, ModuleInfo } from "../../../event_server/mod.ts";

/** The module's configuration (its entry in `modules`). */
export type DoubleConf = {
  /** Default `[["in", "*"], ["out", "*"]]`. */
  subscriptions?: EventType[];
};

/** The module file's `info`. */
export const info: ModuleInfo<DoubleConf> = {
  create(conf): Module {
    let session: number | null = null;
    return {
      subscription: new Subscription(
        conf.subscriptions ?? [["in", "*"], ["out", "*"]],
      ),
      onSessionStart(s) {
        session = s;
      },
      onSessionStop() {
        session = null;
      },
      process(source, event) {
        const payload = event.payload;
        if (payload?.kind !== "json") return;
        const data = payload.data;
        if (event.type[0] === "in") {
          if (typeof data !== "number") return;
          return [{
            type: ["out", ...event.type.slice(1)],
            sourceTimestamp: event.sourceTimestamp,
            payload: {
              kind: "json",
              data: {
                value: data * 2,
                source: `${source.type} ${source.id}`,
                session,
              },
            },
          }];
        }
        const value = (data as { value: number }).value;
        if (event.type[0] === "out" && value > 10) {
          return [{
            type: ["alarm", ...event.type.slice(1)],
            payload: { kind: "json", data: "high" },
          }];
        }
      },
    };
  },
};
