// BufferPool: which buffers it keeps, hands out and lets go of.

import assert from "node:assert/strict";
import { BufferPool } from "../common/chatter/_buffer_pool.ts";
import { delay } from "./_net.ts";

const limits = { maxCount: 4, maxBytes: 1000, idleBytes: 300, sweepMs: 30 };

function pool() {
  return new BufferPool<Uint8Array>((b) => b.length, limits);
}

Deno.test("buffer pool: the smallest buffer that is large enough, the newest of equals, else none", () => {
  const p = pool();
  const [a, b, c, d] = [100, 200, 150, 150].map((n) => new Uint8Array(n));
  for (const x of [a, b, c, d]) p.give(x);
  assert.equal(p.bytes, 600);
  assert.equal(p.takeAtLeast(160), b);
  assert.equal(p.takeAtLeast(160), undefined);
  assert.equal(p.takeAtLeast(120), d);
  assert.equal(p.takeAtLeast(100), a);
  assert.equal(p.take(), c);
  assert.equal(p.take(), undefined);
  assert.equal(p.bytes, 0);
});

Deno.test("buffer pool: when full the oldest make room; a buffer larger than the pool is not kept", () => {
  const p = pool();
  const bufs = [1, 2, 3, 4, 5].map((k) => new Uint8Array(100 + k));
  for (const b of bufs) p.give(b);
  // maxCount 4: the first one went.
  assert.equal(p.bytes, 102 + 103 + 104 + 105);
  const big = new Uint8Array(700);
  p.give(big);
  // maxBytes 1000: 102 and 103 went too.
  assert.equal(p.bytes, 104 + 105 + 700);
  p.give(new Uint8Array(1001));
  assert.equal(p.bytes, 104 + 105 + 700);
  assert.equal(p.take(), big);
  assert.equal(p.take(), bufs[4]);
  assert.equal(p.take(), bufs[3]);
  assert.equal(p.take(), undefined);
});

Deno.test("buffer pool: shrinks to idleBytes after a sweep period unused, not while used", async () => {
  const p = pool();
  const bufs = [1, 2, 3].map((k) => new Uint8Array(200 + k));
  for (const b of bufs) p.give(b);
  // Used within each period: kept.
  for (let i = 0; i < 4; i++) {
    await delay(limits.sweepMs / 2);
    p.give(p.take()!);
  }
  assert.equal(p.bytes, 201 + 202 + 203);
  // Unused for two periods: down to idleBytes, the newest kept.
  await delay(limits.sweepMs * 3 + 20);
  assert.equal(p.bytes, 203);
  assert.equal(p.take(), bufs[2]);
});
