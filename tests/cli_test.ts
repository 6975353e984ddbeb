// The CLI as a subprocess: happy paths against our Event Server (in this
// process), TLS and `serve`, every error path (one line on stderr and a
// non-zero exit), and register + query against the Python reference's
// Event Server when its venv is there.

import assert from "node:assert/strict";
import { listen, type QueryResult } from "../mod.ts";
import { type EventServer, startEventServer } from "../event_server/mod.ts";
import { CA_PEM, CERT_PEM, KEY_PEM } from "./_certs.ts";
import { startReferenceServer } from "./interop/_reference_server.ts";
import { venvPath } from "./interop/peer.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CLI = `${ROOT}cli.ts`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Stdout parsed as JSON lines. */
  lines: Record<string, unknown>[];
}

async function cli(args: string[], stdin?: string | Uint8Array): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLI, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(
      typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin,
    );
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const out = new TextDecoder().decode(stdout);
  return {
    code,
    stdout: out,
    stderr: new TextDecoder().decode(stderr),
    lines: out.split("\n").filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l)
    ),
  };
}

/** A failed run: exit code `code` and exactly one line on stderr. */
function assertError(run: Run, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  assert.match(run.stderr, /^error: [^\n]+\n$/, "one line on stderr");
  assert.match(run.stderr, pattern);
  assert.equal(run.stdout, "");
}

async function withServer(
  fn: (port: string, server: EventServer) => Promise<void>,
  options: { serverToken?: string; requireToken?: boolean } = {},
): Promise<void> {
  await using server = await startEventServer({
    db: ":memory:",
    port: 0,
    ...options,
  });
  await fn(String(server.addresses[0].port), server);
}

Deno.test("register and query print events as JSON lines", async () => {
  await withServer(async (port) => {
    const p = ["--port", port];
    const r1 = await cli([
      "register",
      ...p,
      "--type",
      "a/b/c",
      "--json",
      '{"big": 12345678901234567890, "s": "é"}',
      "--source-timestamp",
      "2024-01-02T03:04:05.123456Z",
    ]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r1.lines.length, 1);
    const e1 = r1.lines[0] as {
      id: { server: number; session: number; instance: number };
      timestamp: { iso: string; s: number; us: number };
    };
    assert.deepEqual(r1.lines[0].type, ["a", "b", "c"]);
    assert.deepEqual(r1.lines[0].sourceTimestamp, {
      iso: "2024-01-02T03:04:05.123456Z",
      s: 1704164645,
      us: 123456,
    });
    assert.equal(e1.id.server, 1);
    assert.equal(e1.id.instance, 1);
    assert.equal(
      new Date(e1.timestamp.iso).getTime(),
      e1.timestamp.s * 1000 + Math.floor(e1.timestamp.us / 1000),
    );
    // The big integer is written exactly, not rounded.
    assert.match(r1.stdout, /"data":\{"big":12345678901234567890,"s":"é"\}/);

    // Payloads from stdin and files; binary as base64 or hex.
    const stdinJson = await cli(
      ["register", ...p, "--type", "a/j", "--json", "-"],
      "[1, 2]",
    );
    assert.deepEqual(stdinJson.lines[0].payload, {
      kind: "json",
      data: [1, 2],
    });
    const bin = await cli(
      ["register", ...p, "--type", "a/bin", "--binary-file", "-"],
      new Uint8Array([0, 1, 255]),
    );
    assertError(bin, 2, /--binary-file and --binary-type go together/);
    const bin2 = await cli([
      "register",
      ...p,
      "--type",
      "a/bin",
      "--binary-file",
      "-",
      "--binary-type",
      "raw",
      "--binary-encoding",
      "hex",
      "--source-timestamp",
      "-1.5",
    ], new Uint8Array([0, 1, 255]));
    assert.equal(bin2.code, 0, bin2.stderr);
    assert.deepEqual(bin2.lines[0].payload, {
      kind: "binary",
      type: "raw",
      hex: "0001ff",
    });
    assert.deepEqual(bin2.lines[0].sourceTimestamp, {
      iso: "1969-12-31T23:59:58.500000Z",
      s: -2,
      us: 500000,
    });
    const dir = await Deno.makeTempDir({ prefix: "cli_test_" });
    try {
      await Deno.writeTextFile(`${dir}/p.json`, '{"k": null}');
      const file = await cli([
        "register",
        ...p,
        "--type",
        '["a", "with/slash"]',
        "--json-file",
        `${dir}/p.json`,
        "--source-timestamp",
        "-9223372036854775808",
      ]);
      assert.equal(file.code, 0, file.stderr);
      assert.deepEqual(file.lines[0].type, ["a", "with/slash"]);
      assert.deepEqual(file.lines[0].payload, {
        kind: "json",
        data: { k: null },
      });
      // Seconds beyond 2^53 are strings; no Date holds them.
      assert.deepEqual(file.lines[0].sourceTimestamp, {
        iso: null,
        s: "-9223372036854775808",
        us: 0,
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    const quiet = await cli([
      "register",
      ...p,
      "--type",
      "a/quiet",
      "--no-response",
    ]);
    assert.deepEqual([quiet.code, quiet.stdout, quiet.stderr], [0, "", ""]);

    const latest = await cli(["query", "latest", ...p, "--types", "a/*"]);
    assert.equal(latest.code, 0, latest.stderr);
    assert.deepEqual(latest.lines.map((e) => (e.type as string[]).join("/")), [
      "a/b/c",
      "a/j",
      "a/bin",
      "a/with/slash",
      "a/quiet",
    ]);

    const page = await cli([
      "query",
      "timeseries",
      ...p,
      "--types",
      "a/*",
      "--order",
      "asc",
      "--max-results",
      "2",
    ]);
    assert.equal(page.code, 0, page.stderr);
    assert.equal(page.lines.length, 2);
    const last = page.lines[1].id as Record<string, number>;
    assert.equal(
      page.stderr,
      `more events follow: continue with --last-event-id 1/${last.session}/${last.instance}\n`,
    );
    const rest = await cli([
      "query",
      "timeseries",
      ...p,
      "--types",
      "a/*",
      "--order",
      "asc",
      "--max-results",
      "2",
      "--last-event-id",
      `1/${last.session}/${last.instance}`,
      "--all",
    ]);
    assert.equal(rest.stderr, "");
    assert.deepEqual(
      [...page.lines, ...rest.lines].map((e) => (e.type as string[]).at(-1)),
      ["c", "j", "bin", "with/slash", "quiet"],
    );

    const bySource = await cli([
      "query",
      "timeseries",
      ...p,
      "--order-by",
      "source",
      "--source-from",
      "1969-12-31T23:59:58Z",
      "--source-to",
      "now",
      "--from",
      "0",
    ]);
    assert.deepEqual(bySource.lines.map((e) => (e.type as string[]).at(-1)), [
      "c",
      "bin",
    ]);

    const server = await cli([
      "query",
      "server",
      ...p,
      "--server-id",
      "1",
      "--persisted",
      "--max-results",
      "3",
      "--all",
    ]);
    assert.equal(server.code, 0, server.stderr);
    const sessions = server.lines.map((e) =>
      (e.id as Record<string, number>).session
    );
    assert.ok(sessions.length > 10);
    assert.deepEqual(sessions, [...sessions].sort((a, b) => a - b));
  });
});

Deno.test("subscribe streams events until SIGINT", async () => {
  await withServer(async (port) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        CLI,
        "subscribe",
        "--port",
        port,
        "--types",
        "s/*",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const decoder = new TextDecoder();
    const stderr = child.stderr.getReader();
    let err = "";
    while (!err.includes("subscribed")) {
      const { value, done } = await stderr.read();
      if (done) break;
      err += decoder.decode(value);
    }
    assert.match(
      err,
      /^subscribed to s\/\* at 127\.0\.0\.1:\d+ \(status: operational\)/,
    );
    const reg = await cli([
      "register",
      "--port",
      port,
      "--type",
      "s/1",
      "--json",
      "1",
    ]);
    assert.equal(reg.code, 0, reg.stderr);
    await cli(["register", "--port", port, "--type", "other"]);
    const stdout = child.stdout.getReader();
    const { value } = await stdout.read();
    assert.deepEqual(JSON.parse(decoder.decode(value)), reg.lines[0]);
    child.kill("SIGINT");
    const status = await child.status;
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) break;
      err += decoder.decode(value);
    }
    assert.equal((await stdout.read()).done, true, "nothing more on stdout");
    assert.equal(status.code, 0, err);
  });
});

Deno.test("subscribe fails when the server goes away", async () => {
  let run: Promise<Run>;
  await withServer(async (port, server) => {
    run = cli(["subscribe", "--port", port]);
    const until = performance.now() + 5000;
    while (server.getConnInfos().length === 0 && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
    }
  });
  const r = await run!;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\nerror: connection to 127\.0\.0\.1:\d+ closed\n$/);
});

Deno.test("serve runs the Event Server, here over TLS", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_test_" });
  try {
    await Deno.writeTextFile(`${dir}/ca.pem`, CA_PEM);
    await Deno.writeTextFile(`${dir}/cert.pem`, CERT_PEM);
    await Deno.writeTextFile(`${dir}/key.pem`, KEY_PEM);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        CLI,
        "serve",
        "--port",
        "0",
        "--db",
        `${dir}/events.db`,
        "--server-id",
        "9",
        "--cert",
        `${dir}/cert.pem`,
        "--key",
        `${dir}/key.pem`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = child.stdout.getReader();
    const { value } = await stdout.read();
    const line = new TextDecoder().decode(value);
    const port = /listening on 127\.0\.0\.1:(\d+) \(TLS, /.exec(line)?.[1];
    assert.ok(port, line);
    const tls = ["--port", port, "--tls", "--ca-cert", `${dir}/ca.pem`];
    const reg = await cli([
      "register",
      ...tls,
      "--type",
      "t",
      "--json",
      "true",
    ]);
    assert.equal(reg.code, 0, reg.stderr);
    assert.equal((reg.lines[0].id as Record<string, number>).server, 9);
    const q = await cli(["query", "latest", ...tls, "--types", "t"]);
    assert.deepEqual(q.lines, reg.lines);
    // Without our CA the certificate is not trusted.
    const untrusted = await cli(["query", "latest", "--port", port, "--tls"]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /^error: [^\n]+\n$/);
    child.kill("SIGINT");
    const [status, rest, err] = await Promise.all([
      child.status,
      stdout.read(),
      new Response(child.stderr).text(),
    ]);
    assert.equal(status.code, 0, err);
    assert.equal(rest.done, true, "nothing more on stdout");
    assert.match(err, /event server stopping\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve takes every limit as a flag, and applies it", async () => {
  const help = await cli(["serve", "--help"]);
  assert.equal(help.code, 0);
  for (
    const flag of [
      "max-frame-size",
      "init-max-frame-size",
      "init-timeout-ms",
      "ping-delay-ms",
      "ping-timeout-ms",
      "receive-queue-size",
      "send-queue-size",
      "send-queue-bytes",
      "max-subscriptions",
      "max-notify-bytes",
      "max-results",
      "max-result-bytes",
      "max-client-name-bytes",
      "max-event-type-segments",
      "max-event-type-bytes",
      "max-payload-bytes",
      "session-block",
      "event-type-cache-size",
    ]
  ) assert.match(help.stdout, new RegExp(`--${flag} `), flag);
  assertError(
    await cli(["serve", "--send-queue-bytes", "lots"]),
    2,
    /flag --send-queue-bytes must be a size in bytes/,
  );
  assertError(
    await cli(["serve", "--init-timeout-ms", "-1"]),
    2,
    /flag --init-timeout-ms must be milliseconds/,
  );
  // The flags of durations before 0.2 are named in the error.
  assertError(
    await cli(["serve", "--ping-delay", "5"]),
    2,
    /unknown flag --ping-delay: it is --ping-delay-ms now/,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      CLI,
      "serve",
      "--port",
      "0",
      "--db",
      ":memory:",
      "--init-timeout-ms",
      "200",
      "--max-client-name-bytes",
      "8",
      "--max-payload-bytes",
      "1KiB",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = child.stdout.getReader();
  try {
    const { value } = await stdout.read();
    const port = /listening on 127\.0\.0\.1:(\d+)/.exec(
      new TextDecoder().decode(value),
    )?.[1];
    assert.ok(port);
    // A connection without an init is closed after --init-timeout-ms.
    using silent = await Deno.connect({
      hostname: "127.0.0.1",
      port: Number(port),
    });
    const start = performance.now();
    assert.equal(await silent.read(new Uint8Array(16)), null);
    assert.ok(performance.now() - start < 1500);
    // A longer name than --max-client-name-bytes is refused.
    assertError(
      await cli(["query", "latest", "--port", port, "--name", "123456789"]),
      1,
      /refused the client: client name longer than 8 bytes/,
    );
    // A payload over --max-payload-bytes fails the request.
    const big = await cli([
      "register",
      "--port",
      port,
      "--type",
      "t",
      "--json",
      JSON.stringify("x".repeat(2000)),
    ]);
    assert.equal(big.code, 1, big.stderr);
  } finally {
    child.kill("SIGINT");
    await child.status;
    await stdout.cancel();
    await child.stderr.cancel();
  }
});

Deno.test("every error is one line and a non-zero exit", async () => {
  using closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const freePort = String((closed.addr as Deno.NetAddr).port);
  closed.close();
  const cases: [string[], number, RegExp][] = [
    [[], 2, /.*/],
    [["frobnicate"], 2, /unknown command frobnicate/],
    [
      ["register", "--type", "a", "--port", freePort],
      1,
      /cannot connect to 127\.0\.0\.1:\d+: Connection refused/,
    ],
    [["register", "--type", "a/*/c"], 2, /invalid event type "a\/\*\/c"/],
    [
      ["register", "--type", "a/?"],
      2,
      /"\?" segments are only allowed in query types/,
    ],
    [["register", "--type", "[1]"], 2, /array of strings/],
    [["register"], 2, /--type is required/],
    [
      ["register", "--type", "a", "--source-timestamp", "yesterday"],
      2,
      /invalid timestamp "yesterday"/,
    ],
    [
      ["register", "--type", "a", "--source-timestamp", "2024-02-30T00:00:00Z"],
      2,
      /invalid timestamp/,
    ],
    [
      ["register", "--type", "a", "--source-timestamp", "1e30"],
      2,
      /invalid timestamp/,
    ],
    [["register", "--type", "a", "--json", "{nope"], 2, /invalid JSON payload/],
    [
      ["register", "--type", "a", "--json", "1", "--json-file", "x"],
      2,
      /exclude each other/,
    ],
    [
      ["register", "--type", "a", "--json-file", "/nonexistent/p.json"],
      2,
      /cannot read --json-file/,
    ],
    [
      ["register", "--type", "a", "--bogus"],
      2,
      /^error: unknown flag --bogus \(see deno task cli register --help\)\n$/,
    ],
    [["register", "--type"], 2, /flag --type needs a value/],
    [["register", "--type", "a", "--type", "b"], 2, /given twice/],
    [
      ["register", "--type", "a", "--port", "0"],
      2,
      /--port must be an integer in \[1, 65535\]/,
    ],
    [["register", "--type", "a", "--no-response=yes"], 2, /takes no value/],
    [["query"], 2, /query needs a kind/],
    [["query", "latest", "extra"], 2, /unexpected argument extra/],
    [["register", "--type", "a", "extra"], 2, /unexpected argument extra/],
    [["subscribe", "extra"], 2, /unexpected argument extra/],
    [
      ["query", "newest"],
      2,
      /^error: unknown query kind "newest": latest, timeseries or server \(see deno task cli query --help\)\n$/,
    ],
    [["query", "latest", "--types", "*/a"], 2, /invalid query type "\*\/a"/],
    [
      ["query", "latest", "--from", "1"],
      2,
      /--from does not apply to query latest/,
    ],
    [["query", "server"], 2, /needs --server-id/],
    [["query", "timeseries", "--order", "up"], 2, /--order must be one of/],
    [
      ["query", "timeseries", "--max-results", "-1"],
      2,
      /--max-results must be an integer >= 0/,
    ],
    [
      ["query", "timeseries", "--last-event-id", "1/2"],
      2,
      /server\/session\/instance/,
    ],
    [["query", "timeseries", "--to", "2024-13-01"], 2, /invalid timestamp/],
    [["subscribe", "--types", "a/*/b"], 2, /invalid query type/],
    [["subscribe", "--ca-cert", "x"], 2, /--ca-cert needs --tls/],
    [["serve", "--port", "x"], 2, /--port must be an integer/],
  ];
  const runs = await Promise.all(cases.map(([args]) => cli(args)));
  runs.forEach((run, i) => {
    const [args, code, pattern] = cases[i];
    if (args.length === 0) {
      assert.equal(run.code, 2);
      assert.match(run.stdout, /^Usage: deno task cli/);
      return;
    }
    assertError(run, code, pattern);
  });
  for (const command of ["register", "query", "subscribe", "serve"]) {
    const help = await cli([command, "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: deno task cli /);
  }
});

Deno.test("server refusals and silence are errors too", async () => {
  await withServer(async (port) => {
    assertError(
      await cli(["query", "latest", "--port", port, "--token", "wrong"]),
      1,
      /^error: the server refused the client: invalid client token \(a server started without a server token refuses every client token: leave --token out, or give the server's own\)\n$/,
    );
  }, { serverToken: "right" });

  const stuck = Promise.withResolvers<QueryResult>();
  await using stub = await listen({ hostname: "127.0.0.1", port: 0 }, {
    status: "operational",
    registerCb: () => null,
    queryCb: () => stuck.promise,
  });
  const port = String(stub.addresses[0].port);
  try {
    assertError(
      await cli(["register", "--port", port, "--type", "a"]),
      1,
      /the server refused to register the event/,
    );
    assertError(
      await cli(["query", "latest", "--port", port, "--timeout-ms", "200"]),
      1,
      /no answer from the server in time/,
    );
  } finally {
    stuck.resolve({ events: [], moreFollows: false });
  }
});

Deno.test("help is a command: help, help <command>", async () => {
  const help = await cli(["help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: deno task cli <command>/);
  assert.match(help.stdout, /\n {2}help +show this help/);
  for (const command of ["query", "register", "subscribe", "serve"]) {
    const run = await cli(["help", command]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^Usage: deno task cli ${command} `));
  }
  assertError(
    await cli(["help", "frobnicate"]),
    2,
    /unknown command frobnicate/,
  );
});

Deno.test("query --help reads", async () => {
  const help = await cli(["query", "--help"]);
  assert.equal(help.code, 0);
  assert.match(
    help.stdout,
    /When more events match\nthan one result of the server holds, a note on stderr tells how to\ncontinue \(or give --all\)\./,
  );
  assert.doesNotMatch(help.stdout, /more\nthan one result holds/);
});

Deno.test("query with an unknown kind names no --kind flag", async () => {
  const run = await cli(["query", "foo"]);
  assertError(
    run,
    2,
    /^error: unknown query kind "foo": latest, timeseries or server \(see deno task cli query --help\)\n$/,
  );
  assert.doesNotMatch(run.stderr, /--kind/);
});

Deno.test("the server's flag errors name the command it was started as", async () => {
  const start = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${ROOT}cli/serve.ts`, "--bogus"],
    stdin: "null",
  }).output();
  assert.equal(start.code, 2);
  assert.equal(
    new TextDecoder().decode(start.stderr),
    "error: unknown flag --bogus (see deno task start --help)\n",
  );
  assertError(
    await cli(["serve", "--bogus"]),
    2,
    /^error: unknown flag --bogus \(see deno task cli serve --help\)\n$/,
  );
});

Deno.test("--type '' is the empty type, \\/ a / inside a segment", async () => {
  await withServer(async (port) => {
    const p = ["--port", port];
    const empty = await cli(["register", ...p, "--type", "", "--json", "1"]);
    assert.equal(empty.code, 0, empty.stderr);
    assert.deepEqual(empty.lines[0].type, []);
    const latest = await cli(["query", "latest", ...p, "--types", ""]);
    assert.deepEqual(latest.lines, empty.lines);

    const escaped = await cli(
      ["register", ...p, "--type", "unit/m\\/s", "--json", "2"],
    );
    assert.equal(escaped.code, 0, escaped.stderr);
    assert.deepEqual(escaped.lines[0].type, ["unit", "m/s"]);
    const unit = await cli(["query", "latest", ...p, "--types", "unit/m\\/s"]);
    assert.deepEqual(unit.lines, escaped.lines);
  });
  assertError(
    await cli(["register", "--type", "a\\b"]),
    2,
    /invalid escape "\\\\b" in event type "a\\\\b"/,
  );
  assertError(
    await cli(["query", "latest", "--types", "[1]"]),
    2,
    /invalid query type "\[1\]": a type starting with \[ must be a JSON array of strings/,
  );
});

Deno.test("an invalid client token refusal says why", async () => {
  // A server started without a token refuses any client token (as the
  // reference does).
  await withServer(async (port) => {
    assertError(
      await cli(["query", "latest", "--port", port, "--token", "t"]),
      1,
      /^error: the server refused the client: invalid client token \(a server started without a server token refuses every client token: leave --token out, or give the server's own\)\n$/,
    );
  });
  await withServer(async (port) => {
    assertError(
      await cli(["query", "latest", "--port", port]),
      1,
      /^error: the server refused the client: invalid client token \(this server requires a client token: give --token\)\n$/,
    );
  }, { serverToken: "right", requireToken: true });
});

async function hasReference(): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(`${venvPath()}/bin/python`, {
      args: ["-c", "import hat.event.server.main, hat.event.backends.lmdb"],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

const referenceInstalled = await hasReference();
Deno.test({
  name: "register and query against the reference's Event Server" +
    (referenceInstalled
      ? ""
      : " (skipped: no .venv; run tests/interop/setup.ts)"),
  ignore: !referenceInstalled,
  fn: async () => {
    await using reference = await startReferenceServer({
      serverId: 5,
      name: "reference",
      serverToken: "secret",
    });
    const port = reference.port;
    const p = ["--port", String(port), "--token", "secret"];
    const reg = await cli([
      "register",
      ...p,
      "--type",
      "ref/x",
      "--json",
      '{"v": [1, 2.5, "é"]}',
      "--source-timestamp",
      "1700000000.25",
    ]);
    assert.equal(reg.code, 0, reg.stderr);
    assert.equal((reg.lines[0].id as Record<string, number>).server, 5);
    const latest = await cli(["query", "latest", ...p, "--types", "ref/*"]);
    assert.deepEqual(latest.lines, reg.lines);
    const engine = await cli([
      "query",
      "timeseries",
      ...p,
      "--types",
      "event/5/engine",
    ]);
    assert.deepEqual(engine.lines.map((e) => e.payload), [
      { kind: "json", data: "STARTED" },
    ]);
    assertError(
      await cli(["query", "latest", "--port", String(port), "--token", "x"]),
      1,
      /^error: the server refused the client: invalid client token \(a server started without a server token refuses every client token: leave --token out, or give the server's own\)\n$/,
    );
  },
});
