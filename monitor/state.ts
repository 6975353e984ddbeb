/**
 * What a component sees of the Hat system: its own {@linkcode ComponentInfo}
 * and every component's, with their data parsed (SPEC-monitor §1-2).
 *
 * @module
 */

import { type JsonValue, parseJsonText } from "../common/json/mod.ts";
import type {
  BlessingReq,
  BlessingRes,
  ComponentInfoRecord,
  SbsInteger,
} from "../common/monitor/mod.ts";

export type { BlessingReq, BlessingRes, SbsInteger };

/**
 * A component as the Monitor Server describes it: `HatObserver.ComponentInfo`
 * with its data parsed from the JSON text on the wire.
 */
export interface ComponentInfo {
  /** Connection id on its local Monitor Server (never reused there). */
  readonly cid: SbsInteger;
  /** Monitor id: 0 for the master, 1, 2, ... for slaves. */
  readonly mid: SbsInteger;
  /** Component name; null until its first MsgClient reached the server. */
  readonly name: string | null;
  /** Component group; null until its first MsgClient reached the server. */
  readonly group: string | null;
  /** Component data (JSON). */
  readonly data: JsonValue;
  /** Rank: the lower wins under BLESS_ONE. */
  readonly rank: SbsInteger;
  /** Blessing request, set by the master. */
  readonly blessingReq: BlessingReq;
  /** Blessing response, set by the component. */
  readonly blessingRes: BlessingRes;
}

/** A component's view of the system, as its last MsgServer gave it. */
export interface State {
  /**
   * This component's own entry (same cid and mid as the message), or null
   * (the first MsgServer after connecting usually lacks it).
   */
  readonly info: ComponentInfo | null;
  /** Every component of every monitor, the master's first. */
  readonly components: readonly ComponentInfo[];
}

/** The state before any MsgServer. */
export const EMPTY_STATE: State = Object.freeze({
  info: null,
  components: Object.freeze([]),
});

/**
 * The state of a MsgServer.
 *
 * @throws {SyntaxError} For a component whose data is not JSON.
 */
export function stateOf(
  cid: SbsInteger,
  mid: SbsInteger,
  records: readonly ComponentInfoRecord[],
): State {
  const components = records.map((r) => ({
    ...r,
    data: parseJsonText(r.data),
  }));
  const info = components.find((c) => c.cid === cid && c.mid === mid) ?? null;
  return { info, components };
}

/**
 * True when two states hold the same components (data compared by its
 * JSON text as the Monitor Server writes it, which is one text per
 * value), as the reference drops a state equal to the previous one.
 */
export function sameState(
  a: readonly ComponentInfoRecord[],
  b: readonly ComponentInfoRecord[],
): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (
      x.cid !== y.cid || x.mid !== y.mid || x.name !== y.name ||
      x.group !== y.group || x.data !== y.data || x.rank !== y.rank ||
      x.blessingReq.token !== y.blessingReq.token ||
      !Object.is(x.blessingReq.timestamp, y.blessingReq.timestamp) ||
      x.blessingRes.token !== y.blessingRes.token ||
      x.blessingRes.ready !== y.blessingRes.ready
    ) return false;
  }
  return true;
}
