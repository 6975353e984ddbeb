// A server and a client on loopback: subscribe, register, get notified,
// query. Run with `deno task example`.

import { connect, type Event, listen } from "../mod.ts";
import { now } from "../common/event/mod.ts";

const stored: Event[] = [];
let session = 0;

await using server = await listen({ hostname: "127.0.0.1", port: 0 }, {
  status: "operational",
  connectedCb: (info) =>
    console.log(`server: client ${info.clientName} connected`),
  registerCb: async (_info, events) => {
    session++;
    const registered = events.map((e, i) => ({
      id: { server: 1, session, instance: i + 1 },
      type: e.type,
      timestamp: now(),
      sourceTimestamp: e.sourceTimestamp ?? null,
      payload: e.payload ?? null,
    }));
    stored.push(...registered);
    await server.notifyEvents(registered, false);
    return registered;
  },
  queryCb: (_info, params) => {
    console.log(`server: ${params.kind} query`);
    return { events: stored.toReversed(), moreFollows: false };
  },
});
const addr = server.addresses[0];
console.log(`server: listening on ${addr.hostname}:${addr.port}`);

await using client = await connect(addr, "example", {
  subscriptions: [["example", "*"]],
  eventsCb: (_client, events) => {
    for (const e of events) {
      console.log(`client: notified ${e.type.join("/")} =`, e.payload?.data);
    }
  },
});
console.log(`client: connected, server status ${client.status}`);

const registered = await client.register([
  { type: ["example", "temperature"], payload: { kind: "json", data: 21.5 } },
  { type: ["example", "door"], payload: { kind: "json", data: "open" } },
  { type: ["other", "ignored"] },
], true);
console.log(`client: registered ${registered?.length} events`);

const result = await client.query({ kind: "timeseries", maxResults: 10 });
for (const e of result.events) {
  const { server, session, instance } = e.id;
  console.log(
    `client: query -> ${server}/${session}/${instance} ${e.type.join("/")}`,
  );
}
