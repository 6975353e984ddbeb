// SlotMap: Map semantics for numeric keys, and taken values let go at
// once (the reason it exists: see common/async/slot_map.ts).

import assert from "node:assert/strict";
import { SlotMap } from "../common/async/mod.ts";

Deno.test("SlotMap: set, get, take, overwrite, slot reuse, takeAll", () => {
  const m = new SlotMap<string>();
  assert.equal(m.size, 0);
  assert.equal(m.get(1), undefined);
  assert.equal(m.take(1), undefined);
  m.set(1, "a");
  m.set(2, "b");
  m.set(1, "a2");
  assert.equal(m.size, 2);
  assert.equal(m.get(1), "a2");
  assert.equal(m.take(1), "a2");
  assert.equal(m.take(1), undefined);
  assert.equal(m.size, 1);
  // The freed slot serves the next key, without disturbing the others.
  m.set(3, "c");
  m.set(4, "d");
  assert.equal(m.get(2), "b");
  assert.equal(m.get(3), "c");
  assert.equal(m.get(4), "d");
  assert.deepEqual(m.takeAll().sort(), ["b", "c", "d"]);
  assert.equal(m.size, 0);
  assert.equal(m.get(2), undefined);
  m.set(5, "e");
  assert.deepEqual(m.takeAll(), ["e"]);
});

Deno.test("SlotMap: many keys in and out, in any order", () => {
  const m = new SlotMap<number>();
  const ref = new Map<number, number>();
  let seed = 7;
  for (let i = 0; i < 5000; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const key = seed % 97;
    if (seed & 1) {
      m.set(key, i);
      ref.set(key, i);
    } else {
      assert.equal(m.take(key), ref.get(key));
      ref.delete(key);
    }
    assert.equal(m.size, ref.size);
  }
  for (const [key, value] of ref) assert.equal(m.get(key), value);
});

async function aliveAfterMinorGc(kind: string): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      new URL("./_gc_probe.ts", import.meta.url).pathname,
      kind,
    ],
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

Deno.test("SlotMap: taken values do not outlive a young-generation GC", async () => {
  // 232 values went through, 4 and then 32 at a time; a Map keeps most alive
  // here (through tables it rehashed out), which is logged for contrast.
  const alive = await aliveAfterMinorGc("slot");
  const withMap = await aliveAfterMinorGc("map");
  console.log(`alive after a minor GC: SlotMap ${alive}, Map ${withMap}`);
  assert.ok(alive <= 4, `${alive} of 232 taken values still alive`);
});
