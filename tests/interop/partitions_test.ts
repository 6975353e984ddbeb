/**
 * Interop, differential: the REFERENCE Event Server (hat-event-server
 * 0.9.44, LMDB backend) and OURS (`cli/serve.ts --conf`) started from the
 * same configuration with two timeseries partitions (TIMESTAMP over
 * `a/*`, SOURCE_TIMESTAMP over `*`) and a type kept by neither (`c`
 * without a source timestamp), driven by the same reference client
 * (peer.py): every timeseries query, of both orders, over types one
 * partition covers, none covers, or both cover, paged with `maxResults`
 * and `lastEventId`, answers the same events (ids, order) and
 * `moreFollows`.
 */

import assert from "node:assert/strict";

import {
  clientArgs,
  type PeerEventId,
  type PeerQueryParams,
  type PeerQueryResult,
  type PeerRegisterEvent,
  startPeer,
} from "./peer.ts";
import {
  type DiffServer,
  driveBoth,
  lmdbBackend,
  seenWithId,
} from "./_differential.ts";

const TIMESERIES = [
  { order_by: "TIMESTAMP", subscriptions: [["a", "*"]] },
  { order_by: "SOURCE_TIMESTAMP", subscriptions: [["*"]] },
];

const TYPES = [["a", "1"], ["a", "2"], ["b", "1"], ["b", "2"], ["c"]];

// 20 events: `c` never has a source timestamp (so no partition keeps
// it), one `a/1` has none either; source timestamps repeat, so that
// events of one source timestamp are ordered by id.
const EVENTS: PeerRegisterEvent[] = Array.from({ length: 20 }, (_, i) => {
  const type = TYPES[i % 5];
  const noSource = type[0] === "c" || i === 5;
  return {
    type,
    sourceTimestamp: noSource
      ? null
      : { s: `${1_000_000 + (i * 7) % 10}`, us: (i % 2) * 500_000 },
    payload: { kind: "json", data: null, text: `{"i": ${i}}` },
  };
});
// Registered in requests of 1, 2, 3, 1, 2, 3, ... events.
const BATCHES: PeerRegisterEvent[][] = [];
for (let i = 0, n = 1; i < EVENTS.length; i += n, n = n % 3 + 1) {
  BATCHES.push(EVENTS.slice(i, i + n));
}

type Timeseries = Extract<PeerQueryParams, { kind: "timeseries" }>;
const ts = (
  orderBy: "timestamp" | "sourceTimestamp",
  eventTypes: string[][] | null,
  extra: Partial<Timeseries> = {},
): Timeseries => ({ kind: "timeseries", orderBy, eventTypes, ...extra });

const QUERIES: Timeseries[] = [
  // One partition covers them.
  ts("timestamp", [["a", "*"]]),
  ts("timestamp", [["a", "1"]]),
  ts("sourceTimestamp", [["*"]]),
  ts("sourceTimestamp", [["b", "*"]]),
  // All types: the first partition of that order.
  ts("timestamp", null),
  ts("sourceTimestamp", null),
  // No partition of that order covers them.
  ts("timestamp", [["b", "*"]]),
  ts("timestamp", [["c"]]),
  // Covered, but never kept there (no source timestamp).
  ts("sourceTimestamp", [["c"]]),
  // Spanning both partitions: the first of the query's order answers.
  ts("timestamp", [["a", "1"], ["b", "*"], ["c"]]),
  ts("sourceTimestamp", [["a", "2"], ["b", "1"], ["c"]]),
  // Source timestamp ranges.
  ts("sourceTimestamp", [["*"]], {
    sourceTFrom: { s: "1000002", us: 500_000 },
    sourceTTo: { s: "1000007", us: 0 },
  }),
  ts("timestamp", [["a", "*"]], { sourceTFrom: { s: "1000004", us: 0 } }),
];

// Registers BATCHES through a reference client, then runs every query
// in both orders, whole and in pages of 3.
async function drive(server: DiffServer) {
  await using reg = await startPeer(
    "client",
    clientArgs({ port: server.port, name: "reg", payloadText: true }),
  );
  for (const events of BATCHES) {
    const r = await reg.request<{ events: unknown[] } | null>({
      cmd: "register",
      events,
      withResponse: true,
    });
    assert.ok(r !== null, "register failed");
  }
  const answers: Record<string, string[]> = {};
  for (const base of QUERIES) {
    for (const order of ["ascending", "descending"] as const) {
      const key = `${JSON.stringify(base)} ${order}`;
      const whole = await reg.request<PeerQueryResult>({
        cmd: "query",
        params: { ...base, order },
      });
      const lines = whole.events.map(seenWithId);
      lines.push(`moreFollows ${whole.moreFollows}`);
      let lastEventId: PeerEventId | null = null;
      for (let page = 0; page < 20; page++) {
        const r: PeerQueryResult = await reg.request<PeerQueryResult>({
          cmd: "query",
          params: { ...base, order, maxResults: 3, lastEventId },
        });
        lines.push(
          `page ${page}: ${r.events.map(seenWithId).join(", ")} ` +
            `moreFollows ${r.moreFollows}`,
        );
        if (!r.moreFollows || r.events.length === 0) break;
        lastEventId = r.events.at(-1)!.id;
      }
      answers[key] = lines;
    }
  }
  return answers;
}

Deno.test("partitions: timeseries queries follow the partitions as the reference's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "partitions_test_" });
  try {
    const conf = (db: string) => ({
      type: "event",
      name: "diff",
      server_id: 1,
      backend: lmdbBackend(`${dir}/${db}`, {
        latest: { subscriptions: [["a", "*"]] },
        timeseries: TIMESERIES,
      }),
      modules: [],
    });
    const { reference, ours } = await driveBoth(
      dir,
      conf("reference.db"),
      conf("ours.db"),
      drive,
    );
    assert.deepEqual(Object.keys(ours), Object.keys(reference));
    for (const key of Object.keys(reference)) {
      assert.deepEqual(ours[key], reference[key], key);
    }
    // What the scenario means.
    const a = reference;
    const count = (key: string) =>
      a[key].filter((l) => !l.startsWith("page") && !l.startsWith("more"))
        .length;
    const key = (q: Timeseries, order: string) =>
      `${JSON.stringify(q)} ${order}`;
    // a/*: 8 events, all in the TIMESTAMP partition.
    assert.equal(count(key(QUERIES[0], "ascending")), 8);
    // Source timestamps: every a and b event but one.
    assert.equal(count(key(QUERIES[2], "ascending")), 15);
    // None of b in a TIMESTAMP partition; c in none.
    assert.equal(count(key(QUERIES[6], "ascending")), 0);
    assert.equal(count(key(QUERIES[7], "ascending")), 0);
    assert.equal(count(key(QUERIES[8], "descending")), 0);
    // Spanning: only a/1 of the TIMESTAMP partition.
    assert.equal(count(key(QUERIES[9], "ascending")), 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
