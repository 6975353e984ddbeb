/**
 * Interop: OUR sync client (event_server/_sync_client.ts) against the
 * REFERENCE's Event Server (hat-event-server 0.9.44, LMDB, standalone and
 * so operational), as a standby Event Server of a monitor group syncs
 * from its peers. The target is an in-memory list of what was written.
 */

import assert from "node:assert/strict";

import { type Client, connect } from "../../client.ts";
import type { Event, EventId, Status } from "../../common/event/mod.ts";
import {
  startSync,
  type SyncedState,
  type SyncTarget,
} from "../../event_server/_sync_client.ts";
import { startReferenceServer } from "./_reference_server.ts";
import { plainEvents } from "../_store_contract.ts";

const PEER = 1;
const OWN = 2;

/** Events written, and the last id of each server among them. */
class ListTarget implements SyncTarget {
  events: Event[] = [];
  writes = 0;
  getLastEventId(serverId: number): EventId {
    const last = this.events.findLast((e) => e.id.server === serverId);
    return last?.id ?? { server: serverId, session: 0, instance: 0 };
  }
  write(events: Event[]): void {
    this.writes++;
    this.events.push(...events);
  }
}

async function operational(port: number, name: string): Promise<Client> {
  let status: Status = "standby";
  const client = await connect({ hostname: "127.0.0.1", port }, name, {
    statusCb: (_c, s) => void (status = s),
  });
  status = client.status;
  for (let i = 0; status !== "operational"; i++) {
    if (i > 400) throw new Error(`reference server still ${status}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return client;
}

/** Every event of the peer's own server id, persisted, in id order. */
async function peerEvents(client: Client): Promise<Event[]> {
  const all: Event[] = [];
  let lastEventId: EventId | null = null;
  for (;;) {
    const r = await client.query({
      kind: "server",
      serverId: PEER,
      persisted: true,
      lastEventId,
    });
    all.push(...r.events);
    if (!r.moreFollows) return all;
    lastEventId = all.at(-1)!.id;
  }
}

const key = (e: Event) => `${e.id.server}/${e.id.session}/${e.id.instance}`;

async function until(what: string, ok: () => boolean | Promise<boolean>) {
  for (let i = 0; !(await ok()); i++) {
    if (i > 400) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

Deno.test("sync from the reference's Event Server: its history page by page, then its notifications, each once", async () => {
  await using ref = await startReferenceServer({ serverId: PEER });
  await using client = await operational(ref.port, "writer");
  // History: 60 sessions of 100 events (more than one page of 4,096).
  for (let s = 0; s < 60; s++) {
    await client.register(
      Array.from({ length: 100 }, (_, i) => ({
        type: ["a", String(s % 7)],
        payload: { kind: "json" as const, data: { s, i } },
      })),
      true,
    );
  }
  // The reference answers before its flush (every 50 ms here), and a
  // sync sees only flushed events.
  await new Promise((r) => setTimeout(r, 200));
  const target = new ListTarget();
  const states: [SyncedState, number | null][] = [];
  // Registers meanwhile: they reach the sync by notification, by the
  // query, or both; each must be written once.
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      await client.register([{
        type: ["b"],
        payload: { kind: "json", data: i },
      }], true);
    }
  })();
  await using sync = await startSync(
    { hostname: "127.0.0.1", port: ref.port },
    {
      name: "ours",
      serverId: OWN,
      peerServerId: PEER,
      target,
      syncedCb: (state, count) => void states.push([state, count]),
    },
  );
  await until("SYNCED", () => sync.synced === "SYNCED");
  writing = false;
  await writer;
  await client.register([{ type: ["c"] }], true);
  const expected = await peerEvents(client);
  await until(
    "every event",
    () => target.events.length >= expected.length,
  );
  assert.deepEqual(target.events.map(key), expected.map(key));
  // (Payloads as their texts: the sync keeps what the peer sent.)
  assert.deepEqual(plainEvents(target.events), expected);
  assert.ok(target.writes > 2, `${target.writes} writes`);
  assert.deepEqual(states.map(([s]) => s), ["CONNECTED", "SYNCING", "SYNCED"]);
  assert.ok(states[2][1]! >= 6000, `count ${states[2][1]}`);
  // The reference is operational: its engine registered our states.
  const { events: [synced] } = await client.query({
    kind: "latest",
    eventTypes: [["event", String(OWN), "synced", String(PEER)]],
  });
  assert.deepEqual(synced.payload, {
    kind: "json",
    data: { state: "SYNCED", count: states[2][1] },
  });
  // Sessions are never split between writes.
  const sessionsOf = new Map<number, number>();
  let previous: number | null = null;
  for (const e of target.events) {
    if (e.id.session !== previous) {
      sessionsOf.set(e.id.session, (sessionsOf.get(e.id.session) ?? 0) + 1);
      previous = e.id.session;
    }
  }
  assert.ok([...sessionsOf.values()].every((n) => n === 1));
});

Deno.test("sync again from the reference's Event Server: only what the target lacks", async () => {
  await using ref = await startReferenceServer({ serverId: PEER });
  await using client = await operational(ref.port, "writer");
  for (let s = 0; s < 5; s++) {
    await client.register([{ type: ["a"] }, { type: ["b"] }], true);
  }
  // The reference answers before its flush (every 50 ms here), and a
  // sync sees only flushed events.
  await new Promise((r) => setTimeout(r, 200));
  const target = new ListTarget();
  {
    await using sync = await startSync({
      hostname: "127.0.0.1",
      port: ref.port,
    }, {
      name: "ours",
      serverId: OWN,
      peerServerId: PEER,
      target,
    });
    await until("SYNCED", () => sync.synced === "SYNCED");
  }
  const before = target.events.length;
  assert.ok(before >= 10, `${before} events`);
  await client.register([{ type: ["later"] }], true);
  await new Promise((r) => setTimeout(r, 200));
  const states: [SyncedState, number | null][] = [];
  await using sync = await startSync(
    { hostname: "127.0.0.1", port: ref.port },
    {
      name: "ours",
      serverId: OWN,
      peerServerId: PEER,
      target,
      syncedCb: (state, count) => void states.push([state, count]),
    },
  );
  await until("SYNCED", () => sync.synced === "SYNCED");
  // What the reference registered since (its engine's events of our
  // connections among them), and nothing it had already written.
  const added = target.events.slice(before);
  assert.ok(added.some((e) => e.type[0] === "later"));
  // The count is what the query brought; notifications (the engine's
  // events of this very sync among them) may follow.
  assert.deepEqual(states.map(([s]) => s), ["CONNECTED", "SYNCING", "SYNCED"]);
  const count = states[2][1]!;
  assert.ok(count >= 1 && count <= added.length, `${count} of ${added.length}`);
  const expected = await peerEvents(client);
  assert.deepEqual(
    plainEvents(target.events),
    expected.slice(0, target.events.length),
  );
});

Deno.test("sync from the reference's Event Server ends when it goes away", async () => {
  const ref = await startReferenceServer({ serverId: PEER });
  const target = new ListTarget();
  await using sync = await startSync(
    { hostname: "127.0.0.1", port: ref.port },
    {
      name: "ours",
      serverId: OWN,
      peerServerId: PEER,
      target,
      pingDelay: 200,
      pingTimeout: 200,
    },
  );
  await until("SYNCED", () => sync.synced === "SYNCED");
  await ref.stop();
  await sync.waitClosed();
});
