// Codec micro-benchmarks: encode and decode of 1,000-event batches, and
// whole Chatter frames. `deno task bench`; events/s = 1e3 / (ms per iter).

import { Reader, Writer } from "../common/sbs/mod.ts";
import { readEvents, writeEvents } from "../common/eventer/mod.ts";
import {
  frameBodyLength,
  readChatterMsg,
  writeFrame,
} from "../common/chatter/mod.ts";
import { bareEvents, binaryEvents, jsonEvents } from "./_events.ts";

const N = 1000;
const batches = {
  json: jsonEvents(N),
  bare: bareEvents(N),
  binary: binaryEvents(N),
};
const w = new Writer(1 << 20);

for (const [name, events] of Object.entries(batches)) {
  w.reset();
  writeEvents(w, events);
  const encoded = w.bytes().slice();
  Deno.bench(`encode ${N} events, ${name} payload`, { group: `encode` }, () => {
    w.reset();
    writeEvents(w, events);
  });
  Deno.bench(`decode ${N} events, ${name} payload`, { group: `decode` }, () => {
    readEvents(new Reader(encoded));
  });
  Deno.bench(
    `round trip ${N} events, ${name} payload`,
    { group: "round trip" },
    () => {
      w.reset();
      writeEvents(w, events);
      readEvents(new Reader(w.buf, 0, w.pos));
    },
  );
}

// A system with more event types than the decoder's type cache holds
// (numbered points): each batch is 1,000 of 20,000 types, a different
// thousand each time, so most types miss the cache.
const TYPES = 20000;
const manyTypes: Uint8Array[] = [];
for (let start = 0; start < TYPES; start += N) {
  w.reset();
  writeEvents(
    w,
    bareEvents(N).map((e, i) => ({
      ...e,
      type: ["gateway", `device${(start + i) % 97}`, "data", `p${start + i}`],
    })),
  );
  manyTypes.push(w.bytes().slice());
}
let nextBatch = 0;
Deno.bench(
  `decode ${N} events, bare payload, ${TYPES} distinct types`,
  { group: "decode" },
  () => {
    readEvents(new Reader(manyTypes[nextBatch++ % manyTypes.length]));
  },
);

const frameWriter = new Writer(1 << 20);
Deno.bench(`frame + unframe MsgEventsNotify of ${N} json events`, {
  group: "frame",
}, () => {
  frameWriter.reset();
  writeFrame(
    frameWriter,
    7,
    7,
    true,
    true,
    true,
    "HatEventer.MsgEventsNotify",
    (w) => writeEvents(w, batches.json),
  );
  const buf = frameWriter.buf;
  const k = frameBodyLength(buf, 0, frameWriter.pos, 1 << 30);
  const msg = readChatterMsg(buf, 1 + buf[0], 1 + buf[0] + k);
  readEvents(new Reader(msg.data));
});
Deno.bench("frame + unframe an empty MsgEventsAck", { group: "frame" }, () => {
  frameWriter.reset();
  writeFrame(
    frameWriter,
    7,
    7,
    false,
    true,
    true,
    "HatEventer.MsgEventsAck",
    null,
  );
  const buf = frameWriter.buf;
  const k = frameBodyLength(buf, 0, frameWriter.pos, 1 << 30);
  readChatterMsg(buf, 1 + buf[0], 1 + buf[0] + k);
});
