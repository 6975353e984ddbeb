// A/B of the codec against an older commit, in one process: `deno task
// bench:ab --base=<commit>`. Prints one line per workload.
//
// Two worktrees of the base commit (A and A', identical code loaded as two
// module graphs) and the working tree (B) run short bursts of the same
// loop in rotating order. Each round gives B / mean(A, A') and A' / A; the
// medians are printed with their ranges. A' / A is the bias of the method
// (which graph was loaded first, heap placement): a change counts only when
// its B / A stands clear of that. On a shared VM whose speed moves over
// seconds, bursts of a few hundred ms side by side compare better than
// separate processes a minute apart. Even so, a few per cent is noise on
// a shared VM: run twice, in both orders, before trusting a small B / A.
//
// Options: --base=HEAD --mode=dec,enc,rt,net,thr,notify,fanout
// --kind=json,bare,binary,points
// --rounds=48 --burst-ms=150 (points: bare events of 1,000 distinct
// numbered types, for what a cache of types or segments costs when they
// do not repeat within it). dec, enc and rt loop over batches of 1,000
// events; net is the register round trip (batch 1, with response) over
// loopback TCP, each of A, A' and B with its own server and client (the
// first event of --kind registered; events/s are round trips/s there);
// thr registers batches of 1,000 with response, 4 in flight; notify and
// fanout notify batches of 1,000 with ack to 1 and to 100 subscribed
// clients (events/s delivered, summed over the clients; give fanout a
// --burst-ms of 500 or more, as one step takes tens of ms).

import {
  bareEvents,
  binaryEvents,
  jsonEvents,
  pointEvents,
} from "./_events.ts";
import {
  BATCH,
  clock,
  FANOUT_CLIENTS,
  parseArgs,
  REGISTER_WINDOW,
  registerCb,
  spread,
  SUBSCRIPTIONS,
} from "./_workloads.ts";
import type { Event } from "../common/event/mod.ts";

const args = parseArgs(Deno.args);
const base = args.get("base") ?? "HEAD";
const modes = (args.get("mode") ?? "dec,enc,rt").split(",");
const kinds = (args.get("kind") ?? "json,bare").split(",");
const rounds = Number(args.get("rounds") ?? 48);
const burstMs = Number(args.get("burst-ms") ?? 150);
const root = new URL("../", import.meta.url).pathname;

interface Codec {
  tree: string;
  Writer: typeof import("../common/sbs/mod.ts").Writer;
  Reader: typeof import("../common/sbs/mod.ts").Reader;
  writeEvents: typeof import("../common/eventer/mod.ts").writeEvents;
  readEvents: typeof import("../common/eventer/mod.ts").readEvents;
}

async function git(...argv: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args: argv, cwd: root }).output();
  if (!out.success) {
    throw new Error(
      `git ${argv.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return new TextDecoder().decode(out.stdout).trim();
}

// The first of `paths` that `tree` has: a base commit may predate the
// layout of the working tree.
async function importFirst(tree: string, paths: string[]) {
  for (const path of paths) {
    try {
      await Deno.stat(`${tree}/${path}`);
    } catch {
      continue;
    }
    return await import(`file://${tree}/${path}`);
  }
  throw new Error(`${tree} has none of ${paths.join(", ")}`);
}

async function load(tree: string): Promise<Codec> {
  const sbs = await importFirst(tree, ["common/sbs/mod.ts", "common/sbs.ts"]);
  const messages = await importFirst(tree, [
    "common/eventer/mod.ts",
    "common/messages.ts",
  ]);
  return {
    tree,
    Writer: sbs.Writer,
    Reader: sbs.Reader,
    writeEvents: messages.writeEvents,
    readEvents: messages.readEvents,
  };
}

// One step of a burst and how many events it counts for; `close` ends
// what the loop opened.
interface Loop {
  step: () => void | Promise<unknown>;
  per: number;
  close?: () => Promise<void>;
}

// The loop of each --mode, over one codec and batch.
const LOOPS: Record<
  string,
  (c: Codec, events: Event[]) => Loop | Promise<Loop>
> = {
  dec: (c, events) => {
    const w = new c.Writer(1 << 20);
    c.writeEvents(w, events);
    const bytes = w.bytes().slice();
    return {
      step: () => void c.readEvents(new c.Reader(bytes, 0, bytes.length)),
      per: BATCH,
    };
  },
  enc: (c, events) => {
    const w = new c.Writer(1 << 20);
    return {
      step: () => {
        w.reset();
        c.writeEvents(w, events);
      },
      per: BATCH,
    };
  },
  rt: (c, events) => {
    const w = new c.Writer(1 << 20);
    return {
      step: () => {
        w.reset();
        c.writeEvents(w, events);
        c.readEvents(new c.Reader(w.buf, 0, w.pos));
      },
      per: BATCH,
    };
  },
  net: async (c, events) => {
    const { listen } = await import(`file://${c.tree}/server.ts`);
    const { connect } = await import(`file://${c.tree}/client.ts`);
    const server = await listen({ hostname: "127.0.0.1", port: 0 }, {
      status: "operational",
      registerCb,
    });
    const client = await connect(server.addresses[0], "bench-ab");
    const e = events[0];
    const batch = [{
      type: e.type,
      sourceTimestamp: e.sourceTimestamp,
      payload: e.payload,
    }];
    return {
      step: () => client.register(batch, true),
      per: 1,
      close: async () => {
        await client.close();
        await server.close();
      },
    };
  },
  thr: async (c, events) => {
    const { listen } = await import(`file://${c.tree}/server.ts`);
    const { connect } = await import(`file://${c.tree}/client.ts`);
    const server = await listen({ hostname: "127.0.0.1", port: 0 }, {
      status: "operational",
      registerCb,
    });
    const client = await connect(server.addresses[0], "bench-ab");
    const batch = events.map((e) => ({
      type: e.type,
      sourceTimestamp: e.sourceTimestamp,
      payload: e.payload,
    }));
    const window = Array.from({ length: REGISTER_WINDOW });
    return {
      step: () => Promise.all(window.map(() => client.register(batch, true))),
      per: BATCH * REGISTER_WINDOW,
      close: async () => {
        await client.close();
        await server.close();
      },
    };
  },
  notify: (c, events) => notifyLoop(c, events, 1),
  fanout: (c, events) => notifyLoop(c, events, FANOUT_CLIENTS),
};

// Batches notified with ack to `clients` subscribed clients: events
// delivered per second, summed over the clients.
async function notifyLoop(
  c: Codec,
  events: Event[],
  clients: number,
): Promise<Loop> {
  const { listen } = await import(`file://${c.tree}/server.ts`);
  const { connect } = await import(`file://${c.tree}/client.ts`);
  const server = await listen({ hostname: "127.0.0.1", port: 0 }, {
    status: "operational",
  });
  const conns = await Promise.all(
    Array.from(
      { length: clients },
      (_, i) =>
        connect(server.addresses[0], `bench-ab-${i}`, {
          subscriptions: SUBSCRIPTIONS,
        }),
    ),
  );
  return {
    step: () => server.notifyEvents(events, false, true),
    per: BATCH * clients,
    close: async () => {
      await Promise.all(conns.map((client) => client.close()));
      await server.close();
    },
  };
}

// Events per second over one burst.
async function burst(loop: Loop): Promise<number> {
  const step = loop.step;
  const start = clock();
  const end = start + burstMs / 1000;
  let n = 0;
  while (n === 0 || clock() < end) {
    const pending = step();
    if (pending !== undefined) await pending;
    n++;
  }
  return n * loop.per / (clock() - start);
}

// Median and range of ratios.
function ratios(values: number[]): string {
  const s = spread(values);
  return `${s.median.toFixed(3)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
}

const EVENTS: Record<string, (n: number) => Event[]> = {
  json: jsonEvents,
  bare: bareEvents,
  binary: binaryEvents,
  points: pointEvents,
};

async function main(): Promise<void> {
  for (const mode of modes) {
    if (!Object.hasOwn(LOOPS, mode)) {
      throw new Error(
        `unknown --mode ${mode} (dec, enc, rt, net, thr, notify, fanout)`,
      );
    }
  }
  for (const kind of kinds) {
    if (!Object.hasOwn(EVENTS, kind)) {
      throw new Error(
        `unknown --kind ${kind} (json, bare, binary, points)`,
      );
    }
  }
  if (!(Number.isInteger(rounds) && rounds > 0 && burstMs > 0)) {
    throw new Error("--rounds and --burst-ms must be positive numbers");
  }
  const commit = await git("rev-parse", "--short", base);
  const tmp = await Deno.makeTempDir({ prefix: "hat-eventer-ab-" });
  const trees = [`${tmp}/a`, `${tmp}/a2`];
  try {
    for (const tree of trees) {
      await git("worktree", "add", "--detach", "--force", tree, commit);
    }
    const codecs = [
      await load(trees[0]),
      await load(trees[1]),
      await load(root),
    ];
    console.log(
      `A = A' = ${commit}, B = working tree; ${rounds} rounds of ${burstMs} ms bursts, order rotating`,
    );
    // All orders of the three, so that none always runs first.
    const orders = [
      [0, 1, 2],
      [2, 1, 0],
      [1, 2, 0],
      [0, 2, 1],
      [2, 0, 1],
      [1, 0, 2],
    ];
    for (const kind of kinds) {
      const events = EVENTS[kind](BATCH);
      for (const mode of modes) {
        const loops: Loop[] = [];
        for (const c of codecs) loops.push(await LOOPS[mode](c, events));
        for (let i = 0; i < 3; i++) for (const f of loops) await burst(f);
        const gain: number[] = [];
        const bias: number[] = [];
        const rateB: number[] = [];
        for (let i = 0; i < rounds; i++) {
          const r: number[] = [];
          for (const k of orders[i % orders.length]) {
            r[k] = await burst(loops[k]);
          }
          gain.push(r[2] / ((r[0] + r[1]) / 2));
          bias.push(r[1] / r[0]);
          rateB.push(r[2]);
        }
        for (const loop of loops) await loop.close?.();
        const rate = spread(rateB).median;
        console.log(
          `${mode} ${kind}: B/A median ${ratios(gain)}, A'/A ${
            ratios(bias)
          }; B ${
            mode === "net"
              ? `${(rate / 1e3).toFixed(1)} k round trips/s`
              : `${(rate / 1e6).toFixed(2)} M events/s`
          }`,
        );
      }
    }
  } finally {
    for (const tree of trees) {
      await git("worktree", "remove", "--force", tree).catch(() => {});
    }
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await git("worktree", "prune").catch(() => {});
  }
}

try {
  await main();
} catch (e) {
  // Bad options or a base git cannot resolve: one line, not a stack.
  console.error(`bench:ab: ${(e as Error).message}`);
  Deno.exit(1);
}
