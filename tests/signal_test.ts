// `signal` on listen and startEventServer: aborting closes the server as
// close() does; an already-aborted signal rejects without binding.

import assert from "node:assert/strict";
import { connect, ConnectionError, listen } from "../mod.ts";
import { now } from "../common/event/timestamp.ts";
import { startEventServer } from "../event_server/mod.ts";

function freePort(): number {
  using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return (probe.addr as Deno.NetAddr).port;
}

// Binding succeeds: nothing holds the port.
function assertUnbound(port: number): void {
  Deno.listen({ hostname: "127.0.0.1", port }).close();
}

Deno.test("listen: aborting the signal closes the server", async () => {
  const controller = new AbortController();
  const server = await listen({ hostname: "127.0.0.1", port: 0 }, {
    status: "operational",
    signal: controller.signal,
  });
  const addr = server.addresses[0];
  const client = await connect(addr, "c");
  assert.equal(client.status, "operational");
  controller.abort();
  assert.ok(server.isClosing);
  await server.waitClosed();
  await client.waitClosed();
  await assert.rejects(connect(addr, "c"), ConnectionError);
  assertUnbound(addr.port);
});

Deno.test("listen: an aborted signal rejects at once, unbound", async () => {
  const port = freePort();
  const reason = new Error("not today");
  await assert.rejects(
    listen({ hostname: "127.0.0.1", port }, {
      signal: AbortSignal.abort(reason),
    }),
    (e) => e === reason,
  );
  assertUnbound(port);
  // A signal that never aborts keeps nothing once the server closed.
  const controller = new AbortController();
  const server = await listen({ hostname: "127.0.0.1", port: 0 }, {
    signal: controller.signal,
  });
  await server.asyncClose();
  controller.abort();
});

Deno.test("startEventServer: aborting shuts down gracefully", async () => {
  const dir = await Deno.makeTempDir({ prefix: "signal_test_" });
  try {
    const db = `${dir}/events.db`;
    const controller = new AbortController();
    const server = await startEventServer({
      db,
      port: 0,
      signal: controller.signal,
    });
    const port = server.addresses[0].port;
    controller.abort();
    await server.waitClosed();
    assertUnbound(port);
    // As close() does: the engine's STOPPED event was committed.
    await using again = await startEventServer({ db, port: 0 });
    await using client = await connect(again.addresses[0], "c");
    const { events } = await client.query({
      kind: "timeseries",
      eventTypes: [["event", "1", "engine"]],
      order: "ascending",
    });
    assert.deepEqual(
      events.map((e) => e.payload?.kind === "json" && e.payload.data),
      ["STARTED", "STOPPED", "STARTED"],
    );

    // Already aborted: rejects with the reason, no database, no port.
    const reason = new Error("stop");
    const port2 = freePort();
    await assert.rejects(
      startEventServer({
        db: `${dir}/never.db`,
        port: port2,
        signal: AbortSignal.abort(reason),
      }),
      (e) => e === reason,
    );
    await assert.rejects(Deno.stat(`${dir}/never.db`), Deno.errors.NotFound);
    assertUnbound(port2);

    // Aborted while starting (here when it stamps its STARTED event): it
    // stops again, then rejects with the reason.
    const midway = new AbortController();
    const port3 = freePort();
    await assert.rejects(
      startEventServer({
        db: ":memory:",
        port: port3,
        signal: midway.signal,
        now: () => {
          midway.abort(reason);
          return now();
        },
      }),
      (e) => e === reason,
    );
    assertUnbound(port3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
