/**
 * Interop, differential: the REFERENCE Event Server (hat-event-server
 * 0.9.44, LMDB backend) and OURS under the same storage rules
 * (`conditions`, `latest`), driven by the same reference client (peer.py)
 * over sockets; what a subscriber is notified of and what latest and
 * timeseries queries answer must be the same.
 */

import assert from "node:assert/strict";

import { startEventServer, type StorageRules } from "../../event_server/mod.ts";
import { lmdbBackend, seen, startReference } from "./_differential.ts";
import {
  clientArgs,
  type PeerQueryParams,
  type PeerQueryResult,
  type PeerRegisterEvent,
  startPeer,
} from "./peer.ts";

// The rules, in the reference's configuration and in ours.
const REFERENCE_RULES = {
  conditions: [
    {
      subscriptions: [["m", "*"]],
      condition: {
        type: "any",
        conditions: [
          { type: "json", data_path: "q", data_value: true },
          { type: "json", data_path: ["v", -1], data_type: "number" },
        ],
      },
    },
    {
      subscriptions: [["m", "n", "*"]],
      condition: { type: "json", data_path: [["n"]], data_value: 1 },
    },
  ],
  latest: { subscriptions: [["m", "*"], ["x"]] },
};
const RULES: StorageRules = {
  conditions: [
    {
      subscriptions: [["m", "*"]],
      condition: {
        type: "any",
        conditions: [
          { type: "json", dataPath: "q", dataValue: true },
          { type: "json", dataPath: ["v", -1], dataType: "number" },
        ],
      },
    },
    {
      subscriptions: [["m", "n", "*"]],
      condition: { type: "json", dataPath: [["n"]], dataValue: 1 },
    },
  ],
  latest: { subscriptions: [["m", "*"], ["x"]] },
};

const json = (type: string, text: string): PeerRegisterEvent => ({
  type: type.split("/"),
  sourceTimestamp: null,
  payload: { kind: "json", data: null, text },
});

// Registered one request each, in this order.
const EVENTS: PeerRegisterEvent[] = [
  json("m/a", '{"q": true}'), // stored
  json("m/a", '{"q": false}'), // refused: m/a's latest stays the first
  json("m/b", '{"v": [1, 2.5]}'), // stored: the last element is a number
  json("m/b", '{"v": [1, "x"]}'), // refused
  { type: ["m", "b"], sourceTimestamp: null, payload: null }, // refused
  json("m/n/1", '{"q": true, "n": 1.0}'), // stored: 1.0 == 1
  json("m/n/2", '{"q": true, "n": true}'), // stored: True == 1 in Python
  json("m/n/3", '{"q": true, "n": 2}'), // refused
  json("m/c", '{"v": 3, "q": 1}'), // stored: q == True; v[-1] is nowhere
  {
    type: ["m", "d"],
    sourceTimestamp: null,
    payload: { kind: "binary", type: "t", data: "00" },
  }, // refused: not JSON
  json("x", '"anything"'), // stored, with a latest entry
  json("y", "[]"), // stored, without one
];
const TYPES = [["m", "*"], ["x"], ["y"]];

// Registers EVENTS through a reference client and reports what a
// subscriber was notified of and what the queries answer.
async function drive(port: number) {
  await using sub = await startPeer(
    "client",
    clientArgs({ port, name: "sub", subscriptions: TYPES, payloadText: true }),
  );
  await using reg = await startPeer(
    "client",
    clientArgs({ port, name: "reg", payloadText: true }),
  );
  for (const event of EVENTS) {
    await reg.request({ cmd: "register", events: [event], withResponse: true });
  }
  const notified: string[] = [];
  while (notified.length < EVENTS.length) {
    notified.push(...(await sub.next("events")).events.map(seen));
  }
  const query = async (params: PeerQueryParams) =>
    (await reg.request<PeerQueryResult>({ cmd: "query", params })).events
      .map(seen);
  return {
    notified,
    latest: (await query({ kind: "latest", eventTypes: TYPES })).sort(),
    timeseries: await query({
      kind: "timeseries",
      eventTypes: TYPES,
      order: "ascending",
    }),
  };
}

Deno.test("storage rules: our Event Server answers as the reference's", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let reference;
    {
      await using server = await startReference(dir, {
        type: "event",
        name: "reference",
        server_id: 1,
        backend: lmdbBackend(`${dir}/reference.db`, REFERENCE_RULES),
        modules: [],
      });
      reference = await drive(server.port);
    }

    await using ours = await startEventServer({
      db: `${dir}/ours.db`,
      port: 0,
      storage: RULES,
    });
    const got = await drive(ours.addresses[0].port);

    assert.deepEqual(got, reference);
    // And what the scenario means: every event notified, the refused
    // ones in no answer.
    assert.equal(reference.notified.length, EVENTS.length);
    assert.deepEqual(reference.latest, [
      'm/a {"q": true}',
      'm/b {"v": [1, 2.5]}',
      'm/c {"v": 3, "q": 1}',
      'm/n/1 {"q": true, "n": 1.0}',
      'm/n/2 {"q": true, "n": true}',
      'x "anything"',
    ]);
    assert.equal(reference.timeseries.length, 7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
