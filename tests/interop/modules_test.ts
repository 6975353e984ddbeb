/**
 * Interop, differential: the REFERENCE Event Server (hat-event-server
 * 0.9.44) with a Python engine module (modules/double_module.py, on its
 * PYTHONPATH) and OURS (`cli/serve.ts --conf`) with the same logic in
 * TypeScript (modules/double_module.ts), otherwise the same
 * configuration, driven by the same reference clients (peer.py): the
 * register responses, what a subscriber is notified of (ids, so the
 * sessions and instances of the module's output, and its own output
 * processed in turn) and what latest and timeseries queries answer are
 * the same.
 */

import assert from "node:assert/strict";

import {
  clientArgs,
  type PeerEvent,
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

const MODULES = new URL("./modules/", import.meta.url).pathname;

const num = (type: string, text: string): PeerRegisterEvent => ({
  type: type.split("/"),
  sourceTimestamp: null,
  payload: { kind: "json", data: null, text },
});

// One request each.
const REQUESTS: PeerRegisterEvent[][] = [
  [num("in/a", "1")], // out/a 2
  [num("in/a", "7")], // out/a 14, then alarm/a
  [num("in/b", "1.25"), num("in/c", '"seven"'), num("in/d", "3")], // out/b, out/d
  [{
    type: ["in", "e"],
    sourceTimestamp: { s: "1000000", us: 250_000 },
    payload: { kind: "json", data: null, text: "-8" },
  }], // out/e with the source timestamp
  [num("in/f", "true")], // nothing: a boolean
  [{
    type: ["in", "g"],
    sourceTimestamp: null,
    payload: { kind: "binary", type: "t", data: "07" },
  }], // nothing: binary
  [num("other", "5")], // nothing: not subscribed
  [num("in/h", "6"), num("in/i", "0")], // out/h 12, alarm/h, out/i 0
];
const TYPES = [["in", "*"], ["out", "*"], ["alarm", "*"], ["other"]];
const OUTPUTS = 9;

async function drive(server: DiffServer) {
  await using sub = await startPeer(
    "client",
    clientArgs({
      port: server.port,
      name: "sub",
      subscriptions: TYPES,
      payloadText: true,
    }),
  );
  await using reg = await startPeer(
    "client",
    clientArgs({ port: server.port, name: "reg", payloadText: true }),
  );
  const responses: string[][] = [];
  let count = 0;
  for (const events of REQUESTS) {
    const r = await reg.request<PeerEvent[] | null>({
      cmd: "register",
      events,
      withResponse: true,
    });
    responses.push(r === null ? ["failed"] : r.map(seenWithId));
    count += events.length;
  }
  const notified: string[] = [];
  while (notified.length < count + OUTPUTS) {
    notified.push(...(await sub.next("events")).events.map(seenWithId));
  }
  const query = async (params: PeerQueryParams) =>
    (await reg.request<PeerQueryResult>({ cmd: "query", params })).events
      .map(seenWithId);
  return {
    responses,
    notified,
    latest: (await query({ kind: "latest", eventTypes: TYPES })).sort(),
    timeseries: await query({
      kind: "timeseries",
      eventTypes: TYPES,
      order: "ascending",
    }),
  };
}

Deno.test("modules: a module's events as the reference's module's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "modules_test_" });
  try {
    const conf = (db: string, module: string) => ({
      type: "event",
      name: "diff",
      server_id: 1,
      backend: lmdbBackend(`${dir}/${db}`, {}),
      modules: [{ module, subscriptions: [["in", "*"], ["out", "*"]] }],
    });
    const { reference, ours } = await driveBoth(
      dir,
      conf("reference.db", "double_module"),
      conf("ours.db", `${MODULES}double_module.ts`),
      drive,
      [MODULES],
    );
    assert.deepEqual(ours, reference);
    // What the scenario means: a module's output is in the session of
    // its input, after it; its own output is processed in turn.
    const n = reference.notified;
    const at = (prefix: string) => n.filter((l) => l.includes(` ${prefix} `));
    assert.equal(at("out/a").length, 2);
    const [, session] = /^1\/(\d+)\/1 in\/a 7$/.exec(
      n.find((l) => / in\/a 7$/.test(l))!,
    )!;
    assert.match(
      at("out/a")[1],
      new RegExp(
        `^1/${session}/2 out/a \\{"value": 14, "source": "eventer \\d+", ` +
          `"session": ${session}\\}$`,
      ),
    );
    assert.match(
      at("alarm/a")[0],
      new RegExp(`^1/${session}/3 alarm/a "high"`),
    );
    assert.match(at("out/b")[0], /"value": 2\.5/);
    assert.match(at("out/e")[0], /"value": -16, .* @1000000\.250000$/);
    assert.deepEqual(
      ["out/c", "out/f", "out/g", "out/other"].flatMap(at),
      [],
    );
    // The response: the request's events only.
    assert.deepEqual(reference.responses.map((r) => r.length), [
      1,
      1,
      3,
      1,
      1,
      1,
      1,
      2,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
