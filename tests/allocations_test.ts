// Steady traffic allocates no receive or write buffers (they are pooled):
// tools/allocations.ts counts them in a process of its own, where it can
// replace Uint8Array before our modules load.

import assert from "node:assert/strict";

Deno.test("allocations: steady traffic, also in bursts 60 ms apart, allocates no buffers of 1 KB or more", async () => {
  const tool = new URL("../tools/allocations.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", tool, "--check"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  assert.ok(out.success, text);
  assert.match(text, /notify 1000, acked, 60 ms apart: 0\.\d\d/);
});
