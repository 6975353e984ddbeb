// Run as its own process by the long-query fairness test: a client that
// queries latest over every type, then a timeseries over everything, in
// a loop, for the given milliseconds; then prints what it saw as JSON.
//
//   deno run --allow-net tests/_long_queries.ts <port> <ms>

import { connect } from "../client.ts";

const [port, ms] = Deno.args.map(Number);
const client = await connect({ hostname: "127.0.0.1", port }, "long", {
  pingDelay: 0,
});
console.log("querying");
const latest: number[] = [];
const timeseries: number[] = [];
const counts = new Set<string>();
const end = performance.now() + ms;
while (performance.now() < end) {
  let t = performance.now();
  const l = await client.query({ kind: "latest" });
  latest.push(performance.now() - t);
  counts.add(`latest ${l.events.length} ${l.moreFollows}`);
  t = performance.now();
  const s = await client.query({ kind: "timeseries" });
  timeseries.push(performance.now() - t);
  counts.add(`timeseries ${s.events.length} ${s.moreFollows}`);
}
console.log(JSON.stringify({ latest, timeseries, counts: [...counts] }));
await client.asyncClose();
