// Event batches shared by the benchmarks.

import type { Event } from "../common/event/mod.ts";

/** `n` events like a gateway registers: 3-4 segment types, JSON values. */
export function jsonEvents(n: number): Event[] {
  return Array.from({ length: n }, (_, i) => ({
    id: { server: 1, session: 1000 + (i >> 10), instance: i + 1 },
    type: ["gateway", "device" + (i % 16), "data", "value" + (i % 8)],
    timestamp: { s: 1732000000 + (i >> 4), us: (i * 997) % 1000000 },
    sourceTimestamp: { s: 1732000000, us: 0 },
    payload: {
      kind: "json",
      data: { value: i * 0.5, quality: "good", valid: true },
    },
  }));
}

/** `n` events without payload or source timestamp. */
export function bareEvents(n: number): Event[] {
  return jsonEvents(n).map((e) => ({
    ...e,
    sourceTimestamp: null,
    payload: null,
  }));
}

/** `n` events with a 64-byte binary payload. */
export function binaryEvents(n: number): Event[] {
  const data = new Uint8Array(64).map((_, i) => i);
  return jsonEvents(n).map((e) => ({
    ...e,
    payload: { kind: "binary", type: "raw", data },
  }));
}

/**
 * `n` events without payload whose types are `n` distinct numbered points
 * (`["gateway", "device<k>", "data", "reg_<m>"]`, 50 devices): a system
 * with more types than a writer's or reader's per-segment and per-type
 * caches keep apart.
 */
export function pointEvents(n: number): Event[] {
  return bareEvents(n).map((e, i) => ({
    ...e,
    type: ["gateway", "device" + (i % 50), "data", "reg_" + (1000 + i)],
  }));
}
