// Run as its own process by the fairness test: a client that registers
// without response as fast as its socket takes it, until killed.
//
//   deno run --allow-net tests/_flood.ts <port>

import { connect } from "../client.ts";

const port = Number(Deno.args[0]);
const client = await connect({ hostname: "127.0.0.1", port }, "flood", {
  pingDelay: 0,
});
const batch = Array.from({ length: 10 }, (_, i) => ({
  type: ["flood", String(i)],
  payload: { kind: "json" as const, data: { value: i, quality: "good" } },
}));
console.log("flooding");
for (;;) await client.register(batch, false);
