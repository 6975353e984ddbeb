// Buffers allocated per operation in steady traffic: every Uint8Array of
// 1 KB or more made with a length (receive buffers, writers growing),
// counted after a warm-up, our server and client in this process.
// Receive and write buffers are pooled so that steady traffic allocates
// none, also when it comes in bursts further apart than a connection
// keeps its spare buffer (see common/chatter/_receive_buffer.ts and
// common/chatter/_writer_pool.ts).
//
//   deno run --allow-net --allow-read tools/allocations.ts [--check]
//
// --check: exit 1 when a workload allocates more than MAX_PER_OP of them
// per operation (tests/allocations_test.ts runs it so).

// Before any of our modules load: they then construct this subclass.
const Base = Uint8Array;
let large = 0;
let largeBytes = 0;
class CountingUint8Array extends Base {
  constructor(...args: unknown[]) {
    // @ts-ignore: the constructor's overloads, passed through
    super(...args);
    if (typeof args[0] === "number" && args[0] >= 1024) {
      large++;
      largeBytes += args[0];
    }
  }
}
Object.defineProperty(globalThis, "Uint8Array", {
  value: CountingUint8Array,
  writable: true,
  configurable: true,
});

const { connect, listen } = await import("../mod.ts");
const { jsonEvents } = await import("../bench/_events.ts");
const { registerCb } = await import("../bench/_workloads.ts");

/** Most large buffers per operation a workload may allocate with --check. */
const MAX_PER_OP = 0.25;
const check = Deno.args.includes("--check");
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

const batch = jsonEvents(1000);
const request = batch.map((e) => ({
  type: e.type,
  sourceTimestamp: e.sourceTimestamp,
  payload: e.payload,
}));
await using server = await listen({ hostname: "127.0.0.1", port: 0 }, {
  status: "operational",
  registerCb,
  queryCb: () => ({ events: batch, moreFollows: false }),
});
await using client = await connect(server.addresses[0], "allocations", {
  subscriptions: [["*"]],
  eventsCb: () => {},
});

const workloads: [string, number, () => Promise<unknown>][] = [
  [
    "register round trip, batch 1",
    1000,
    () => client.register(request.slice(0, 1), true),
  ],
  [
    "register 4 x 1000 in flight",
    30,
    () => Promise.all([0, 1, 2, 3].map(() => client.register(request, true))),
  ],
  ["notify 1000, acked", 50, () => server.notifyEvents(batch, false, true)],
  ["notify 1000, acked, 60 ms apart", 12, async () => {
    await delay(60);
    await server.notifyEvents(batch, false, true);
  }],
  ["query latest, 1000 events", 50, () => client.query({ kind: "latest" })],
];

let failed = false;
for (const [name, ops, op] of workloads) {
  for (let i = 0; i < Math.max(5, ops / 5); i++) await op();
  large = largeBytes = 0;
  for (let i = 0; i < ops; i++) await op();
  const perOp = large / ops;
  const over = perOp > MAX_PER_OP;
  failed ||= over;
  console.log(
    `${name}: ${perOp.toFixed(2)} buffers of 1 KB or more per operation ` +
      `(${(largeBytes / ops / 1024).toFixed(1)} KB)${over ? " TOO MANY" : ""}`,
  );
}
if (check && failed) Deno.exit(1);
