// Conformance: every entry of ../shared/vectors both ways (decode hex to
// value, encode value to exactly hex).

import assert from "node:assert/strict";
import { type Reader, Writer } from "../common/sbs/mod.ts";
import { writeFrame } from "../common/chatter/mod.ts";
import * as m from "../common/eventer/mod.ts";
import {
  bytes,
  bytesToHex,
  decodeHex,
  encodeHex,
  eventerValue,
  float,
  int,
  loadVectors,
  readVectorFrame,
} from "./_vectors.ts";

// deno-lint-ignore no-explicit-any
type Entry = { type: string; value: any; hex: string };

function vectorTest(file: string, fn: (entries: Entry[]) => void): void {
  const entries = loadVectors<Entry>(file);
  if (!entries) {
    Deno.test({
      name: `${file}: vectors absent (../shared/vectors missing)`,
      ignore: true,
      fn() {},
    });
    return;
  }
  Deno.test(`${file}: all ${entries.length} vectors both ways`, () => {
    assert.ok(entries.length > 0);
    fn(entries);
  });
}

vectorTest("sbs.json", (entries) => {
  for (const e of entries) {
    const ctx = `${e.type} ${JSON.stringify(e.value)}`;
    switch (e.type) {
      case "Integer":
        assert.equal(decodeHex(e.hex, (r) => r.int()), int(e.value), ctx);
        assert.equal(encodeHex((w) => w.int(int(e.value))), e.hex, ctx);
        break;
      case "Float": {
        const v = float(e.value);
        assert.ok(Object.is(decodeHex(e.hex, (r) => r.float()), v), ctx);
        assert.equal(encodeHex((w) => w.float(v)), e.hex, ctx);
        break;
      }
      case "String":
        assert.equal(decodeHex(e.hex, (r) => r.string()), e.value, ctx);
        assert.equal(encodeHex((w) => w.string(e.value)), e.hex, ctx);
        break;
      case "Bytes":
        assert.deepEqual(
          decodeHex(e.hex, (r) => r.bytes()),
          bytes(e.value),
          ctx,
        );
        assert.equal(
          encodeHex((w) => w.bytesField(bytes(e.value))),
          e.hex,
          ctx,
        );
        break;
      case "Boolean":
        assert.equal(decodeHex(e.hex, (r) => r.bool()), e.value, ctx);
        assert.equal(encodeHex((w) => w.bool(e.value)), e.hex, ctx);
        break;
      case "None":
        assert.equal(e.hex, "", ctx);
        break;
      case "P.Opt": {
        const v = e.value[0] === "none" ? null : int(e.value[1]);
        const got = decodeHex(e.hex, (r) => r.byte() === 0x81 ? r.int() : null);
        assert.equal(got, v, ctx);
        assert.equal(
          encodeHex((w) =>
            v === null ? w.byte(0x80) : (w.byte(0x81), w.int(v))
          ),
          e.hex,
          ctx,
        );
        break;
      }
      case "P.Ints": {
        const v = e.value.map(int);
        const got = decodeHex(e.hex, (r) => {
          const n = r.length();
          return Array.from({ length: n }, () => r.int());
        });
        assert.deepEqual(got, v, ctx);
        assert.equal(
          encodeHex((w) => {
            w.int(v.length);
            for (const x of v) w.int(x);
          }),
          e.hex,
          ctx,
        );
        break;
      }
      default:
        throw new Error(`unknown SBS vector type ${e.type}`);
    }
  }
});

vectorTest("chatter.json", (entries) => {
  for (const e of entries) {
    const v = e.value;
    readVectorFrame(e.hex, v);
    const w = new Writer(8);
    writeFrame(
      w,
      int(v.id) as number,
      int(v.first) as number,
      v.owner,
      v.token,
      v.last,
      v.data.type,
      bytes(v.data.data),
    );
    assert.equal(bytesToHex(w.bytes()), e.hex);
  }
});

// deno-lint-ignore no-explicit-any
type AnyCodec = [(r: Reader) => any, (w: Writer, v: any) => void];
const codecs: Record<string, AnyCodec> = {
  "HatEventer.MsgInitReq": [m.readInitReq, m.writeInitReq],
  "HatEventer.MsgInitRes": [m.readInitRes, m.writeInitRes],
  "HatEventer.MsgStatusNotify": [m.readStatus, m.writeStatus],
  "HatEventer.MsgEventsNotify": [m.readEvents, m.writeEvents],
  "HatEventer.MsgEventsAck": [() => null, () => {}],
  "HatEventer.MsgRegisterReq": [m.readRegisterReq, m.writeRegisterReq],
  "HatEventer.MsgRegisterRes": [m.readRegisterRes, m.writeRegisterRes],
  "HatEventer.MsgQueryReq": [m.readQueryParams, m.writeQueryParams],
  "HatEventer.MsgQueryRes": [m.readQueryResult, m.writeQueryResult],
};

vectorTest("eventer.json", (entries) => {
  const seen = new Set<string>();
  for (const [i, e] of entries.entries()) {
    const [read, write] = codecs[e.type];
    const value = eventerValue(e.type, e.value);
    const ctx = `${e.type} #${i}`;
    assert.deepEqual(decodeHex(e.hex, read), value, ctx);
    assert.equal(encodeHex((w) => write(w, value)), e.hex, ctx);
    seen.add(e.type);
  }
  assert.equal(seen.size, Object.keys(codecs).length, "every message type");
});
