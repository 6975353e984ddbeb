// The Event Server's configuration file (--conf): the example of --help
// and the README loaded whole (storage rules mapped to milliseconds and
// camelCase, a module file relative to the configuration), flags
// overriding it, every error reported one line each with exit 2, and a
// reference configuration (LMDB backend) starting the server.

import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { CONF_EXAMPLE, parseServeArgs } from "../cli/serve.ts";
import { ConfigError } from "../cli/_config.ts";
import { deadline } from "./_net.ts";

const MAIN = new URL("../cli/serve.ts", import.meta.url).pathname;
const DEADBAND = new URL("../examples/deadband.ts", import.meta.url).href;

async function withConf(
  conf: unknown,
  fn: (path: string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "serve_config_test_" });
  try {
    // The example's module path, relative to the configuration file.
    await Deno.mkdir(`${dir}/examples`);
    await Deno.writeTextFile(
      `${dir}/examples/deadband.ts`,
      `export { info } from ${JSON.stringify(DEADBAND)};\n`,
    );
    const path = `${dir}/server.json`;
    await Deno.writeTextFile(
      path,
      typeof conf === "string" ? conf : JSON.stringify(conf),
    );
    await fn(path, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("config: the example of --help loads, mapped to the options", async () => {
  await withConf(CONF_EXAMPLE, async (path) => {
    const o = await parseServeArgs(["--conf", path]);
    assert.ok(o);
    assert.equal(o.serverId, 1);
    assert.equal(o.hostname, "127.0.0.1");
    assert.equal(o.port, 23012);
    assert.equal(o.db, "hat-event.db");
    assert.equal(o.serverToken, null);
    assert.equal(o.flushDelay, 0);
    assert.equal(o.maxResults, 4096);
    assert.equal(o.synchronous, "full");
    assert.equal(o.maxPayloadBytes, 1024 * 1024);
    assert.equal(o.moduleTimeout, 1000);
    assert.equal(o.modules?.length, 1);
    assert.deepEqual(o.storage, {
      cleanupPeriod: 60_000,
      conditions: [{
        subscriptions: [["gateway", "*"]],
        condition: { type: "json", dataPath: "quality", dataValue: "GOOD" },
      }],
      latest: { subscriptions: [["*"]] },
      timeseries: [{
        orderBy: "timestamp",
        subscriptions: [["*"]],
        limit: { minEntries: 1000, duration: 604_800_000 },
      }],
    });
    assert.deepEqual(o.warnings, []);
    // Flags override the file.
    const f = await parseServeArgs([
      "--conf",
      path,
      "--port",
      "0",
      "--server-id",
      "7",
      "--flush-delay-ms",
      "20",
    ]);
    assert.equal(f!.port, 0);
    assert.equal(f!.serverId, 7);
    assert.equal(f!.flushDelay, 20);
    assert.equal(f!.db, "hat-event.db");
  });
});

Deno.test("config: every error is reported, one line each, exit 2", async () => {
  const conf = {
    server_id: "one",
    eventer_server: {
      host: 1,
      port: 70000,
      colour: "red",
      tls: { cert: "/nonexistent/c.pem", key: "/nonexistent/k.pem" },
    },
    adminer_server: { host: "127.0.0.1", port: 23015 },
    monitor_component: { host: "127.0.0.1", port: 23010, colour: "blue" },
    backend: {
      module: "hat.event.backends.memory",
      flush_period: -1,
      timeseries: [{ order_by: "NEWEST", subscriptions: ["a"] }],
      conditions: [{ subscriptions: [], condition: { type: "some" } }],
    },
    modules: [{ module: "hat.gateway.modules.alarm" }, {
      module: "./missing.ts",
    }],
    limits: { max_frame_size: "lots", speed: 1 },
    log: { version: 1 },
    extra: true,
  };
  await withConf(conf, async (path) => {
    const e = await parseServeArgs(["--conf", path]).then(
      () => assert.fail("accepted"),
      (e) => e,
    );
    assert.ok(e instanceof ConfigError);
    const expected = [
      /^server_id must be an integer/,
      /^eventer_server\.host must be a string/,
      /^eventer_server\.port must be an integer in \[0, 65535\]/,
      /^eventer_server\.colour is not a key/,
      /^adminer_server is not supported/,
      /^monitor_component\.colour is not a key of monitor_component/,
      /^monitor_component\.group is missing/,
      /^backend\.module hat\.event\.backends\.memory is not supported/,
      /^backend\.flush_period must be a number in \[0, 60\]/,
      /^backend\.timeseries\[0\]\.order_by must be TIMESTAMP or SOURCE_TIMESTAMP/,
      /^backend\.timeseries\[0\]\.subscriptions\[0\] must be an event type/,
      /^backend\.conditions\[0\]\.condition\.type must be "all", "any" or "json"/,
      /^modules\[0\]\.module hat\.gateway\.modules\.alarm looks like a Python module/,
      /^limits\.max_frame_size must be a size/,
      /^limits\.speed is not a limit/,
      /^modules\[1\]\.module file:.*missing\.ts cannot be imported/,
      /^eventer_server\.tls\.cert cannot read \/nonexistent\/c\.pem/,
      /^eventer_server\.tls\.key cannot read \/nonexistent\/k\.pem/,
    ];
    assert.equal(e.errors.length, expected.length, e.errors.join("\n"));
    for (const re of expected) {
      assert.ok(e.errors.some((l: string) => re.test(l)), `${re}`);
    }
    // The entry point: one line per error, exit 2, nothing started.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "--conf", path],
      stdin: "null",
    }).output();
    assert.equal(out.code, 2);
    const lines = new TextDecoder().decode(out.stderr).trimEnd().split("\n");
    assert.equal(lines.length, expected.length, lines.join("\n"));
    assert.ok(lines.every((l) => l.startsWith(`error: ${path}: `)));
  });
  await withConf("{ not json", async (path) => {
    await assert.rejects(
      parseServeArgs(["--conf", path]),
      (e: unknown) => e instanceof ConfigError && /not JSON/.test(e.errors[0]),
    );
  });
});

Deno.test("config: a reference configuration (LMDB backend) starts the server", async () => {
  await withConf({}, async (_path, dir) => {
    const conf = {
      type: "event",
      log: { version: 1 },
      name: "reference",
      server_id: 5,
      server_token: "secret",
      backend: {
        module: "hat.event.backends.lmdb",
        db_path: `${dir}/db`,
        identifier: null,
        flush_period: 0.05,
        cleanup_period: 60,
        conditions: [],
        latest: { subscriptions: [["*"]] },
        timeseries: [{ order_by: "TIMESTAMP", subscriptions: [["*"]] }],
      },
      modules: [{
        module: "./examples/deadband.ts",
        subscriptions: [["m", "*"]],
      }],
      eventer_server: { host: "127.0.0.1", port: 0 },
    };
    await Deno.writeTextFile(`${dir}/ref.json`, JSON.stringify(conf));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "--conf", `${dir}/ref.json`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      const { value } = await deadline(reader.read(), 10_000, "ready line");
      reader.releaseLock();
      const m = /event server 5 listening on 127\.0\.0\.1:(\d+)/.exec(value!);
      assert.ok(m, value);
      await using c = await connect(
        { hostname: "127.0.0.1", port: Number(m[1]) },
        "ref",
        { clientToken: "secret" },
      );
      const own = await c.register([{
        type: ["m", "x"],
        payload: { kind: "json", data: 1 },
      }], true);
      assert.equal(own?.[0].id.server, 5);
      const { events } = await c.query({
        kind: "latest",
        eventTypes: [["deadband", "*"]],
      });
      assert.deepEqual(events.map((e) => e.id.session), [own![0].id.session]);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    }
    // `log` is accepted with a warning: it is harmless to ignore.
    assert.match(await stderr, /warning: log is ignored/);
  });
});

Deno.test("config: monitor_component and name join a monitor group; --monitor overrides", async () => {
  await withConf({
    name: "event-7",
    server_id: 7,
    monitor_component: { port: 23100, group: "event" },
  }, async (path) => {
    const options = await parseServeArgs(["--conf", path]);
    assert.deepEqual(options!.monitor, {
      addr: { hostname: "127.0.0.1", port: 23100 },
      group: "event",
      name: "event-7",
    });
    const flagged = await parseServeArgs([
      "--conf",
      path,
      "--monitor",
      "10.0.0.1:23010",
      "--group",
      "other",
    ]);
    assert.deepEqual(flagged!.monitor, {
      addr: { hostname: "10.0.0.1", port: 23010 },
      group: "other",
      name: "event-7",
    });
  });
});

Deno.test("config and flags: the writer thread is on unless turned off", async () => {
  const conf = JSON.parse(CONF_EXAMPLE);
  await withConf(conf, async (path) => {
    assert.equal(
      (await parseServeArgs(["--conf", path]))?.writerThread,
      undefined,
    );
    const off = await parseServeArgs([
      "--conf",
      path,
      "--writer-thread",
      "off",
    ]);
    assert.equal(off?.writerThread, false);
  });
  conf.backend.writer_thread = false;
  await withConf(conf, async (path) => {
    const o = await parseServeArgs(["--conf", path]);
    assert.equal(o?.writerThread, false);
    const on = await parseServeArgs(["--conf", path, "--writer-thread", "on"]);
    assert.equal(on?.writerThread, true);
  });
  await assert.rejects(
    () => parseServeArgs(["--writer-thread", "yes"]),
    /--writer-thread must be one of on, off/,
  );
});
