// Worker of bench/turn_io_latency.ts: connects to the echo server at the
// port it is sent, sends 40 bytes every `interval` ms, `count` times, and
// posts back each round trip's milliseconds.

/// <reference lib="deno.worker" />

self.onmessage = async (e: MessageEvent) => {
  const { port, interval, count } = e.data as {
    port: number;
    interval: number;
    count: number;
  };
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const buf = new Uint8Array(64);
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, interval));
    const t = performance.now();
    await conn.write(new Uint8Array(40));
    let got = 0;
    while (got < 40) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("closed");
      got += n;
    }
    ms.push(performance.now() - t);
  }
  conn.close();
  self.postMessage(ms);
};
