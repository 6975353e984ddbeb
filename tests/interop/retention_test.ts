/**
 * Interop, differential: the REFERENCE Event Server (hat-event-server
 * 0.9.44, LMDB backend) and OURS (`cli/serve.ts --conf`) started from the
 * same configuration with retention limits (`max_entries` with
 * `min_entries` on a TIMESTAMP partition, `duration` with `min_entries`
 * on a SOURCE_TIMESTAMP one) and a cleanup every 0.2 s; after more than
 * the limits are registered through the reference's client and a cleanup
 * ran on both, the timeseries queries answer the same events (ids,
 * order).
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
  driveBoth,
  lmdbBackend,
  seenWithId,
} from "./_differential.ts";

const TIMESERIES = [
  {
    order_by: "TIMESTAMP",
    subscriptions: [["a", "*"]],
    limit: { max_entries: 5, min_entries: 2 },
  },
  {
    order_by: "SOURCE_TIMESTAMP",
    subscriptions: [["b", "*"]],
    // An hour: the source timestamps of 2001 are past it, that of 2096
    // is not.
    limit: { duration: 3600, min_entries: 3 },
  },
  // No limit: keeps every c.
  { order_by: "TIMESTAMP", subscriptions: [["c"]] },
];

const json = (i: number) => ({
  kind: "json" as const,
  data: null,
  text: `{"i": ${i}}`,
});

// 12 of a (one a request), 8 old b and a future one, 3 of c.
const REQUESTS: PeerRegisterEvent[][] = [
  ...Array.from({ length: 12 }, (_, i) => [{
    type: ["a", `${i % 3}`],
    sourceTimestamp: null,
    payload: json(i),
  }]),
  Array.from({ length: 8 }, (_, i) => ({
    type: ["b", `${i % 2}`],
    // Out of order: the cleanup goes by source timestamp.
    sourceTimestamp: { s: `${1_000_000_000 + (i * 5) % 8}`, us: 0 },
    payload: json(100 + i),
  })),
  [{
    type: ["b", "0"],
    sourceTimestamp: { s: "4000000000", us: 0 },
    payload: json(200),
  }],
  Array.from({ length: 3 }, (_, i) => ({
    type: ["c"],
    sourceTimestamp: null,
    payload: json(300 + i),
  })),
];

type Timeseries = Extract<PeerQueryParams, { kind: "timeseries" }>;
const QUERIES: Timeseries[] = [
  { kind: "timeseries", eventTypes: [["a", "*"]], orderBy: "timestamp" },
  { kind: "timeseries", eventTypes: [["b", "*"]], orderBy: "sourceTimestamp" },
  { kind: "timeseries", eventTypes: [["c"]], orderBy: "timestamp" },
  {
    kind: "timeseries",
    eventTypes: [["a", "1"]],
    orderBy: "timestamp",
    order: "ascending",
    maxResults: 1,
  },
];

// Registers REQUESTS, waits past a cleanup and answers QUERIES.
async function drive(server: DiffServer) {
  await using reg = await startPeer(
    "client",
    clientArgs({ port: server.port, name: "reg", payloadText: true }),
  );
  for (const events of REQUESTS) {
    await reg.request({ cmd: "register", events, withResponse: true });
  }
  // Flushed (0.05 s) and cleaned up (every 0.2 s) by then.
  await new Promise((r) => setTimeout(r, 1000));
  const answers: string[][] = [];
  for (const params of QUERIES) {
    const r = await reg.request<PeerQueryResult>({ cmd: "query", params });
    answers.push([...r.events.map(seenWithId), `moreFollows ${r.moreFollows}`]);
  }
  return answers;
}

Deno.test("retention: what the cleanup leaves is what the reference's leaves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "retention_test_" });
  try {
    const conf = (db: string) => ({
      type: "event",
      name: "diff",
      server_id: 1,
      backend: {
        ...lmdbBackend(`${dir}/${db}`, { timeseries: TIMESERIES }),
        cleanup_period: 0.2,
      },
      modules: [],
    });
    const { reference, ours } = await driveBoth(
      dir,
      conf("reference.db"),
      conf("ours.db"),
      drive,
    );
    assert.deepEqual(ours, reference);
    // What the scenario means: the 5 newest a; of b, the future one and
    // the 2 newest old ones (min_entries 3); every c.
    const payloads = (lines: string[]) =>
      lines.slice(0, -1).map((l) => /\{"i": (\d+)\}/.exec(l)![1]).join(",");
    assert.equal(payloads(reference[0]), "11,10,9,8,7");
    assert.equal(payloads(reference[1]), "200,103,106");
    assert.equal(payloads(reference[2]), "302,301,300");
    assert.equal(payloads(reference[3]), "7");
    assert.equal(reference[3].at(-1), "moreFollows true");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
