import assert from "node:assert/strict";
import { MAX_INT_BYTES, Reader, SbsError, Writer } from "../common/sbs/mod.ts";
import { jsonText, parseJsonText } from "../common/json/mod.ts";

function bytesOf(f: (w: Writer) => void): number[] {
  const w = new Writer(1);
  f(w);
  return Array.from(w.bytes());
}

// The number fast paths must produce exactly the bytes of the general
// bigint path, at every group boundary, and decode back to the same value.
Deno.test("integer fast paths agree with the bigint path at every boundary", () => {
  const values: number[] = [0, -1, 63, 64, -64, -65, 1732000000];
  for (let k = 0; k <= 53; k++) {
    for (const d of [-1, 0, 1]) {
      const x = 2 ** k + d;
      if (Number.isSafeInteger(x) && x !== 0) values.push(x, -x);
    }
  }
  // And values with every bit pattern in both halves of the 2^28 split.
  for (let i = 1; i <= 2000; i++) {
    const x = Math.floor(2 ** (i % 54) * ((i * 0.6180339887) % 1));
    if (x !== 0) values.push(x, -x, Math.floor(x / 8) + i);
  }
  for (const v of values) {
    const fast = bytesOf((w) => w.int(v));
    assert.deepEqual(fast, bytesOf((w) => w.int(BigInt(v))), `encode ${v}`);
    assert.equal(new Reader(new Uint8Array(fast)).int(), v, `decode ${v}`);
    // With bytes after it (the unrolled path, taken when 5 bytes remain),
    // through both readers, stopping exactly at its end.
    const padded = new Uint8Array([...fast, 0x81, 0x82, 0x83, 0x84, 0x85]);
    const r = new Reader(padded);
    assert.equal(r.int(), v, `decode ${v} padded`);
    assert.equal(r.pos, fast.length, `end of ${v}`);
    const s = new Reader(padded);
    assert.equal(s.safeInt(), v, `safeInt ${v} padded`);
    assert.equal(s.pos, fast.length, `safeInt end of ${v}`);
  }
  // Non-minimal encodings (redundant sign groups) decode to the same value.
  const redundant: [number[], number][] = [
    [[0x00, 0x81], 1],
    [[0x7f, 0xff], -1],
    [[0x00, 0x00, 0x00, 0x00, 0xc0], 64],
    [[0x7f, 0x7f, 0x7f, 0x7f, 0xbf], -65],
    [[0x00, 0x00, 0x00, 0x00, 0x00, 0x81], 1],
  ];
  for (const [bytes, v] of redundant) {
    const padded = new Uint8Array([...bytes, 0x81, 0x81, 0x81, 0x81, 0x81]);
    const r = new Reader(padded);
    assert.equal(r.safeInt(), v, `${bytes}`);
    assert.equal(r.pos, bytes.length, `end of ${bytes}`);
  }
});

Deno.test("integers beyond 2^53 decode as bigint, never rounded", () => {
  for (
    const v of [
      2n ** 53n,
      -(2n ** 53n),
      2n ** 63n - 1n,
      -(2n ** 63n),
      3n ** 80n,
    ]
  ) {
    const r = new Reader(new Uint8Array(bytesOf((w) => w.int(v))));
    assert.equal(r.int(), v);
    r.done();
  }
  const big = new Reader(new Uint8Array(bytesOf((w) => w.int(2n ** 60n))));
  assert.throws(() => big.safeInt(), SbsError);
  assert.throws(() => new Writer().int(2 ** 53), RangeError);
  assert.throws(() => new Writer().int(1.5), RangeError);
});

Deno.test("truncated and malformed input throws SbsError, never reads past the end", () => {
  const cases: [number[], (r: Reader) => unknown][] = [
    [[], (r) => r.int()],
    [[0x01, 0x02], (r) => r.int()],
    [[0x85, 0x61], (r) => r.string()],
    [[0x3f, 0x7f, 0xff], (r) => r.bytes()], // length far beyond input
    [[0xff], (r) => r.bytes()], // negative length
    [[1, 2, 3], (r) => r.float()],
    [[0x82, 0xc3, 0x28], (r) => r.string()], // invalid UTF-8
  ];
  for (const [input, read] of cases) {
    assert.throws(
      () => read(new Reader(new Uint8Array(input))),
      SbsError,
      `${input}`,
    );
  }
  const wide = new Uint8Array(MAX_INT_BYTES + 10).fill(0x11);
  wide[wide.length - 1] = 0x91;
  assert.throws(() => new Reader(wide).int(), /wider than/);
  assert.throws(
    () => new Reader(new Uint8Array([0x80, 0x80])).done(),
    /trailing/,
  );
});

Deno.test("interned short strings never return another string's value", () => {
  // 1 to 32 characters: every length interned (built two ways).
  const words = Array.from(
    { length: 20000 },
    (_, i) => `s${i.toString(36)}`.padEnd(1 + (i % 32), "-").slice(0, 32),
  );
  const w = new Writer();
  for (const s of words) w.string(s);
  for (const s of words) w.string(s);
  const r = new Reader(w.bytes());
  for (const s of [...words, ...words]) assert.equal(r.string(), s);
  r.done();
  // Same length and same first, second, middle and last two bytes (the
  // ones Reader.string hashes), alternating in one slot; one of them
  // non-ASCII with as many UTF-8 bytes.
  const twins = [
    "device_01_temp",
    "device_02_temp",
    "device_01Xtemp",
    "devic\u00e901_temp", // 14 UTF-8 bytes: "\u00e9" is two
    "device_01_temp",
  ];
  const w2 = new Writer();
  for (let i = 0; i < 50; i++) for (const s of twins) w2.string(s);
  const r2 = new Reader(w2.bytes());
  for (let i = 0; i < 50; i++) {
    for (const s of twins) assert.equal(r2.string(), s);
  }
  r2.done();
});

Deno.test("a leading U+FEFF is part of a string, both ways, as in Python", () => {
  // Python: b"\xef\xbb\xbf\xc3\xa9".decode() == "\ufeff\u00e9".
  for (
    const s of [
      "\ufeff\u00e9",
      "\ufeff",
      "\ufeffa",
      "\ufeff" + "\u00e9".repeat(600),
    ]
  ) {
    const w = new Writer();
    w.string(s);
    const bytes = w.bytes();
    const r = new Reader(bytes);
    const decoded = r.string();
    r.done();
    assert.equal(decoded, s);
    // And back to the same bytes.
    const w2 = new Writer();
    w2.string(decoded);
    assert.deepEqual(w2.bytes(), bytes);
  }
});

Deno.test("floats read right at any offset of their buffer", () => {
  const values = [0, -0, 1.5, -2.25e-300, Math.PI, 1e308, -Infinity, NaN];
  const w = new Writer();
  for (const v of values) w.float(v);
  const bytes = w.bytes();
  for (let offset = 0; offset < 8; offset++) {
    const host = new Uint8Array(bytes.length + 16);
    host.set(bytes, offset);
    const r = new Reader(host.subarray(offset, offset + bytes.length));
    for (const v of values) assert.ok(Object.is(r.float(), v), `at ${offset}`);
    r.done();
  }
});

Deno.test("a length patched by endLength is the Integer int() writes, whatever the hint", () => {
  // Each width's boundaries (1 to 4 bytes: below 2^27), with the guess
  // too small, right and too large, so the data moves both ways.
  const lengths = [
    0,
    1,
    63,
    64,
    127,
    128,
    8191,
    8192,
    16383,
    16384,
    1048575,
    1048576,
    1048577,
  ];
  for (const len of lengths) {
    const data = new Uint8Array(len);
    for (let i = 0; i < len; i++) data[i] = (i * 7 + 3) & 0xff;
    const expected = new Writer(1);
    expected.int(len);
    expected.raw(data);
    for (const hint of [0, len, 1 << 22]) {
      const w = new Writer(1);
      w.byte(0xaa); // the mark is not at 0
      const mark = w.beginLength(hint);
      w.raw(data);
      w.endLength(mark);
      const out = w.bytes();
      assert.equal(out[0], 0xaa);
      assert.deepEqual(
        out.subarray(1),
        expected.bytes(),
        `length ${len}, hint ${hint}`,
      );
    }
  }
});

Deno.test("strings: ASCII, non-ASCII, long and surrogates round trip", () => {
  for (
    const s of [
      "",
      "a",
      "čćžšđ",
      "😀",
      "x".repeat(70000),
      "a😀".repeat(40),
      "€".repeat(100),
    ]
  ) {
    const r = new Reader(new Uint8Array(bytesOf((w) => w.string(s))));
    assert.equal(r.string(), s);
    r.done();
  }
});

Deno.test("JSON payload text matches Python's json.dumps defaults", () => {
  assert.equal(
    jsonText({ a: 1, b: [true, { c: "čž" }], d: null, e: -2.5 }),
    '{"a": 1, "b": [true, {"c": "\\u010d\\u017e"}], "d": null, "e": -2.5}',
  );
  assert.equal(
    jsonText('\n\t"\\\u0001\u007f😀'),
    '"\\n\\t\\"\\\\\\u0001\\u007f\\ud83d\\ude00"',
  );
  assert.equal(jsonText(12345678901234567890n), "12345678901234567890");
  assert.throws(() => jsonText(NaN), /NaN/);
  assert.throws(() => jsonText([Infinity]), /Infinity/);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => jsonText(cyclic as never), /too deep/);
});

Deno.test("JSON integers beyond 2^53 parse as bigint", () => {
  assert.deepEqual(
    parseJsonText("[9007199254740993, 1.5, -12345678901234567890]"),
    [
      9007199254740993n,
      1.5,
      -12345678901234567890n,
    ],
  );
  assert.deepEqual(parseJsonText("[9007199254740991]"), [9007199254740991]);
  assert.throws(() => parseJsonText("{bad"), SyntaxError);
});
