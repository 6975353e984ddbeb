// Run as its own process by a bounds test, so that its memory is the
// server's alone: an Eventer server that, told `go` on stdin, notifies 30
// events of 10 MB to `big/*` subscribers and a small event to `small/*`
// subscribers after each, then prints what it cost as one JSON line.
//
//   deno run --allow-net tests/_notifier.ts

import { listen } from "../server.ts";
import type { Event } from "../common/event/mod.ts";

const cut: { name: string; code: string | undefined }[] = [];
const server = await listen({ hostname: "127.0.0.1", port: 0 }, {
  status: "operational",
  disconnectedCb: (info, reason) =>
    void cut.push({
      name: info.clientName,
      code: (reason as { code?: string } | undefined)?.code,
    }),
});
console.log(server.addresses[0].port);

const BIG = 30;
const data = new Uint8Array(10_000_000);
const event = (type: string[], session: number, big: boolean): Event => ({
  id: { server: 1, session, instance: 1 },
  type,
  timestamp: { s: 1700000000, us: 0 },
  sourceTimestamp: null,
  payload: big ? { kind: "binary", type: "blob", data } : null,
});

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream())
  .getReader();
await lines.read(); // "go"
const rssBefore = Deno.memoryUsage().rss;
let rssMax = rssBefore;
for (let i = 0; i < BIG; i++) {
  await server.notifyEvents([event(["big", "x"], i, true)], false);
  await server.notifyEvents([event(["small", "x"], i, false)], false);
  rssMax = Math.max(rssMax, Deno.memoryUsage().rss);
  await new Promise((r) => setTimeout(r, 1));
}
for (let i = 0; i < 100 && cut.length === 0; i++) {
  await new Promise((r) => setTimeout(r, 50));
}
console.log(JSON.stringify({ rssBefore, rssMax, cut }));
await lines.read(); // end of stdin: the test is done
await server.asyncClose();
