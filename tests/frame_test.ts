// Frame encoding: bytes payloads (length known up front) and written
// payloads (length patched afterwards) give the same minimal frame at
// every header-width boundary, and both decode back.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  frameBodyLength,
  readChatterMsg,
  writeFrame,
} from "../common/chatter/mod.ts";
import { Writer } from "../common/sbs/mod.ts";

Deno.test("bytes and written payloads frame identically at every header width, whatever the size hint", () => {
  const sizes = [0, 1, 63, 64, 200];
  for (const edge of [256, 65536]) {
    for (let d = -40; d <= 4; d++) sizes.push(edge + d);
  }
  // Around 2^24 the body (header fields + payload) needs a 4th length byte.
  for (let d = -14; d <= -6; d++) sizes.push(16777216 + d);
  const seen = new Set<number>();
  for (const size of sizes) {
    const payload = new Uint8Array(size).map((_, i) => i * 7);
    const a = new Writer(8);
    const b = new Writer(8);
    a.byte(0xee); // frames are appended after what is already there
    b.byte(0xee);
    writeFrame(a, 300, 5, true, false, true, "T.x", payload);
    writeFrame(b, 300, 5, true, false, true, "T.x", (w) => w.raw(payload));
    assert.equal(Buffer.compare(a.bytes(), b.bytes()), 0, `size ${size}`);
    // Any size hint (a guess of the header and length widths) gives the
    // same minimal bytes, whether the guess was too small or too large.
    for (const hint of [1, 300, 70_000, 16_777_300]) {
      const c = new Writer(8);
      c.byte(0xee);
      writeFrame(
        c,
        300,
        5,
        true,
        false,
        true,
        "T.x",
        (w) => w.raw(payload),
        hint,
      );
      assert.equal(
        Buffer.compare(a.bytes(), c.bytes()),
        0,
        `size ${size}, hint ${hint}`,
      );
    }
    const buf = a.bytes();
    const k = frameBodyLength(buf, 1, buf.length, 1 << 30);
    assert.equal(2 + buf[1] + k, buf.length, `size ${size}`);
    const msg = readChatterMsg(buf, 2 + buf[1], buf.length);
    assert.equal(msg.id, 300);
    assert.equal(msg.type, "T.x");
    // Minimal: the fewest bytes that hold the body length.
    const minimal = k < 256 ? 1 : k < 65536 ? 2 : k < 16777216 ? 3 : 4;
    assert.equal(buf[1], minimal, `size ${size}`);
    seen.add(minimal);
    assert.equal(Buffer.compare(msg.data, payload), 0, `size ${size}`);
  }
  assert.deepEqual([...seen].sort(), [1, 2, 3, 4]);
});
