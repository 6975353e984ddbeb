// Group and Resource: lifetimes, closing order and exception reporting.

import assert from "node:assert/strict";
import { Group, Resource } from "../common/async/mod.ts";
import { delay, gate, stillPending } from "./_net.ts";

function failOnException(e: unknown): void {
  throw new Error(`unexpected task exception: ${e}`);
}

Deno.test("group: spawn runs the task with the group's signal and returns its result", async () => {
  await using group = new Group({ exceptionCb: failOnException });
  let seen: AbortSignal | null = null;
  const result = await group.spawn((signal) => {
    seen = signal;
    return 42;
  });
  assert.equal(result, 42);
  assert.equal(seen, group.signal);
  // Whatever the function's declared arity (rest or default parameters).
  const args = await group.spawn((...rest: unknown[]) => rest);
  assert.deepEqual(args, [group.signal]);
  assert.equal(group.isOpen, true);
  assert.equal(group.isClosing, false);
  assert.equal(group.isClosed, false);
});

Deno.test("group: close aborts the signal at once and ends aborting tasks", async () => {
  const group = new Group({ exceptionCb: failOnException });
  let aborted = false;
  const task = group.spawn((signal) =>
    new Promise<string>((resolve) => {
      signal.addEventListener("abort", () => {
        aborted = true;
        resolve("ended");
      });
    })
  );
  assert.equal(aborted, false);
  group.close();
  assert.equal(group.signal.aborted, true);
  assert.equal(aborted, true);
  assert.equal(group.isOpen, false);
  assert.equal(group.isClosing, true);
  await group.waitClosed();
  assert.equal(group.isClosed, true);
  assert.equal(await task, "ended");
  group.close(); // idempotent
  await group.asyncClose();
});

Deno.test("group: children close with the parent, and parent waits for them", async () => {
  const parent = new Group({ exceptionCb: failOnException });
  const child = parent.child();
  const grandchild = child.child();
  const release = gate();
  let grandchildTaskDone = false;
  grandchild.spawn(async () => {
    await release.promise;
    grandchildTaskDone = true;
  });
  parent.close();
  assert.equal(child.isClosing, true);
  assert.equal(grandchild.isClosing, true);
  assert.ok(await stillPending(parent.waitClosed(), 30));
  release.resolve();
  await parent.waitClosed();
  assert.equal(grandchildTaskDone, true);
  assert.equal(child.isClosed, true);
  assert.equal(grandchild.isClosed, true);
  assert.throws(() => parent.child(), /closing/);
});

Deno.test("group: closing a child leaves the parent open", async () => {
  await using parent = new Group({ exceptionCb: failOnException });
  const child = parent.child();
  await child.asyncClose();
  assert.equal(child.isClosed, true);
  assert.equal(parent.isOpen, true);
  // The parent can still spawn and make children.
  assert.equal(await parent.spawn(() => "ok"), "ok");
  await parent.child().asyncClose();
});

Deno.test("group: waitClosing resolves on close, waitClosed after the tasks settle", async () => {
  const group = new Group({ exceptionCb: failOnException });
  const release = gate();
  group.spawn(() => release.promise);
  const closing = group.waitClosing();
  const closed = group.waitClosed();
  assert.ok(await stillPending(closing, 10));
  group.close();
  await closing;
  assert.equal(group.isClosing, true);
  assert.ok(await stillPending(closed, 30));
  assert.equal(group.isClosed, false);
  release.resolve();
  await closed;
  assert.equal(group.isClosed, true);
});

Deno.test("group: asyncClose waits for tasks that take time to finish after abort", async () => {
  const group = new Group({ exceptionCb: failOnException });
  let cleanedUp = false;
  group.spawn(async (signal) => {
    await new Promise((resolve) => signal.addEventListener("abort", resolve));
    await delay(50);
    cleanedUp = true;
  });
  const start = performance.now();
  await group.asyncClose();
  assert.equal(cleanedUp, true);
  assert.ok(performance.now() - start >= 45);
});

Deno.test("group: a task exception is reported to exceptionCb and closes the group", async () => {
  const reported: unknown[] = [];
  const group = new Group({ exceptionCb: (e) => reported.push(e) });
  let siblingAborted = false;
  group.spawn((signal) =>
    new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => {
        siblingAborted = true;
        resolve();
      })
    )
  );
  const boom = new Error("boom");
  const task = group.spawn(async () => {
    await delay(5);
    throw boom;
  });
  await assert.rejects(task, (e) => e === boom);
  await group.waitClosed();
  assert.deepEqual(reported, [boom]);
  assert.equal(siblingAborted, true);
});

Deno.test("group: a synchronous throw is reported too, and children inherit exceptionCb", async () => {
  const reported: unknown[] = [];
  const parent = new Group({ exceptionCb: (e) => reported.push(e) });
  const child = parent.child();
  const boom = new TypeError("sync");
  child.spawn(() => {
    throw boom;
  }).catch(() => {});
  await child.waitClosed();
  assert.deepEqual(reported, [boom]);
  // The child's failure does not close the parent.
  assert.equal(parent.isOpen, true);
  await parent.asyncClose();
});

Deno.test("group: exceptions of tasks ending after close are not reported", async () => {
  const reported: unknown[] = [];
  const group = new Group({ exceptionCb: (e) => reported.push(e) });
  group.spawn((signal) =>
    new Promise((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    )
  ).catch(() => {});
  await group.asyncClose();
  assert.deepEqual(reported, []);
});

Deno.test("group: spawn on a closing or closed group throws", async () => {
  const group = new Group({ exceptionCb: failOnException });
  const release = gate();
  group.spawn(() => release.promise);
  group.close();
  assert.throws(() => group.spawn(() => {}), /closing/);
  release.resolve();
  await group.waitClosed();
  assert.throws(() => group.spawn(() => {}), /closing/);
});

Deno.test("group: await using closes the group at the end of the block", async () => {
  let outer: Group;
  let taskEnded = false;
  {
    await using group = new Group({ exceptionCb: failOnException });
    outer = group;
    group.spawn(async (signal) => {
      while (!signal.aborted) await delay(2);
      taskEnded = true;
    });
  }
  assert.equal(outer.isClosed, true);
  assert.equal(taskEnded, true);
});

class Thing extends Resource {
  readonly #group = new Group({ exceptionCb: failOnException });
  get group(): Group {
    return this.#group;
  }
}

Deno.test("resource: every member forwards to its group", async () => {
  const outer = new Thing();
  {
    await using thing = new Thing();
    assert.equal(thing.isOpen, true);
    thing.close();
    assert.equal(thing.group.isClosing, true);
    assert.equal(thing.isClosing, true);
    await thing.waitClosing();
    await thing.waitClosed();
    assert.equal(thing.isClosed, true);
  }
  const release = gate();
  outer.group.spawn(() => release.promise);
  const closing = outer.asyncClose();
  assert.equal(outer.isClosing, true);
  assert.ok(await stillPending(closing, 10));
  release.resolve();
  await closing;
  assert.equal(outer.isClosed, true);
});
