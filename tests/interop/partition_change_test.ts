/**
 * Interop, differential: the REFERENCE Event Server (hat-event-server
 * 0.9.44, LMDB backend) and OURS (`cli/serve.ts --conf`), each restarted
 * twice on its own database with a changed `timeseries` configuration:
 *
 * 1. `a/*` and `b/*` by timestamp, no limit; 8 of a, 8 of b, 3 of c
 *    (which no partition keeps).
 * 2. `a/*` with `max_entries` 3 (the same partition: its limit applies to
 *    the events stored before), `c` with `max_entries` 2 (new: it starts
 *    empty, the earlier c are not in it); `b/*` gone. 2 more a, 3 more c.
 * 3. `b/*` back.
 *
 * After each phase and a cleanup, the timeseries and latest queries
 * answer the same events (ids, order) on both: a removed partition's
 * entries stay, out of the queries' reach, and are shown again when the
 * partition comes back.
 */

import assert from "node:assert/strict";

import {
  clientArgs,
  type PeerQueryParams,
  type PeerQueryResult,
  type PeerRegisterEvent,
  startPeer,
} from "./peer.ts";
import {
  type DiffServer,
  lmdbBackend,
  seenWithId,
  startOurs,
  startReference,
} from "./_differential.ts";

const A = { order_by: "TIMESTAMP", subscriptions: [["a", "*"]] };
const B = { order_by: "TIMESTAMP", subscriptions: [["b", "*"]] };
const A3 = { ...A, limit: { max_entries: 3 } };
const C2 = {
  order_by: "TIMESTAMP",
  subscriptions: [["c"]],
  limit: { max_entries: 2 },
};

const json = (i: number) => ({
  kind: "json" as const,
  data: null,
  text: `{"i": ${i}}`,
});

const events = (
  type: (i: number) => string[],
  from: number,
  n: number,
): PeerRegisterEvent[][] =>
  Array.from({ length: n }, (_, i) => [{
    type: type(i),
    sourceTimestamp: null,
    payload: json(from + i),
  }]);

const q = (types: string[][]): PeerQueryParams => ({
  kind: "timeseries",
  eventTypes: types,
  orderBy: "timestamp",
});

const PHASES: {
  timeseries: unknown[];
  requests: PeerRegisterEvent[][];
  queries: PeerQueryParams[];
}[] = [
  {
    timeseries: [A, B],
    requests: [
      ...events((i) => ["a", `${i % 2}`], 0, 8),
      ...events((i) => ["b", `${i % 2}`], 100, 8),
      ...events(() => ["c"], 200, 3),
    ],
    queries: [
      q([["a", "*"]]),
      q([["b", "*"]]),
      q([["c"]]),
      // Events no partition keeps are not stored but for the latest.
      { kind: "server", serverId: 1, persisted: true },
    ],
  },
  {
    timeseries: [A3, C2],
    requests: [
      ...events((i) => ["a", `${i % 2}`], 10, 2),
      ...events(() => ["c"], 210, 3),
    ],
    queries: [
      q([["a", "*"]]),
      q([["b", "*"]]),
      q([["c"]]),
      { kind: "latest", eventTypes: [["a", "*"], ["b", "*"], ["c"]] },
    ],
  },
  {
    timeseries: [A3, C2, B],
    requests: [],
    queries: [q([["a", "*"]]), q([["c"]]), q([["b", "*"]])],
  },
];

// The phases on one kind of server, each a restart on `db`.
async function drive(
  start: (conf: Record<string, unknown>) => Promise<DiffServer>,
  db: string,
): Promise<string[][]> {
  const answers: string[][] = [];
  for (const phase of PHASES) {
    await using server = await start({
      type: "event",
      name: "diff",
      server_id: 1,
      backend: {
        ...lmdbBackend(db, { timeseries: phase.timeseries }),
        cleanup_period: 0.2,
      },
      modules: [],
    });
    await using reg = await startPeer(
      "client",
      clientArgs({ port: server.port, name: "reg", payloadText: true }),
    );
    for (const events of phase.requests) {
      await reg.request({ cmd: "register", events, withResponse: true });
    }
    // Flushed (0.05 s) and cleaned up (every 0.2 s) by then.
    await new Promise((r) => setTimeout(r, 1000));
    for (const params of phase.queries) {
      const r = await reg.request<PeerQueryResult>({ cmd: "query", params });
      answers.push(r.events.map(seenWithId).sort());
    }
  }
  return answers;
}

Deno.test("partition change: a restart with other partitions keeps and drops what the reference's does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "partition_change_test_" });
  try {
    const reference = await drive(
      (conf) => startReference(dir, conf),
      `${dir}/reference.db`,
    );
    const ours = await drive(
      (conf) => startOurs(dir, conf),
      `${dir}/ours.db`,
    );
    const payloads = (lines: string[]) =>
      lines.map((l) => /\{"i": (\d+)\}/.exec(l)?.[1] ?? "-")
        .sort((x, y) => (x === "-" ? -1 : +x) - (y === "-" ? -1 : +y))
        .join(",");
    // What the scenario means, on the reference.
    assert.deepEqual(reference.map(payloads), [
      "0,1,2,3,4,5,6,7",
      "100,101,102,103,104,105,106,107",
      "",
      // The server's own events (its latest), all of a and b, c's latest.
      "-,-,0,1,2,3,4,5,6,7,100,101,102,103,104,105,106,107,202",
      // Phase 2: the newest 3 a; b's partition gone; only the new c.
      "7,10,11",
      "",
      "211,212",
      // Latest: a/0, a/1, b/0, b/1, c.
      "10,11,106,107,212",
      // Phase 3: b's partition back, with its entries.
      "7,10,11",
      "211,212",
      "100,101,102,103,104,105,106,107",
    ]);
    assert.deepEqual(ours, reference);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
