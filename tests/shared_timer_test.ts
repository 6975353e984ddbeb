// The one timer behind every connection's ping deadline.

import assert from "node:assert/strict";
import { type Deadline, SharedTimer } from "../common/async/mod.ts";
import { delay } from "./_net.ts";

function deadline(name: string, fired: string[], then?: () => void): Deadline {
  return {
    dueAt: 0,
    heapIndex: -1,
    onDue() {
      fired.push(name);
      then?.();
    },
  };
}

Deno.test("shared timer: deadlines fire in due order, once; unscheduled ones never", async () => {
  const fired: string[] = [];
  const timer = new SharedTimer(() => {});
  const delays = [37, 5, 22, 5, 60, 14, 1, 45, 30, 9, 52, 18];
  const ds = delays.map((ms, i) => deadline(`${ms}:${i}`, fired));
  ds.forEach((d, i) => timer.schedule(d, delays[i]));
  timer.unschedule(ds[4]); // 60
  timer.unschedule(ds[4]); // twice is harmless
  timer.schedule(ds[0], 3); // moved earlier
  timer.schedule(ds[1], 50); // moved later
  await delay(120);
  const expected = ds
    .map((d, i) => ({ name: `${delays[i]}:${i}`, at: d.dueAt, i }))
    .filter(({ i }) => i !== 4)
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map(({ name }) => name);
  assert.deepEqual([...fired].sort(), [...expected].sort());
  // Due order (ties may fire in either order).
  const at = new Map(ds.map((d, i) => [`${delays[i]}:${i}`, d.dueAt]));
  for (let i = 1; i < fired.length; i++) {
    assert.ok(at.get(fired[i - 1])! <= at.get(fired[i])!, fired.join(" "));
  }
  assert.ok(ds.every((d) => d.heapIndex === -1));
  // Nothing scheduled: no timer left (the test sanitizer checks it too).
});

Deno.test("shared timer: a deadline rescheduled from onDue fires again later; errors go to onError", async () => {
  const fired: string[] = [];
  const errors: unknown[] = [];
  const timer = new SharedTimer((_d, e) => errors.push(e));
  let n = 0;
  const again: Deadline = deadline("again", fired, () => {
    if (++n < 3) timer.schedule(again, 2);
  });
  const boom: Deadline = {
    dueAt: 0,
    heapIndex: -1,
    onDue() {
      throw new Error("boom");
    },
  };
  timer.schedule(again, 1);
  timer.schedule(boom, 1);
  await delay(60);
  assert.deepEqual(fired, ["again", "again", "again"]);
  assert.equal(errors.length, 1);
  assert.equal(again.heapIndex, -1);
});

Deno.test("shared timer: unscheduling the last deadline clears the timer (the process can exit)", async () => {
  // Deno's test sanitizers do not see timers: a child process that
  // schedules far deadlines and unschedules them must exit at once.
  const url = new URL("../common/async/shared_timer.ts", import.meta.url).href;
  const code = `
    import { SharedTimer } from ${JSON.stringify(url)};
    const t = new SharedTimer(() => {});
    const d = (n) => ({ dueAt: 0, heapIndex: -1, onDue() { console.log(n); } });
    const a = d("a"), b = d("b");
    t.schedule(a, 20000);
    t.schedule(b, 10000);
    t.unschedule(b);
    t.unschedule(a);
  `;
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", code],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  assert.equal(new TextDecoder().decode(out.stdout), "");
  assert.ok(performance.now() - started < 5000, "the child waited for a timer");
});
