// Retention's cost and the database file around a cleanup: fills --n
// events (JSON numbers over --types types, --batch a commit,
// synchronous "normal") into a SqliteStore with one TIMESTAMP partition
// over `*` limited to `maxEntries` --keep (default n / 10), then runs
// SqliteStore.cleanup (256 entries a step, as the Event Server) until it
// has nothing more to do, and reports:
//
// - the cleanup's time: the first steps only count the entries (once per
//   start of the store), then µs per deleted event and s per million;
// - the file's bytes per stored event (WAL checkpointed) after the fill,
//   after the cleanup (freed pages stay in the file, on its free list),
//   what a VACUUM would make of it (VACUUM INTO another file), and after
//   registering as many events as were deleted (they reuse the pages).
//
// With --unmasked, the fill is into a store without partitions (as one
// that ran without storage rules), and the store with the partition is
// opened only for the cleanup: it also reports that open (the partition's
// index and that of the events whose masks are to set are built) and
// the first cleanup steps, which give the events their masks.
//
//   deno run -A bench/retention.ts [--n=1000000] [--keep=N/10]
//     [--types=1000] [--batch=1000] [--dir=DIR] [--unmasked]

import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "./_workloads.ts";
import { SqliteStore } from "../store/mod.ts";
import type { RegisterEvent } from "../common/event/mod.ts";

const args = parseArgs(Deno.args);
const n = Number(args.get("n") ?? 1_000_000);
const keep = Number(args.get("keep") ?? Math.floor(n / 10));
const typeCount = Number(args.get("types") ?? 1000);
const batch = Number(args.get("batch") ?? 1000);
const dir = args.get("dir") ?? await Deno.makeTempDir({ prefix: "retention_" });
const path = `${dir}/retention.db`;

const storage = {
  timeseries: [{
    orderBy: "timestamp" as const,
    subscriptions: [["*"]],
    limit: { maxEntries: keep },
  }],
};
const unmasked = args.has("unmasked");
const open = (withStorage = true) =>
  SqliteStore.open({
    path,
    serverId: 1,
    synchronous: "normal",
    storage: withStorage ? storage : undefined,
  });

let value = 0;
function fill(count: number, withStorage = true): number {
  const start = performance.now();
  using store = open(withStorage);
  for (let done = 0; done < count; done += batch) {
    const events: RegisterEvent[] = [];
    for (let i = 0; i < Math.min(batch, count - done); i++) {
      value++;
      events.push({
        type: ["measurement", String(value % typeCount)],
        payload: { kind: "json", data: value / 4 },
      });
    }
    store.register(events);
    store.flush();
  }
  return performance.now() - start;
}

interface FileStats {
  events: number;
  bytes: number;
  pages: number;
  free: number;
  pageSize: number;
}

// The file's figures; `into`: those of a VACUUM INTO that file.
function stats(into?: string): FileStats {
  let db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    if (into !== undefined) {
      db.exec(`VACUUM INTO '${into}'`);
      db.close();
      db = new DatabaseSync(into);
    }
    const get = (sql: string) =>
      Number(Object.values(db.prepare(sql).get()!)[0]);
    return {
      events: get("SELECT count(*) FROM events"),
      bytes: Deno.statSync(into ?? path).size,
      pages: get("PRAGMA page_count"),
      free: get("PRAGMA freelist_count"),
      pageSize: get("PRAGMA page_size"),
    };
  } finally {
    db.close();
  }
}

function line(what: string, s: FileStats): string {
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  return `| ${what} | ${s.events.toLocaleString("en")} | ${mib(s.bytes)} | ${
    (s.bytes / s.events).toFixed(0)
  } | ${((s.pages - s.free) * s.pageSize / s.events).toFixed(0)} | ${
    s.free.toLocaleString("en")
  } |`;
}

console.log(
  `${n.toLocaleString("en")} events, ${typeCount} types, maxEntries ${
    keep.toLocaleString("en")
  }, in ${dir}`,
);
const fillMs = fill(n, !unmasked);
console.log(
  `fill: ${(fillMs / 1000).toFixed(1)} s (${
    Math.round(n / fillMs * 1000).toLocaleString("en")
  } events/s)`,
);
const before = stats();

let countMs = 0;
let cleanMs = 0;
let steps = 0;
let removed = 0;
let deleted = 0;
const stepMs: number[] = [];
let openMs = 0;
let maskMs = 0;
let masked = 0;
const maskStepMs: number[] = [];
{
  const opening = performance.now();
  using store = open();
  openMs = performance.now() - opening;
  let counting = true;
  for (;;) {
    const start = performance.now();
    const step = store.cleanup();
    const ms = performance.now() - start;
    if (step.remasked > 0) {
      maskMs += ms;
      maskStepMs.push(ms);
      masked += step.remasked;
      continue;
    }
    if (counting && step.removed === 0 && step.deleted === 0 && step.more) {
      countMs += ms;
      continue;
    }
    counting = false;
    cleanMs += ms;
    stepMs.push(ms);
    steps++;
    removed += step.removed;
    deleted += step.deleted;
    if (!step.more) break;
  }
}
const after = stats();
const vacuumed = stats(`${dir}/vacuumed.db`);
fill(deleted);
const refilled = stats();

stepMs.sort((a, b) => a - b);
maskStepMs.sort((a, b) => a - b);
const q = (p: number, ms = stepMs) =>
  ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
if (unmasked) {
  console.log(
    `open with the partition (its index and the index of the events ` +
      `without a mask built): ${(openMs / 1000).toFixed(2)} s`,
  );
  console.log(
    `masks set: ${masked.toLocaleString("en")} events in ${
      (maskMs / 1000).toFixed(2)
    } s, ${maskStepMs.length} steps (p50 ${
      q(0.5, maskStepMs).toFixed(1)
    } ms, p99 ${q(0.99, maskStepMs).toFixed(1)} ms): ${
      (maskMs * 1000 / masked).toFixed(1)
    } µs per event`,
  );
}
console.log(
  `counting entries (once per start): ${(countMs / 1000).toFixed(2)} s`,
);
console.log(
  `cleanup: ${removed.toLocaleString("en")} entries out, ${
    deleted.toLocaleString("en")
  } events deleted in ${(cleanMs / 1000).toFixed(2)} s, ${steps} steps ` +
    `(p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms): ` +
    `${(cleanMs * 1000 / deleted).toFixed(1)} µs per deleted event ` +
    `(as many s per million)`,
);
console.log(
  "| file | events | MiB | bytes per event (file) | bytes per event (pages in use) | free pages |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
console.log(line("after the fill", before));
console.log(line("after the cleanup", after));
console.log(line("the same, VACUUM INTO another file", vacuumed));
console.log(
  line(`after ${deleted.toLocaleString("en")} more events`, refilled),
);
if (!args.has("dir")) await Deno.remove(dir, { recursive: true });
