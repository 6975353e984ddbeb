// Run by slot_map_test.ts with --v8-flags=--expose-gc: how many values
// taken out of a SlotMap (or, with "map", a plain Map used the same way)
// are still alive after one young-generation GC. Prints the count.

import { SlotMap } from "../common/async/mod.ts";

const gc = (globalThis as { gc?: (options?: { type: string }) => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

interface Table {
  set(key: number, value: object): void;
  take(key: number): object | undefined;
}

function plainMap(): Table {
  const map = new Map<number, object>();
  return {
    set: (key, value) => map.set(key, value),
    take: (key) => {
      const value = map.get(key);
      map.delete(key);
      return value;
    },
  };
}

const table: Table = Deno.args[0] === "map" ? plainMap() : new SlotMap();
// Old-generation internals first, as a long-lived client's are.
for (let i = 0; i < 8; i++) table.set(i, {});
for (let i = 0; i < 8; i++) table.take(i);
gc();
gc();

// Four values in at a time, taken in order: pipelined requests.
const refs: WeakRef<object>[] = [];
const ROUNDS = 200;
for (let i = 0; i < ROUNDS; i++) {
  const value = { data: new Array(16).fill(i) };
  refs.push(new WeakRef(value));
  table.set(100 + i, value);
  if (i >= 4) table.take(100 + i - 4);
}
for (let i = ROUNDS - 4; i < ROUNDS; i++) table.take(100 + i);
// Then a burst of 32 in flight, all taken.
for (let i = 0; i < 32; i++) {
  const value = { data: new Array(16).fill(i) };
  refs.push(new WeakRef(value));
  table.set(1000 + i, value);
}
for (let i = 0; i < 32; i++) table.take(1000 + i);

// WeakRef targets are kept until the end of the current job.
await new Promise((resolve) => setTimeout(resolve, 0));
gc({ type: "minor" });
await new Promise((resolve) => setTimeout(resolve, 0));
console.log(refs.filter((r) => r.deref() !== undefined).length);
