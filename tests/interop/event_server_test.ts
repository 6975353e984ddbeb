/**
 * Interop: REFERENCE clients (hat-event 0.9.44 driven by peer.py) against
 * OUR Event Server (event_server/), over loopback sockets.
 */

import assert from "node:assert/strict";

import { startEventServer } from "../../event_server/mod.ts";
import {
  clientArgs,
  type PeerEvent,
  type PeerQueryResult,
  type PeerRegisterEvent,
  startPeer,
  startTap,
} from "./peer.ts";

// JSON texts as the reference writes them (json.dumps): keys "10" before
// "2", a float 2.0, an escaped non-ASCII character, nesting.
const TEXTS = [
  '{"10": 1, "2": 2, "x": 2.0, "u": "\\u00e9"}',
  '[1.0, {"b": [2.5, -0.0], "a": {"9": null, "1": true}}, 1e+100]',
];

function texts(events: PeerEvent[]): (string | undefined)[] {
  return events.map((e) =>
    e.payload?.kind === "json" ? e.payload.text : undefined
  );
}

// Whether `bytes` holds `part`.
function holds(bytes: Uint8Array, part: Uint8Array): boolean {
  outer: for (let i = 0; i + part.length <= bytes.length; i++) {
    for (let j = 0; j < part.length; j++) {
      if (bytes[i + j] !== part[j]) continue outer;
    }
    return true;
  }
  return false;
}

Deno.test("a reference client gets back the JSON text it sent, byte for byte", async () => {
  await using server = await startEventServer({ db: ":memory:", port: 0 });
  // Every frame through a tap: the bytes themselves are compared too.
  await using tap = startTap(server.addresses[0], { keepData: true });
  const port = tap.port;
  await using sub = await startPeer(
    "client",
    clientArgs({
      port,
      name: "sub",
      subscriptions: [["t", "*"]],
      payloadText: true,
    }),
  );
  await using reg = await startPeer(
    "client",
    clientArgs({ port, name: "reg", payloadText: true }),
  );
  const events: PeerRegisterEvent[] = TEXTS.map((text, i) => ({
    type: ["t", String(i)],
    sourceTimestamp: null,
    payload: { kind: "json", data: null, text },
  }));
  const registered = await reg.request<PeerEvent[]>({
    cmd: "register",
    events,
    withResponse: true,
  });
  assert.deepEqual(texts(registered), TEXTS, "register response");

  const notified = (await sub.next("events")).events;
  assert.deepEqual(texts(notified), TEXTS, "notification");

  const latest = await reg.request<PeerQueryResult>({
    cmd: "query",
    params: { kind: "latest", eventTypes: [["t", "*"]] },
  });
  assert.deepEqual(texts(latest.events), TEXTS, "latest query");

  const timeseries = await reg.request<PeerQueryResult>({
    cmd: "query",
    params: {
      kind: "timeseries",
      eventTypes: [["t", "*"]],
      order: "ascending",
    },
  });
  assert.deepEqual(texts(timeseries.events), TEXTS, "timeseries query");

  // On the wire: the register request held each text's bytes, and so did
  // the register response, the notification and both query results.
  for (const text of TEXTS) {
    const bytes = new TextEncoder().encode(text);
    const frames = (dir: "c2s" | "s2c") =>
      tap.frames.filter((f) => f.dir === dir && holds(f.data!, bytes))
        .map((f) => f.type);
    assert.deepEqual(frames("c2s"), ["HatEventer.MsgRegisterReq"], text);
    assert.deepEqual(frames("s2c").sort(), [
      "HatEventer.MsgEventsNotify",
      "HatEventer.MsgQueryRes",
      "HatEventer.MsgQueryRes",
      "HatEventer.MsgRegisterRes",
    ], text);
  }
});
