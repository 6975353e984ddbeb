// Run as its own process by the long-query fairness test: a client that
// registers an event with response and asks for the latest event of its
// type, one pair due every <interval> ms for <ms> ms; then prints each
// pair's latency, counted from when it was due, as JSON.
//
//   deno run --allow-net tests/_probe.ts <port> <ms> <interval>

import { connect } from "../client.ts";

const [port, ms, interval] = Deno.args.map(Number);
const client = await connect({ hostname: "127.0.0.1", port }, "probe");
const latencies: number[] = [];
const start = performance.now();
for (let i = 0; interval * i < ms; i++) {
  // A pair held up makes the ones due meanwhile late too, as a client on
  // a schedule sees it (timing from when each was sent would hide that).
  const due = start + interval * i;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const [registered] = (await client.register([{ type: ["probe"] }], true))!;
  const { events } = await client.query({
    kind: "latest",
    eventTypes: [["probe"]],
  });
  latencies.push(performance.now() - due);
  if (JSON.stringify(events[0]?.id) !== JSON.stringify(registered.id)) {
    throw new Error(`latest ${JSON.stringify(events)} is not ${registered}`);
  }
}
console.log(JSON.stringify(latencies));
await client.asyncClose();
