// Conformance of the HatObserver codecs: every ../shared/monitor/monitor.json
// `messages` entry both ways (decode hex to value, encode value to exactly
// hex), the `frames` as whole Chatter frames, and `componentData`.

import assert from "node:assert/strict";
import { Reader, Writer } from "../common/sbs/mod.ts";
import { writeFrame } from "../common/chatter/mod.ts";
import * as m from "../common/monitor/mod.ts";
import { jsonText, parseJsonText } from "../common/json/mod.ts";
import {
  bytesToHex,
  decodeHex,
  encodeHex,
  readVectorFrame,
} from "./_vectors.ts";
import { loadMonitorVectors, observerValue } from "./_monitor_vectors.ts";

const vectors = loadMonitorVectors();

// deno-lint-ignore no-explicit-any
type AnyCodec = [(r: Reader) => any, (w: Writer, v: any) => void];
const codecs: Record<string, AnyCodec> = {
  "HatObserver.BlessingReq": [m.readBlessingReq, m.writeBlessingReq],
  "HatObserver.BlessingRes": [m.readBlessingRes, m.writeBlessingRes],
  "HatObserver.ComponentInfo": [m.readComponentInfo, m.writeComponentInfo],
  "HatObserver.MsgClient": [m.readMsgClient, m.writeMsgClient],
  "HatObserver.MsgServer": [m.readMsgServer, m.writeMsgServer],
  "HatObserver.MsgClose": [() => null, () => {}],
  "HatObserver.MsgSlave": [m.readMsgSlave, m.writeMsgSlave],
  "HatObserver.MsgMaster": [m.readMsgMaster, m.writeMsgMaster],
};

Deno.test({
  name: "monitor.json: every HatObserver message both ways",
  ignore: vectors === null,
  fn() {
    const seen = new Set<string>();
    for (const [i, e] of vectors.messages.entries()) {
      const [read, write] = codecs[e.type];
      const value = observerValue(e.type, e.value);
      const ctx = `${e.type} #${i}`;
      assert.deepEqual(decodeHex(e.hex, read), value, ctx);
      assert.equal(encodeHex((w) => write(w, value)), e.hex, ctx);
      seen.add(e.type);
    }
    assert.equal(seen.size, Object.keys(codecs).length, "every type");
  },
});

Deno.test({
  name: "monitor.json: observer frames as whole Chatter frames",
  ignore: vectors === null,
  fn() {
    assert.ok(vectors.frames.length > 0);
    for (const e of vectors.frames) {
      const v = e.value;
      const msg = readVectorFrame(e.hex, v);
      const [read, write] = codecs[msg.type];
      const value = observerValue(msg.type, e.dataValue);
      const r = new Reader(msg.buf, msg.dataStart, msg.dataEnd);
      assert.deepEqual(read(r), value);
      r.done();
      const w = new Writer(8);
      writeFrame(
        w,
        msg.id,
        msg.first,
        msg.owner,
        msg.token,
        msg.last,
        msg.type,
        (w) => write(w, value),
      );
      assert.equal(bytesToHex(w.bytes()), e.hex);
    }
  },
});

Deno.test({
  name: "monitor.json: component data texts parse to their values, " +
    "and are written as Python writes them",
  ignore: vectors === null,
  fn() {
    for (const { value, text } of vectors.componentData) {
      // The vector file itself is read with JSON.parse: compare alike.
      assert.deepEqual(JSON.parse(text), value, text);
      const parsed = parseJsonText(text);
      // JavaScript has no float 2.0 apart from the integer 2: the one text
      // written differently, and equal by value. 1e20 is a bigint here,
      // written back digit for digit.
      assert.equal(jsonText(parsed), text === "2.0" ? "2" : text, text);
    }
  },
});
