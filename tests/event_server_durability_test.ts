// The Event Server when its disk fills up, for real: a small tmpfs whose
// free space a filler file takes, while clients register with and without
// response and subscribers listen. An answered register is on disk; a
// failed commit answers failure and notifies no persisted subscriber; the
// server keeps serving and stores again once space returns.

import assert from "node:assert/strict";
import {
  type Client,
  connect,
  type Event,
  type RegisterEvent,
} from "../mod.ts";
import { type EventServer, startEventServer } from "../event_server/mod.ts";
import { mountTmpfs, TMPFS_UNAVAILABLE } from "./_tmpfs.ts";
import { setLogger } from "../common/log.ts";

const CLIENTS = 21;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const key = (e: Event) => `${e.id.session}/${e.id.instance}`;

interface Tagged {
  client: number;
  n: number;
  type: string[];
  pad: string;
}

async function allEvents(c: Client): Promise<Event[]> {
  const all: Event[] = [];
  let lastEventId = null;
  for (;;) {
    const page = await c.query({ kind: "server", serverId: 1, lastEventId });
    all.push(...page.events);
    if (!page.moreFollows) return all;
    lastEventId = page.events.at(-1)!.id;
  }
}

Deno.test({
  name: "a full disk loses no answered event and stores no wrong type",
  ignore: TMPFS_UNAVAILABLE !== null,
  async fn() {
    using fs = mountTmpfs(32 * 1024 * 1024);
    const db = `${fs.dir}/events.db`;
    const errors: string[] = [];
    setLogger({
      debug() {},
      warn() {},
      error: (message) => void errors.push(message),
    });
    try {
      await run(db, fs, errors);
    } finally {
      setLogger(null);
    }
  },
});

async function run(
  db: string,
  fs: { fill(): number; free(): void },
  errors: string[],
) {
  let server: EventServer = await startEventServer({
    db,
    port: 0,
    flushDelay: 20,
  });
  const persisted: Event[] = [];
  const early: Event[] = [];
  const addr = server.addresses[0];
  const subscribers = [
    await connect(addr, "persisted", {
      subscriptions: [["load", "*"]],
      persisted: true,
      eventsCb: (_c, events) => void persisted.push(...events),
    }),
    await connect(addr, "early", {
      subscriptions: [["load", "*"]],
      eventsCb: (_c, events) => void early.push(...events),
    }),
  ];
  const writers = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) => connect(addr, `writer${i}`)),
  );
  const acked: Event[] = [];
  let failures = 0;
  let n = 0;
  const pad = "p".repeat(3000);
  const bigPad = "b".repeat(8000);
  // Types new in each phase, reused within it and in the next: a type
  // first added by a failed commit comes again in a later one.
  let phase = 0;
  const event = (client: number): RegisterEvent => {
    const i = n++;
    const type = i % 3 === 0
      ? ["load", String(client), String(i % 5)]
      : ["load", "phase", String(phase + (i % 2)), String(i % 7)];
    const data: Tagged = { client, n: i, type, pad };
    return { type, payload: { kind: "json", data: data as never } };
  };

  let stop = false;
  const loops = writers.map(async (w, client) => {
    while (!stop) {
      const events = await w.register([event(client), event(client)], true);
      if (events) acked.push(...events);
      else failures++;
    }
  });
  // Requests without response, enough for a commit to outgrow SQLite's
  // page cache: out of space, it fails midway through a register.
  const burst = () => {
    for (const client of [0, 10]) {
      for (let i = 0; i < 300; i++) {
        const e = event(client);
        (e.payload!.data as unknown as Tagged).pad = bigPad;
        writers[client].register([e], false);
      }
    }
  };

  let ackedAfterFree = 0;
  // The space returns at once or after a while: a commit that follows a
  // failed one may succeed, or fail too.
  for (const full of [5, 30, 400, 5, 100, 5]) {
    phase++;
    fs.fill();
    const f = failures;
    // Commits may go on for a while in the WAL's reusable space.
    for (let tries = 0; failures === f; tries++) {
      assert.ok(tries < 50, "the full disk failed no request");
      burst();
      await delay(50);
    }
    await delay(full);
    fs.free();
    const a = acked.length;
    await delay(300);
    ackedAfterFree += acked.length - a;
  }
  stop = true;
  await Promise.all(loops);
  // Requests of one connection are handled in order: an answered one
  // means the bursts sent without response before it are in too.
  await Promise.all(writers.map((w) => w.register([{ type: ["sync"] }], true)));

  assert.ok(failures > 0, "the full disk failed no request");
  assert.ok(ackedAfterFree > 0, "nothing stored once the space returned");
  assert.ok(errors.some((m) => /commit failed/.test(m)), errors.join("\n"));

  // What the running server answers is what it stored.
  const check = await connect(addr, "check");
  const before = await allEvents(check);
  const latestBefore = await check.query({ kind: "latest" });
  await check.asyncClose();
  for (const c of [...writers, ...subscribers]) await c.asyncClose();
  await server.asyncClose();

  server = await startEventServer({ db, port: 0 });
  try {
    const c = await connect(server.addresses[0], "after");
    const stored = await allEvents(c);
    const latestAfter = await c.query({ kind: "latest" });
    await c.asyncClose();
    const byId = new Map(stored.map((e) => [key(e), e]));

    let lost = 0;
    for (const e of acked) {
      if (JSON.stringify(byId.get(key(e))) !== JSON.stringify(e)) lost++;
    }
    let notifiedLost = 0;
    for (const e of persisted) {
      if (JSON.stringify(byId.get(key(e))) !== JSON.stringify(e)) {
        notifiedLost++;
      }
    }
    let wrongType = 0;
    for (const e of stored) {
      if (e.type[0] !== "load") continue;
      const tagged = e.payload?.data as unknown as Tagged;
      if (JSON.stringify(tagged.type) !== JSON.stringify(e.type)) wrongType++;
    }
    // Ids given once: an id notified early names one event, stored or not.
    const early1 = new Map<string, string>();
    let reused = 0;
    for (const e of early) {
      const text = JSON.stringify(e);
      if ((early1.get(key(e)) ?? text) !== text) reused++;
      early1.set(key(e), text);
      const s = byId.get(key(e));
      if (s && JSON.stringify(s) !== text) reused++;
    }
    console.log(
      `${acked.length} acknowledged, ${failures} failed, ` +
        `${persisted.length} notified persisted, ${stored.length} stored; ` +
        `lost ${lost}, notified but not stored ${notifiedLost}, ` +
        `wrong type ${wrongType}, ids reused ${reused}`,
    );
    assert.deepEqual(
      { lost, notifiedLost, wrongType, reused },
      { lost: 0, notifiedLost: 0, wrongType: 0, reused: 0 },
    );
    // The running server's state was the database's.
    // (after it, the shutdown's and the restart's own events).
    assert.deepEqual(before, stored.slice(0, before.length));
    assert.deepEqual(
      latestBefore.events.filter((e) => e.type[0] === "load"),
      latestAfter.events.filter((e) => e.type[0] === "load"),
    );
  } finally {
    await server.asyncClose();
  }
}
