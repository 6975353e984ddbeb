import assert from "node:assert/strict";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { timestampToBytes } from "../common/event/mod.ts";
import { SqliteStore, StoreError } from "../store/mod.ts";
import { WriterThread } from "../store/_writer_thread.ts";
import {
  CHECKPOINTER_CLOSED,
  CHECKPOINTER_NONE,
  CHECKPOINTER_RUNNING,
} from "../store/_writer_protocol.ts";

// One event's row (see store/_row_writer.ts), without type or payload.
function row(seq: number, session: number): SQLInputValue[] {
  const t = timestampToBytes({ s: 1_700_000_000 + seq, us: 0 });
  return [seq, 1, session, 1, 1, t, null, null, null, null, null];
}

// A program opening a store with the writer thread on the file named by
// its argument, registering one request (a new type: this thread
// commits it) then five (the writer thread's), then running `tail`.
function storeProgram(tail: string): string {
  return `
    import { SqliteStore } from ${
    JSON.stringify(new URL("../store/mod.ts", import.meta.url).href)
  };
    const store = SqliteStore.open({ path: Deno.args[0], serverId: 1, writerThread: true });
    store.register([{ type: ["a"] }]);
    store.flush();
    for (let i = 0; i < 5; i++) store.register([{ type: ["a"] }]);
    ${tail}
  `;
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
        const r = row(seq, session);
        writer.post(r, [seq, seq, 1, session, r[5]], "[]", [
          1,
          session,
          1,
          t,
        ]);
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
      // A stream of batches: the sync thread, once it runs, syncs the log
      // while the writer thread writes the next one.
      for (let seq = 4; seq < 64; seq++) {
        while (!writer.free) await writer.wait(writer.progress);
        const r = row(seq, seq + 1);
        writer.post(r, [seq, seq, 1, seq + 1, r[5]], "[]", [
          1,
          seq + 1,
          1,
          t,
        ]);
      }
      writer.waitSync();
      assert.equal(writer.settled, 64);
      // (Outcomes are kept for the last WRITER_QUEUE batches: the rows
      // below tell the others.)
      assert.equal(writer.outcome(63), null);
    } finally {
      writer.close();
    }
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const sessions = db.prepare("SELECT session FROM events ORDER BY seq")
        .all().map((r) => r.session);
      assert.deepEqual(sessions, [
        1,
        ...Array.from({ length: 62 }, (_, i) => i + 3),
      ]);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writer thread: under load, a thread of its own copies the log into the database file, and closes with the writer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "writer_thread_test_" });
  const path = `${dir}/events.db`;
  try {
    SqliteStore.open({ path, serverId: 1 }).close();
    const empty = (await Deno.stat(path)).size;
    const writer = new WriterThread(path, "full");
    const t = timestampToBytes({ s: 1_700_000_000, us: 0 });
    const payload = "x".repeat(200);
    let copied = 0;
    try {
      assert.equal(writer.checkpointer, CHECKPOINTER_NONE);
      // 100 batches of 20 rows, back to back: fewer pages of log than
      // the 1,000 past which a commit copies them itself (without the
      // checkpointer thread, nothing is copied before the close).
      for (let batch = 0; batch < 100; batch++) {
        const values: SQLInputValue[] = [];
        for (let i = 0; i < 20; i++) {
          const r = row(batch * 20 + i + 1, batch + 1);
          r[5] = t;
          r[7] = 1;
          r[9] = payload;
          values.push(...r);
        }
        while (!writer.free) await writer.wait(writer.progress);
        writer.post(
          values,
          [batch * 20 + 1, batch * 20 + 20, 1, batch + 1, t],
          "[]",
          [
            1,
            batch + 1,
            20,
            t,
          ],
        );
      }
      writer.waitSync();
      assert.equal(writer.settled, 100);
      assert.equal(writer.checkpointer, CHECKPOINTER_RUNNING);
      // Copied while the writer was open: its own commits did not.
      for (let i = 0; i < 100 && copied < 400_000; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        copied = (await Deno.stat(path)).size - empty;
      }
    } finally {
      writer.close();
    }
    assert.ok(copied >= 400_000, `${copied} bytes copied before the close`);
    assert.equal(writer.checkpointer, CHECKPOINTER_CLOSED);
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const { n, sessions } = db.prepare(
        "SELECT count(*) AS n, count(DISTINCT session) AS sessions FROM events",
      ).get()!;
      assert.deepEqual([n, sessions], [2000, 100]);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writer thread: a program allowed to read and write the database file only still commits everything", async () => {
  const dir = await Deno.makeTempDir({ prefix: "writer_thread_test_" });
  const path = `${dir}/events.db`;
  const root = new URL("../", import.meta.url).pathname;
  const script = storeProgram(`
    const { committed, failed, error } = await store.flushAsync();
    console.log(JSON.stringify({ committed: committed.length, failed: failed.length, error: error?.message ?? null }));
    store.close();
  `);
  try {
    // Without read access to the threads' modules, the store does
    // without them (it says so); with it, but not to the database's
    // log, SQLite syncs the writer thread's commits itself.
    for (
      const [read, warning] of [[path, true], [`${path},${root}`, false]]
    ) {
      await Deno.remove(path).catch(() => {});
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          `--allow-read=${read}`,
          `--allow-write=${path}`,
          "-",
          path,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = out.stdin.getWriter();
      await writer.write(new TextEncoder().encode(script));
      await writer.close();
      const { code, stdout, stderr } = await out.output();
      const errors = new TextDecoder().decode(stderr);
      assert.equal(code, 0, errors);
      assert.deepEqual(
        JSON.parse(new TextDecoder().decode(stdout)),
        { committed: 5, failed: 0, error: null },
      );
      assert.equal(/writer thread cannot start/.test(errors), warning, errors);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writer thread: a store with its threads closes and lets its program end", async () => {
  const dir = await Deno.makeTempDir({ prefix: "writer_thread_test_" });
  const script = storeProgram(`
    console.log((await store.flushAsync()).committed.length);
    store.close();
  `);
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", script, `${dir}/events.db`],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    // A thread left waiting would keep it running.
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const { code, stdout } = await child.output();
    clearTimeout(timer);
    assert.equal(code, 0, "the program did not end once the store closed");
    assert.equal(new TextDecoder().decode(stdout).trim(), "5");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
