// Hostile input: every decoder (SBS Reader primitives, Chatter framing,
// every HatEventer message reader) fed >100,000 random and mutated inputs,
// and a live server under a crowd of connections sending garbage while a
// well-behaved client keeps working. Seeded: FUZZ_SEED=<n> replays a run.

import assert from "node:assert/strict";
import { connect } from "../client.ts";
import { listen, type Server } from "../server.ts";
import { startEventServer } from "../event_server/mod.ts";
import {
  DEFAULT_MAX_FRAME_SIZE,
  frameBodyLength,
  readChatterMsg,
  writeFrame,
} from "../common/chatter/mod.ts";
import { setLogger } from "../common/log.ts";
import * as m from "../common/eventer/mod.ts";
import { MAX_INT_BYTES, Reader, SbsError, Writer } from "../common/sbs/mod.ts";
import type { Event, RegisterEvent } from "../common/event/mod.ts";
import { Rng, seedFromEnv } from "./_rng.ts";
import { bytesToHex, hexToBytes, loadVectors } from "./_vectors.ts";

const SEED = seedFromEnv("FUZZ_SEED");
console.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);

type Entry = { type: string; value: unknown; hex: string };
const sbsVectors = loadVectors<Entry>("sbs.json");
const chatterVectors = loadVectors<Entry>("chatter.json");
const eventerVectors = loadVectors<Entry>("eventer.json");
const HAVE_VECTORS = sbsVectors !== null && chatterVectors !== null &&
  eventerVectors !== null;

// ------------------------------------------------------------ the decoders

interface Codec {
  read(r: Reader): unknown;
  write(w: Writer, v: unknown): void;
}

// deno-lint-ignore no-explicit-any
type Any = any;

/** Every HatEventer message: its reader, and its writer for re-encoding. */
const CODECS: Record<string, Codec> = {
  [m.MsgType.InitReq]: { read: m.readInitReq, write: m.writeInitReq },
  [m.MsgType.InitRes]: { read: m.readInitRes, write: m.writeInitRes },
  [m.MsgType.StatusNotify]: { read: m.readStatus, write: m.writeStatus },
  [m.MsgType.EventsNotify]: { read: m.readEvents, write: m.writeEvents },
  [m.MsgType.EventsAck]: { read: () => null, write: () => {} },
  [m.MsgType.RegisterReq]: {
    read: m.readRegisterReq,
    write: m.writeRegisterReq,
  },
  [m.MsgType.RegisterRes]: {
    read: m.readRegisterRes,
    write: (w, v: Any) => m.writeRegisterRes(w, v),
  },
  [m.MsgType.QueryReq]: {
    read: m.readQueryParams,
    write: m.writeQueryParams,
  },
  [m.MsgType.QueryRes]: {
    read: m.readQueryResult,
    write: m.writeQueryResult,
  },
} as Record<string, Codec>;
const MSG_TYPES = Object.keys(CODECS);

/** The shared types' readers, fed the same mutated message bodies. */
const PARTS: ((r: Reader) => unknown)[] = [
  m.readTimestamp,
  m.readEventId,
  m.readEventType,
  m.readEvent,
  m.readRegisterEvent,
];

function decodeMsg(type: string, data: Uint8Array): unknown {
  const r = new Reader(data);
  const v = CODECS[type].read(r);
  r.done();
  return v;
}

// Structural equality where a JSON integer may come back as a number or a
// bigint of the same value (the JSON text does not say which it was).
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (
    (typeof a === "bigint" || typeof a === "number") &&
    (typeof b === "bigint" || typeof b === "number")
  ) {
    const whole = (x: number | bigint) =>
      typeof x === "bigint" || Number.isInteger(x);
    return whole(a) && whole(b) && BigInt(a) === BigInt(b);
  }
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => same(x, b[i]));
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length &&
      ka.every((k) => same((a as Any)[k], (b as Any)[k]));
  }
  return false;
}

interface Tally {
  inputs: number;
  decoded: number;
  rejected: number;
  reencoded: number;
}

const tally = (): Tally => ({
  inputs: 0,
  decoded: 0,
  rejected: 0,
  reencoded: 0,
});

/**
 * Run `fn` on `input`: it must return or throw SbsError. Anything else is
 * a finding, reported with the seed and the input's hex.
 */
function attempt(
  t: Tally,
  what: string,
  input: Uint8Array,
  fn: () => void,
): void {
  t.inputs++;
  try {
    fn();
    t.decoded++;
  } catch (e) {
    if (e instanceof SbsError) {
      t.rejected++;
      return;
    }
    const hex = input.length > 4096
      ? `${bytesToHex(input.subarray(0, 4096))}... (${input.length} bytes)`
      : bytesToHex(input);
    throw new Error(
      `${what}: ${(e as Error)?.name}: ${(e as Error)?.message}\n` +
        `  seed ${SEED} (FUZZ_SEED=${SEED}), input #${t.inputs}\n  hex ${hex}`,
      { cause: e },
    );
  }
}

// Decoded values must re-encode to bytes that decode to the same value.
function reencode(t: Tally, type: string, v: unknown): void {
  const w = new Writer(64);
  CODECS[type].write(w, v);
  const again = decodeMsg(type, w.bytes());
  if (!same(v, again)) {
    throw new Error(`${type} does not survive re-encoding`);
  }
  t.reencoded++;
}

// ------------------------------------------------------------ mutations

const INTERESTING = [
  0x00,
  0x01,
  0x3f,
  0x40,
  0x7f,
  0x80,
  0x81,
  0x82,
  0xbf,
  0xc0,
  0xfe,
  0xff,
];

/** SBS Integer encodings of lengths no input can hold. */
const HUGE_INTS: Uint8Array[] = [
  2n ** 31n,
  2n ** 32n,
  2n ** 40n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n + 1n,
  2n ** 200n,
  -1n,
  -(2n ** 40n),
].map((v) => {
  const w = new Writer(8);
  w.int(v);
  return w.bytes().slice();
});

/** Frame headers announcing more than any limit. */
const HUGE_HEADERS: Uint8Array[] = [
  new Uint8Array([4, 0x7f, 0xff, 0xff, 0xff]),
  new Uint8Array([5, 0x01, 0, 0, 0, 0]),
  new Uint8Array([8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
  new Uint8Array([255, ...new Uint8Array(255).fill(0xff)]),
  new Uint8Array([255, 1, ...new Uint8Array(254)]),
];

function splice(
  a: Uint8Array,
  at: number,
  cut: number,
  ins: Uint8Array,
): Uint8Array {
  cut = Math.min(cut, a.length - at);
  const out = new Uint8Array(a.length - cut + ins.length);
  out.set(a.subarray(0, at));
  out.set(ins, at);
  out.set(a.subarray(at + cut), at + ins.length);
  return out;
}

/** Apply 1-4 random mutations to a copy of `input`. */
function mutate(rng: Rng, input: Uint8Array, corpus: Uint8Array[]): Uint8Array {
  let b: Uint8Array = input.slice();
  const rounds = 1 + rng.int(4);
  for (let i = 0; i < rounds; i++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(10)) {
      case 0: // bit flip
        if (b.length) b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      case 1: // byte change, often to a boundary value
        if (b.length) {
          b[rng.int(b.length)] = rng.chance(0.5)
            ? rng.pick(INTERESTING)
            : rng.u32() & 0xff;
        }
        break;
      case 2: // truncation
        b = b.slice(0, rng.int(b.length + 1));
        break;
      case 3: // extension
        b = splice(b, b.length, 0, rng.bytes(1 + rng.int(16)));
        break;
      case 4: // insertion
        b = splice(b, at, 0, rng.bytes(1 + rng.int(8)));
        break;
      case 5: // deletion
        b = splice(
          b,
          at,
          Math.min(rng.int(8), b.length - at),
          new Uint8Array(),
        );
        break;
      case 6: // huge length prefix spliced in (replacing or inserted)
        b = splice(
          b,
          at,
          rng.chance(0.5) ? Math.min(1, b.length - at) : 0,
          rng.pick(HUGE_INTS),
        );
        break;
      case 7: { // repeat a chunk
        const len = rng.int(Math.min(16, b.length - at) + 1);
        b = splice(b, at, 0, b.slice(at, at + len));
        break;
      }
      case 8: { // crossover with another corpus input
        const other = rng.pick(corpus);
        const from = rng.int(other.length + 1);
        const len = rng.int(Math.min(32, other.length - from) + 1);
        b = splice(b, at, rng.int(4), other.subarray(from, from + len));
        break;
      }
      default: // run of one boundary byte
        b = splice(
          b,
          at,
          0,
          new Uint8Array(1 + rng.int(8)).fill(rng.pick(INTERESTING)),
        );
    }
  }
  return b;
}

/** Random bytes, half of them biased towards small SBS integers. */
function randomInput(rng: Rng, max = 64): Uint8Array {
  const b = rng.bytes(rng.int(max + 1));
  if (rng.chance(0.5)) {
    for (let i = 0; i < b.length; i++) {
      if (rng.chance(0.6)) b[i] = 0x80 | (b[i] & 0x07);
    }
  }
  return b;
}

// ------------------------------------------------------------ the corpora

const eventerCorpus: { type: string; data: Uint8Array }[] = eventerVectors
  ? eventerVectors.map((e) => ({ type: e.type, data: hexToBytes(e.hex) }))
  : [];

function frame(
  id: number,
  first: number,
  owner: boolean,
  last: boolean,
  type: string,
  data: Uint8Array | null,
): Uint8Array {
  const w = new Writer(64);
  writeFrame(w, id, first, owner, true, last, type, data);
  return w.bytes().slice();
}

// Reference frames, plus every Eventer vector framed as its message type,
// so that mutated frames reach the message readers too.
const frameCorpus: Uint8Array[] = [
  ...(chatterVectors ?? []).map((e) => hexToBytes(e.hex)),
  ...eventerCorpus.map((e, i) =>
    frame(i + 1, i + 1, true, false, e.type, e.data)
  ),
];

const sbsCorpus: { type: string; data: Uint8Array }[] = (sbsVectors ?? [])
  .map((e) => ({ type: e.type, data: hexToBytes(e.hex) }));

function readSbs(type: string, r: Reader): unknown {
  switch (type) {
    case "Integer":
      return r.int();
    case "Float":
      return r.float();
    case "String":
      return r.string();
    case "Bytes":
      return r.bytes();
    case "Boolean":
      return r.bool();
    case "None":
      return null;
    case "P.Opt":
      return r.byte() === 0x80 ? null : r.int();
    default: {
      const n = r.length();
      const out = [];
      for (let i = 0; i < n; i++) out.push(r.int());
      return out;
    }
  }
}

/** A random sequence of Reader primitives until the input runs out. */
function readProgram(rng: Rng, r: Reader): void {
  while (r.remaining > 0) {
    switch (rng.int(9)) {
      case 0:
        r.int();
        break;
      case 1:
        r.safeInt();
        break;
      case 2:
        r.length();
        break;
      case 3:
        r.float();
        break;
      case 4:
        r.bytesView();
        break;
      case 5:
        r.bytes();
        break;
      case 6:
        r.string();
        break;
      case 7:
        r.bool();
        break;
      default:
        r.byte();
    }
  }
  r.done();
}

// ------------------------------------------------------------ the fuzzers

// FUZZ_SCALE=<n> multiplies the counts for a deeper run.
const SCALE = Number(Deno.env.get("FUZZ_SCALE") ?? 1);
const SBS_INPUTS = 30_000 * SCALE;
const MSG_INPUTS = 60_000 * SCALE;
const FRAME_INPUTS = 30_000 * SCALE;
const INPUTS = SBS_INPUTS + MSG_INPUTS + FRAME_INPUTS;

function fuzzSbs(rng: Rng, t: Tally): void {
  const corpus = sbsCorpus.map((e) => e.data);
  for (let i = 0; i < SBS_INPUTS; i++) {
    const useVector = corpus.length > 0 && rng.chance(0.7);
    const base = useVector ? rng.pick(sbsCorpus) : null;
    const input = base
      ? mutate(rng, base.data, corpus)
      : randomInput(rng, rng.chance(0.1) ? 2048 : 64);
    const type = base?.type ??
      rng.pick(["Integer", "Float", "String", "Bytes", "P.Ints", "P.Opt"]);
    attempt(t, `SBS ${type}`, input, () => {
      const r = new Reader(input);
      readSbs(type, r);
      r.done();
    });
    attempt(
      t,
      "SBS primitives",
      input,
      () => readProgram(rng, new Reader(input)),
    );
  }
}

function fuzzMessages(rng: Rng, t: Tally): void {
  const corpus = eventerCorpus.map((e) => e.data);
  for (let i = 0; i < MSG_INPUTS; i++) {
    const base = corpus.length > 0 && rng.chance(0.8)
      ? rng.pick(eventerCorpus)
      : null;
    const input = base
      ? mutate(rng, base.data, corpus)
      : randomInput(rng, rng.chance(0.1) ? 1024 : 96);
    // Mostly the vector's own reader; sometimes a different one, since a
    // peer may send any bytes under any type name.
    const type = base && rng.chance(0.8) ? base.type : rng.pick(MSG_TYPES);
    attempt(t, type, input, () => {
      const v = decodeMsg(type, input);
      reencode(t, type, v);
    });
    if (i % 4 === 0) {
      const part = rng.pick(PARTS);
      attempt(t, part.name, input, () => part(new Reader(input)));
    }
  }
}

/**
 * Decode a byte stream the way a connection's read loop does: frame after
 * frame until the bytes run out or a frame is incomplete.
 */
function decodeStream(buf: Uint8Array, maxFrameSize: number, t: Tally): void {
  let pos = 0;
  for (;;) {
    const k = frameBodyLength(buf, pos, buf.length, maxFrameSize);
    if (k < 0) return;
    const body = pos + 1 + buf[pos];
    if (buf.length - body < k) return;
    const msg = readChatterMsg(buf, body, body + k);
    pos = body + k;
    const codec = CODECS[msg.type];
    if (codec) {
      reencode(t, msg.type, decodeMsg(msg.type, msg.data));
    }
    // The frame must re-encode to the same body.
    const again = frame(
      msg.id,
      msg.first,
      msg.owner,
      msg.last,
      msg.type,
      msg.data,
    );
    const k2 = frameBodyLength(again, 0, again.length, Infinity);
    const back = readChatterMsg(again, 1 + again[0], 1 + again[0] + k2);
    if (
      !same(
        { ...back.header(), token: true, data: back.data },
        { ...msg.header(), token: true, data: msg.data },
      )
    ) {
      throw new Error("frame does not survive re-encoding");
    }
  }
}

function fuzzFrames(rng: Rng, t: Tally): void {
  const small = frameCorpus.filter((f) => f.length < 1024);
  for (let i = 0; i < FRAME_INPUTS; i++) {
    let input: Uint8Array;
    const dice = rng.float();
    if (frameCorpus.length === 0 || dice < 0.1) {
      input = randomInput(rng, 128);
    } else if (dice < 0.2) {
      // A header announcing more than the limit, then a little body.
      const h = rng.pick(HUGE_HEADERS);
      input = splice(h, h.length, 0, rng.bytes(rng.int(32)));
    } else if (dice < 0.3) {
      // Several frames back to back, one of them mutated.
      const parts = [rng.pick(small), rng.pick(small), rng.pick(small)];
      const j = rng.int(3);
      parts[j] = mutate(rng, parts[j], small);
      input = parts.reduce((a, b) => splice(a, a.length, 0, b));
    } else {
      // Mostly small frames: the 70 KB ones cost a copy per mutation.
      const base = rng.chance(0.02) ? rng.pick(frameCorpus) : rng.pick(small);
      input = mutate(rng, base, small);
    }
    const max = rng.chance(0.5) ? 1 << 20 : 256 * 1024 * 1024;
    attempt(t, "frame", input, () => decodeStream(input, max, t));
  }
}

const vectorsNote = HAVE_VECTORS
  ? "random and mutated vector inputs"
  : "random inputs only: ../shared/vectors absent";

Deno.test(`fuzz: >100,000 decoder inputs end in a value or SbsError (${vectorsNote})`, () => {
  const rng = new Rng(SEED);
  const sbs = tally();
  const msgs = tally();
  const frames = tally();
  const started = performance.now();
  fuzzSbs(rng, sbs);
  fuzzMessages(rng, msgs);
  fuzzFrames(rng, frames);
  const ms = performance.now() - started;
  const total = sbs.inputs + msgs.inputs + frames.inputs;
  const line = (name: string, t: Tally) =>
    `  ${name}: ${t.inputs} decodes, ${t.decoded} values, ${t.rejected} SbsError, ${t.reencoded} re-encoded`;
  console.log(
    [
      `fuzz seed ${SEED}: ${INPUTS} inputs, ${total} decodes in ${
        ms.toFixed(0)
      } ms`,
      line("SBS primitives", sbs),
      line("Eventer messages", msgs),
      line("Chatter frames", frames),
    ].join("\n"),
  );
  assert.ok(INPUTS >= 100_000, `only ${INPUTS} inputs`);
  // Both outcomes must actually occur, or the mutations are too weak.
  for (const t of [sbs, msgs, frames]) {
    assert.ok(t.decoded > 0 && t.rejected > 0);
  }
});

// ------------------------------------------------------------ limits

function timed(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

Deno.test("fuzz: a 20-byte input announcing 2^40 elements throws fast, allocating nothing", () => {
  const announce = (n: bigint) => {
    const w = new Writer(32);
    w.int(n);
    while (w.pos < 20) w.byte(0x80);
    return w.bytes().slice();
  };
  const readers: [string, (r: Reader) => unknown][] = [
    ["Array(Event)", m.readEvents],
    ["Array(RegisterEvent)", m.readRegisterReq],
    ["EventType", m.readEventType],
    ["QueryResult", m.readQueryResult],
    ["Bytes", (r) => r.bytes()],
    ["String", (r) => r.string()],
    ["length", (r) => r.length()],
  ];
  for (const n of [2n ** 40n, 2n ** 53n, 2n ** 64n, 2n ** 100n]) {
    const input = announce(n);
    assert.equal(input.length, 20);
    for (const [name, read] of readers) {
      const ms = timed(() =>
        assert.throws(() => read(new Reader(input)), SbsError, name)
      );
      assert.ok(
        ms < 50,
        `${name} took ${ms} ms for 2^${n.toString(2).length - 1}`,
      );
    }
  }
  // An InitReq whose subscription array announces 2^40 entries.
  const w = new Writer(32);
  w.string("x");
  w.byte(0x80);
  w.int(2n ** 40n);
  assert.throws(() => m.readInitReq(new Reader(w.bytes())), SbsError);
});

Deno.test("fuzz: an endless Integer is cut at MAX_INT_BYTES in linear time", () => {
  const input = new Uint8Array(1 << 20).fill(0x7f);
  const ms = timed(() =>
    assert.throws(() => new Reader(input).int(), SbsError)
  );
  assert.ok(ms < 100, `took ${ms} ms`);
  // The widest accepted one still decodes.
  const ok = new Uint8Array(MAX_INT_BYTES).fill(0x01);
  ok[ok.length - 1] = 0x81;
  assert.equal(typeof new Reader(ok).int(), "bigint");
});

Deno.test("fuzz: frame headers beyond maxFrameSize throw before any allocation", () => {
  for (const h of HUGE_HEADERS) {
    assert.throws(() => frameBodyLength(h, 0, h.length, 1 << 20), SbsError);
  }
  // Within the limit, an incomplete header or body just waits for more.
  assert.equal(frameBodyLength(new Uint8Array([2, 1]), 0, 2, 1 << 20), -1);
  assert.equal(
    frameBodyLength(new Uint8Array([3, 1, 0, 0]), 0, 4, 1 << 20),
    65536,
  );
  // An empty body (m = 0 or k = 0) is a malformed message, not a hang.
  assert.throws(() => readChatterMsg(new Uint8Array(0), 0, 0), SbsError);
});

Deno.test("fuzz: a JSON payload number beyond the float range is an SbsError, not Infinity", () => {
  // Found by this fuzzer: `-32E5011537189626` decoded to -Infinity, which
  // no encoder can write back (a poison event for notifyEvents).
  for (const text of ["1e999", "[1, -32E5011537189626]", "9".repeat(400)]) {
    const w = new Writer(64);
    w.int(1);
    w.int(1);
    w.string("t");
    w.byte(0x80); // no source timestamp
    w.byte(0x81); // payload
    w.byte(0x81); // json
    w.string(text);
    const input = w.bytes().slice();
    if (text.startsWith("9")) {
      // A long integer run is exact as a bigint, and re-encodes.
      const [e] = m.readRegisterReq(new Reader(input));
      assert.equal(e.payload?.data, BigInt(text));
      continue;
    }
    assert.throws(() => m.readRegisterReq(new Reader(input)), SbsError, text);
  }
});

// ------------------------------------------------------------ live server

const LOCAL = { hostname: "127.0.0.1", port: 0 };

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let n = 0;
  while (n < bytes.length) n += await conn.write(bytes.subarray(n));
}

/** Read and discard until EOF; false when `ms` passed first. */
async function drainToEof(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(65536);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const eof = (async () => {
    try {
      while (await conn.read(buf) !== null) { /* discard */ }
    } catch {
      // A reset is an end too.
    }
    return true;
  })();
  try {
    return await Promise.race([eof, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function initFrame(name: string, subscriptions: string[][] = []): Uint8Array {
  const w = new Writer(64);
  m.writeInitReq(w, {
    clientName: name,
    clientToken: null,
    subscriptions,
    serverId: null,
    persisted: false,
  });
  return frame(1, 1, true, false, m.MsgType.InitReq, w.bytes().slice());
}

/** What one hostile connection sends, by kind. */
function hostileBytes(rng: Rng, kind: number): Uint8Array {
  const init = initFrame(`bad-${rng.u32()}`, rng.chance(0.3) ? [["*"]] : []);
  const requests = eventerCorpus.length
    ? eventerCorpus
    : [{ type: m.MsgType.QueryReq, data: new Uint8Array([0x80, 0x80]) }];
  switch (kind) {
    case 0: // garbage from the first byte
      return randomInput(rng, 512);
    case 1: { // a valid init, then mutated frames
      let out = init;
      for (let i = 0, n = 1 + rng.int(5); i < n; i++) {
        const r = rng.pick(requests);
        let f = frame(i + 2, i + 2, true, rng.chance(0.5), r.type, r.data);
        f = mutate(rng, f, frameCorpus.length ? frameCorpus : [f]);
        out = splice(out, out.length, 0, f);
      }
      return out;
    }
    case 2: { // an oversized header, after an init or not
      const before = rng.chance(0.5) ? init : new Uint8Array();
      return splice(before, before.length, 0, rng.pick(HUGE_HEADERS));
    }
    case 3: // a truncated init, then EOF
      return init.subarray(0, rng.int(init.length));
    case 4: { // a header announcing 100 MB within the limit, a bit of body, EOF
      const h = new Uint8Array([4, 0x06, 0x00, 0x00, 0x00, ...rng.bytes(64)]);
      return splice(init, init.length, 0, h);
    }
    default: // a mutated init
      return mutate(rng, init, [init]);
  }
}

const KINDS = [
  "garbage",
  "init+mutated frames",
  "oversized header",
  "truncated init",
  "100 MB announced then EOF",
  "mutated init",
];

Deno.test("fuzz: a live server survives hostile connections while a good client works", async () => {
  const rng = new Rng(SEED ^ 0x5eed);
  const warnings: string[] = [];
  setLogger({
    debug() {},
    warn: (msg) => warnings.push(msg),
    error: (msg) => warnings.push(msg),
  });
  let nextInstance = 1;
  const registered: Event[] = [];
  let server: Server | undefined;
  try {
    server = await listen(LOCAL, {
      status: "operational",
      maxFrameSize: 1 << 30,
      registerCb: async (_info, events: RegisterEvent[]) => {
        const out = events.map((e): Event => ({
          id: { server: 1, session: 1, instance: nextInstance++ },
          type: e.type,
          timestamp: { s: 1700000000, us: 0 },
          sourceTimestamp: e.sourceTimestamp ?? null,
          payload: e.payload ?? null,
        }));
        registered.push(...out);
        await server!.notifyEvents(out, false);
        return out;
      },
      queryCb: () => ({ events: registered.slice(-3), moreFollows: false }),
    });
    const addr = server.addresses[0];

    // The good client: register with response and query, in a loop.
    const notified: number[] = [];
    const good = await connect(addr, "good", {
      subscriptions: [["good", "*"]],
      eventsCb: (_c, events) => {
        for (const e of events) {
          if (e.payload?.kind === "json" && e.payload.data === "good") {
            notified.push(e.id.instance);
          }
        }
      },
    });
    let stop = false;
    const mine: number[] = [];
    let queries = 0;
    const goodLoop = (async () => {
      for (let i = 0; !stop; i++) {
        const res = await good.register([{
          type: ["good", String(i)],
          payload: { kind: "json", data: "good" },
        }], true);
        assert.ok(res && res.length === 1);
        mine.push(res[0].id.instance);
        const q = await good.query({ kind: "latest" });
        assert.ok(Array.isArray(q.events));
        queries++;
      }
    })();

    // The crowd: 300 hostile connections, 30 at a time.
    const CONNS = 300;
    const byKind = KINDS.map(() => ({ sent: 0, closedByServer: 0 }));
    let next = 0;
    const worker = async () => {
      while (next < CONNS) {
        next++;
        const kind = rng.int(KINDS.length);
        const bytes = hostileBytes(rng, kind);
        byKind[kind].sent++;
        const conn = await Deno.connect(addr);
        try {
          try {
            await writeAll(conn, bytes);
          } catch {
            // The server may already have hung up on the garbage.
          }
          if (kind === 3 || kind === 4) {
            await conn.closeWrite().catch(() => {});
          }
          if (await drainToEof(conn, 200)) {
            byKind[kind].closedByServer++;
            continue;
          }
          // Waiting for more bytes that will never come: end our side,
          // and the server must end its.
          await conn.closeWrite().catch(() => {});
          assert.ok(
            await drainToEof(conn, 3000),
            `${KINDS[kind]} connection never closed (seed ${SEED})`,
          );
        } finally {
          conn.close();
        }
      }
    };
    const rssBefore = Deno.memoryUsage().rss;
    await Promise.all(Array.from({ length: 30 }, worker));
    const rssGrowth = Deno.memoryUsage().rss - rssBefore;
    stop = true;
    await goodLoop;

    // Every notification of the good client's own events, once, in order.
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(notified, mine);
    assert.ok(good.isOpen, "good client disconnected");
    assert.equal(
      server.getConnInfos().filter((i) => i.clientName === "good").length,
      1,
    );

    // And a newcomer is still served.
    const late = await connect(addr, "late");
    const q = await late.query({ kind: "latest" });
    assert.equal(q.moreFollows, false);
    await late.asyncClose();
    await good.asyncClose();

    console.log(
      `live fuzz (seed ${SEED}): ${CONNS} hostile connections, ` +
        `${warnings.length} closed-with-reason log lines; good client made ` +
        `${mine.length} registers + ${queries} queries, all answered; ` +
        `RSS growth ${(rssGrowth / 1048576).toFixed(1)} MiB\n` +
        KINDS.map((k, i) =>
          `  ${k}: ${byKind[i].sent} sent, ${
            byKind[i].closedByServer
          } closed by the server within 200 ms of our last byte`
        ).join("\n"),
    );
    // Announced-but-unsent 100 MB bodies must not have been allocated.
    assert.ok(rssGrowth < 64 * 1048576, `RSS grew ${rssGrowth} bytes`);
    // Garbage and oversized headers never get past the server.
    assert.ok(byKind[2].closedByServer === byKind[2].sent);
  } finally {
    await server?.asyncClose();
    setLogger(null);
  }
});

// The same crowd against the runnable Event Server (SQLite in memory):
// its own callbacks (ids, commit before answering, CONNECTED events) sit
// on the same connection code and must survive the same input.
Deno.test("fuzz: the embedded Event Server survives hostile connections while a good client works", async () => {
  const rng = new Rng(SEED ^ 0xe5e5);
  const warnings: string[] = [];
  setLogger({
    debug() {},
    warn: (msg) => warnings.push(msg),
    error: (msg) => warnings.push(msg),
  });
  try {
    await using es = await startEventServer({
      db: ":memory:",
      hostname: "127.0.0.1",
      port: 0,
    });
    const addr = es.addresses[0];
    const notified: string[] = [];
    await using good = await connect(addr, "good", {
      subscriptions: [["good", "*"]],
      eventsCb: (_c, events) => {
        for (const e of events) {
          notified.push(`${e.id.session}/${e.id.instance}`);
        }
      },
    });
    let stop = false;
    const mine: string[] = [];
    const goodLoop = (async () => {
      for (let i = 0; !stop; i++) {
        const res = await good.register([{
          type: ["good", String(i)],
          payload: { kind: "json", data: i },
        }], true);
        assert.ok(res && res.length === 1, "register answered with its event");
        mine.push(`${res[0].id.session}/${res[0].id.instance}`);
        const q = await good.query({
          kind: "latest",
          eventTypes: [["good", String(i)]],
        });
        assert.deepEqual(q.events.map((e) => e.payload?.data), [i]);
      }
    })();
    let next = 0;
    const CONNS = 150;
    const worker = async () => {
      while (next++ < CONNS) {
        const kind = rng.int(KINDS.length);
        const conn = await Deno.connect(addr);
        try {
          await writeAll(conn, hostileBytes(rng, kind)).catch(() => {});
          if (!await drainToEof(conn, 200)) {
            await conn.closeWrite().catch(() => {});
            assert.ok(
              await drainToEof(conn, 3000),
              `${KINDS[kind]} never closed`,
            );
          }
        } finally {
          conn.close();
        }
      }
    };
    await Promise.all(Array.from({ length: 15 }, worker));
    stop = true;
    await goodLoop;
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(mine.length > 0);
    assert.deepEqual(
      notified,
      mine,
      "each of its events notified once, in order",
    );
    assert.ok(good.isOpen, "good client disconnected");
    const late = await connect(addr, "late");
    const back = await late.query({
      kind: "server",
      serverId: 1,
      maxResults: 1,
    });
    assert.equal(back.events.length, 1);
    await late.asyncClose();
  } finally {
    setLogger(null);
  }
});

// ------------------------------------------------------- decode budget

// Decoding amplifies: an empty EventType is 1 byte on the wire and ~20-40
// bytes of heap, so a frame of (V8 heap limit / 40) bytes exhausts the
// heap and V8 aborts the whole process, before connectedCb or any token
// check can run. The server's small pre-init frame limit
// (INIT_MAX_FRAME_SIZE) keeps such a frame out. The child server gets a
// 192 MiB heap so the demonstration is cheap.
Deno.test({
  name:
    "one huge InitReq within maxFrameSize cannot exhaust the heap and kill the server process",
  async fn() {
    const serverUrl = new URL("../server.ts", import.meta.url).href;
    const code = `
      import { listen } from ${JSON.stringify(serverUrl)};
      const s = await listen({ hostname: "127.0.0.1", port: 0 });
      console.log(s.addresses[0].port);`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `--v8-flags=--max-old-space-size=${
          Deno.env.get("HUGE_FRAME_HEAP_MB") ?? 192
        }`,
        code,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    try {
      const reader = child.stdout.getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      await child.stdout.cancel();
      const addr = { hostname: "127.0.0.1", port: Number(text.trim()) };
      // 8 MB: an InitReq with eight million empty subscriptions.
      const n = Number(Deno.env.get("HUGE_FRAME_BYTES") ?? 8_000_000);
      const w = new Writer(n + 64);
      writeFrame(w, 1, 1, true, true, false, m.MsgType.InitReq, (w) => {
        w.string("attacker");
        w.byte(0x80);
        w.int(n);
        w.ensure(n);
        w.buf.fill(0x80, w.pos, w.pos + n);
        w.pos += n;
        w.byte(0x80);
        w.bool(false);
      });
      assert.ok(
        w.pos < DEFAULT_MAX_FRAME_SIZE,
        "within the default maxFrameSize",
      );
      assert.ok(w.pos > 1024 * 1024, "beyond the pre-init limit");
      const conn = await Deno.connect(addr);
      try {
        await writeAll(conn, w.bytes()).catch(() => {});
        await drainToEof(conn, 20_000);
      } finally {
        conn.close();
      }
      const exited = await Promise.race([
        child.status.then((s) => s),
        new Promise<null>((r) => setTimeout(r, 2000, null)),
      ]);
      // The message must not await stderr unless the child is gone:
      // stderr ends only when the process does.
      if (exited !== null) {
        assert.fail(
          `the server process died on one ${w.pos}-byte frame:\n${
            (await stderr).slice(-400)
          }`,
        );
      }
      const late = await connect(addr, "after");
      await late.asyncClose();
    } finally {
      try {
        child.kill();
      } catch {
        // Already exited.
      }
      await child.status;
      await stderr;
    }
  },
});
