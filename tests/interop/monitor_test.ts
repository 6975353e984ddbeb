/**
 * Our monitor component with a real Hat Monitor Server (`hat-monitor`
 * 0.8.23 from the venv): blessed under BLESS_ALL, handing over with a
 * reference `hat.monitor.component` under BLESS_ONE both ways with no two
 * runners open at once, and closed by the monitor's MsgClose.
 */

import assert from "node:assert/strict";
import { Group } from "../../common/async/mod.ts";
import {
  type Component,
  connectComponent,
  type Runner,
  type State,
} from "../../monitor/mod.ts";
import {
  type HatProcess,
  startHatMonitor,
  startPyComponent,
  wallClock,
} from "./_hat.ts";

/**
 * Runners that note, on the wall clock, when they opened and when they
 * finished closing; closing takes 30 ms, as real work winding down does.
 */
class RunnerLog {
  readonly opened: number[] = [];
  readonly closed: number[] = [];
  open = 0;

  cb = (): Runner => {
    this.open++;
    this.opened.push(wallClock());
    const runner = new Group();
    runner.spawn(async (signal) => {
      await new Promise((r) => signal.addEventListener("abort", r));
      await new Promise((r) => setTimeout(r, 30));
      this.open--;
      this.closed.push(wallClock());
    });
    return runner;
  };
}

async function until(cond: () => boolean, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// Components of `group` whose request token equals their response token:
// the ones allowed to run.
function activeIn(state: State, group: string): string[] {
  return state.components.filter((c) =>
    c.group === group && c.blessingReq.token !== null &&
    c.blessingReq.token === c.blessingRes.token
  ).map((c) => c.name ?? "?");
}

// The wall-clock time of a reference component's line (Unix seconds first).
function lineTime(p: HatProcess, i: number): number {
  return Number(p.lines[i].text.split(" ")[0]) * 1000;
}

Deno.test("interop monitor: BLESS_ALL blesses every ready Deno component; the monitor stopping closes them after MsgClose", async () => {
  const monitor = await startHatMonitor();
  const addr = { hostname: "127.0.0.1", port: monitor.port };
  const runners = new RunnerLog();
  let closeReqs = 0;
  const components: Component[] = [];
  try {
    for (const name of ["d1", "d2"]) {
      components.push(
        await connectComponent(addr, name, "all", runners.cb, {
          data: { name, n: [1, "č"] },
          closeReqCb: () => void closeReqs++,
        }),
      );
    }
    const [d1, d2] = components;
    await until(() => d2.state.components.length === 2, "both registered");
    assert.equal(runners.open, 0, "not ready: not blessed");
    assert.deepEqual(d2.state.info?.blessingReq, {
      token: null,
      timestamp: null,
    });
    await d1.setReady(true);
    await d2.setReady(true);
    await until(() => d1.isActive && d2.isActive, "both active");
    assert.equal(runners.open, 2);
    const info = d1.state.info!;
    assert.equal(info.name, "d1");
    assert.equal(info.group, "all");
    assert.deepEqual(info.data, { name: "d1", n: [1, "č"] });
    assert.equal(info.blessingRes.token, info.blessingReq.token);
    assert.equal(typeof info.blessingReq.timestamp, "number");
    assert.notEqual(
      d1.state.info!.blessingReq.token,
      d2.state.info!.blessingReq.token,
    );
    // Not ready any more: the runner closes, the token goes back.
    await d1.setReady(false);
    await until(() => !d1.isActive, "d1 inactive");
    await until(
      () => d1.state.info?.blessingRes.token === null,
      "d1's token given back",
    );
    assert.equal(runners.open, 1);
    await monitor.stop();
    await Promise.all(components.map((c) => c.waitClosed()));
    assert.equal(closeReqs, 2, "MsgClose to each");
    assert.equal(runners.open, 0);
  } finally {
    for (const c of components) await c.asyncClose();
    await monitor.stop();
  }
});

Deno.test("interop monitor: BLESS_ONE hands over between two Deno components with no overlap", async () => {
  const monitor = await startHatMonitor({
    groupAlgorithms: { one: "BLESS_ONE" },
  });
  const addr = { hostname: "127.0.0.1", port: monitor.port };
  const ra = new RunnerLog();
  const rb = new RunnerLog();
  let overlap = 0;
  const a = await connectComponent(addr, "a", "one", ra.cb, {
    stateCb: () => void (ra.open + rb.open > 1 && overlap++),
  });
  const b = await connectComponent(addr, "b", "one", rb.cb, {
    stateCb: () => void (ra.open + rb.open > 1 && overlap++),
  });
  try {
    await a.setReady(true);
    await until(() => a.isActive, "a active");
    await b.setReady(true);
    for (let i = 0; i < 3; i++) {
      const [from, to, rFrom, rTo] = i % 2 === 0
        ? [a, b, ra, rb]
        : [b, a, rb, ra];
      await from.setReady(false);
      await until(() => to.isActive, "handover");
      assert.ok(rTo.opened.at(-1)! > rFrom.closed.at(-1)!, "no overlap");
      await from.setReady(true);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(from.isActive, false, "the other keeps the blessing");
    }
    assert.equal(overlap, 0);
  } finally {
    await a.asyncClose();
    await b.asyncClose();
    await monitor.stop();
  }
});

Deno.test("interop monitor: BLESS_ONE hands over to a reference component and back, no two runners open at once", async () => {
  const monitor = await startHatMonitor({
    groupAlgorithms: { one: "BLESS_ONE" },
  });
  const addr = { hostname: "127.0.0.1", port: monitor.port };
  const runners = new RunnerLog();
  const seen: string[][] = [];
  const deno = await connectComponent(addr, "deno", "one", runners.cb, {
    stateCb: (_c, state) => void seen.push(activeIn(state, "one")),
  });
  let py: HatProcess | null = null;
  try {
    await deno.setReady(true);
    await until(() => deno.isActive, "deno active");
    py = await startPyComponent(monitor.port, "py", "one");
    await py.send("ready 1");
    await until(
      () => deno.state.components.some((c) => c.name === "py"),
      "py registered",
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(py.lines.some((l) => l.text.endsWith(" runner_cb")), false);

    // Deno → Python: ours closes its runner before Python's starts.
    await deno.setReady(false);
    const pyStart = await py.waitLine(/ runner_cb$/);
    assert.equal(runners.open, 0);
    assert.ok(
      lineTime(py, pyStart) > runners.closed[0],
      `py runner at ${lineTime(py, pyStart)}, ours closed at ${
        runners.closed[0]
      }`,
    );

    // Python → Deno.
    await deno.setReady(true);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(deno.isActive, false, "py keeps the blessing");
    await py.send("ready 0");
    const pyClosed = await py.waitLine(/ runner_closed$/, 10_000, pyStart);
    await until(() => deno.isActive, "deno active again");
    assert.ok(
      runners.opened[1] > lineTime(py, pyClosed),
      `ours at ${runners.opened[1]}, py closed at ${lineTime(py, pyClosed)}`,
    );
    assert.ok(seen.length > 5);
    for (const active of seen) assert.ok(active.length <= 1, `${active}`);
  } finally {
    await py?.stop();
    await deno.asyncClose();
    await monitor.stop();
  }
});
