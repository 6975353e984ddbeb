// Run as its own process by a bounds test: clients that open connection
// after connection, each with about the largest init a server reads by
// default (2,800 query types of ~90 bytes, 250 KB) and a wrong token,
// until killed.
//
//   deno run --allow-net tests/_wrong_token.ts <port> <clients>

import { writeFrame } from "../common/chatter/mod.ts";
import { MsgType, writeInitReq } from "../common/eventer/mod.ts";
import { Writer } from "../common/sbs/mod.ts";

const port = Number(Deno.args[0]);
const clients = Number(Deno.args[1] ?? 4);
const w = new Writer(1 << 20);
writeFrame(w, 1, 1, true, true, false, MsgType.InitReq, (w) =>
  writeInitReq(w, {
    clientName: "attacker",
    clientToken: "wrong",
    subscriptions: Array.from(
      { length: 2_800 },
      (_, i) => ["x".repeat(40), `${i}`.padStart(40, "0"), "?", "*"],
    ),
    serverId: null,
    persisted: false,
  }));
const init = w.bytes();
let refused = 0;
setInterval(() => console.log(refused), 250);
await Promise.all(Array.from({ length: clients }, async () => {
  const buf = new Uint8Array(4096);
  for (;;) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      for (let at = 0; at < init.length;) {
        at += await conn.write(init.subarray(at));
      }
      // The answer (an error), then the server closes.
      if (await conn.read(buf) !== null) refused++;
    } catch {
      // Reset by the server: as good.
    } finally {
      conn.close();
    }
  }
}));
