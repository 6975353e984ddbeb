import assert from "node:assert/strict";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { timestampToBytes } from "../common/event/mod.ts";
import { SqliteStore, StoreError } from "../store/mod.ts";
import { WriterThread } from "../store/_writer_thread.ts";

// One event's row (see store/_row_writer.ts), without type or payload.
function row(seq: number, session: number): SQLInputValue[] {
  const t = timestampToBytes({ s: 1_700_000_000 + seq, us: 0 });
  return [seq, 1, session, 1, 1, t, null, null, null, null, null];
}

Deno.test("writer thread: batches posted back to back are written in order and settle each with its own outcome", async () => {
  const dir = await Deno.makeTempDir({ prefix: "writer_thread_test_" });
  const path = `${dir}/events.db`;
  try {
    SqliteStore.open({ path, serverId: 1 }).close();
    const writer = new WriterThread(path, "full");
    try {
      const t = timestampToBytes({ s: 1_700_000_000, us: 0 });
      // The second batch repeats the first one's sequence number: it
      // fails, and only it.
      for (const [seq, session] of [[1, 1], [1, 2], [2, 3], [3, 4]]) {
        // Two at once (the one written and the next), the next ones as
        // earlier ones are committed, before they are settled.
        while (!writer.free) await writer.wait(writer.progress);
        writer.post(row(seq, session), "[]", [1, session, 1, t]);
      }
      assert.ok(writer.settled < 4, "posted before the first ones settled");
      writer.waitSync();
      assert.equal(writer.settled, 4);
      assert.equal(writer.outcome(0), null);
      const error = writer.outcome(1);
      assert.ok(error instanceof StoreError);
      assert.match(error.message, /UNIQUE constraint failed: events\.seq/);
      assert.equal(writer.outcome(2), null);
      assert.equal(writer.outcome(3), null);
    } finally {
      writer.close();
    }
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const sessions = db.prepare("SELECT session FROM events ORDER BY seq")
        .all().map((r) => r.session);
      assert.deepEqual(sessions, [1, 3, 4]);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
