// The library alone, for bench/server.ts: an Eventer server whose register
// callback stores nothing (bench/_workloads.ts's `registerCb`), in its own
// process as the Event Server is. Prints `listening on <port>`, runs until
// killed.

import { listen } from "../mod.ts";
import { LOCAL, registerCb } from "./_workloads.ts";

const server = await listen(LOCAL, { status: "operational", registerCb });
console.log(`listening on ${server.addresses[0].port}`);
