/**
 * Creates the Python virtualenv used by the interop tests and installs the
 * reference implementation (hat-event 0.9.44) into it. Idempotent: does
 * nothing when the venv already imports `hat.event.eventer` at the pinned
 * version.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-env \
 *       tests/interop/setup.ts
 *
 * Environment:
 * - `HAT_INTEROP_VENV`: venv path (default `<project>/.venv`)
 * - `HAT_INTEROP_PYTHON`: interpreter that creates the venv (default
 *   `python3`; must be Python >= 3.10)
 *
 * Exits 0 when the venv is ready, otherwise prints a one-line reason to
 * stderr and exits 1.
 *
 * @module
 */

const HAT_EVENT_VERSION = "0.9.44";
const MIN_PYTHON: readonly [number, number] = [3, 10];

const projectRoot = decodeURIComponent(
  new URL("../../", import.meta.url).pathname,
).replace(/\/$/, "");

/** Venv path: `HAT_INTEROP_VENV` or `<project>/.venv`. */
export function venvPath(): string {
  return Deno.env.get("HAT_INTEROP_VENV") || `${projectRoot}/.venv`;
}

class SetupError extends Error {}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: string[],
  inherit = false,
): Promise<RunResult> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      cwd: projectRoot,
      stdin: "null",
      stdout: inherit ? "inherit" : "piped",
      stderr: inherit ? "inherit" : "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: inherit ? "" : decoder.decode(out.stdout),
      stderr: inherit ? "" : decoder.decode(out.stderr),
    };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { code: 127, stdout: "", stderr: `${cmd}: not found` };
    }
    throw e;
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return lines[lines.length - 1] ?? "";
}

async function pythonVersion(python: string): Promise<[number, number]> {
  const res = await run(python, [
    "-c",
    "import sys; print('%d.%d' % sys.version_info[:2])",
  ]);
  if (res.code !== 0) {
    throw new SetupError(
      `cannot run ${python}: ${lastLine(res.stderr) || `exit ${res.code}`}`,
    );
  }
  const [major, minor] = res.stdout.trim().split(".").map(Number);
  return [major, minor];
}

async function checkPython(python: string): Promise<void> {
  const [major, minor] = await pythonVersion(python);
  if (
    major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])
  ) {
    throw new SetupError(
      `${python} is Python ${major}.${minor}; ` +
        `Python >= ${MIN_PYTHON.join(".")} is required`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Installed hat-event version if `hat.event.eventer` imports, else null. */
async function installedVersion(python: string): Promise<string | null> {
  const res = await run(python, [
    "-c",
    "import hat.event.eventer, importlib.metadata as m; " +
    "print(m.version('hat-event'))",
  ]);
  return res.code === 0 ? res.stdout.trim() : null;
}

/** Ensures the venv; returns the path of its python. */
export async function setup(): Promise<string> {
  const venv = venvPath();
  const python = `${venv}/bin/python`;
  const basePython = Deno.env.get("HAT_INTEROP_PYTHON") || "python3";

  if (!(await exists(python))) {
    await checkPython(basePython);
    console.log(`creating venv ${venv}`);
    const res = await run(basePython, ["-m", "venv", venv]);
    if (res.code !== 0 || !(await exists(python))) {
      throw new SetupError(
        `${basePython} -m venv ${venv} failed: ` +
          (lastLine(res.stderr) || `exit ${res.code}`),
      );
    }
  }
  await checkPython(python);

  if ((await installedVersion(python)) === HAT_EVENT_VERSION) {
    console.log(`venv ${venv} ready (hat-event ${HAT_EVENT_VERSION})`);
    return python;
  }

  console.log(`installing hat-event==${HAT_EVENT_VERSION} into ${venv}`);
  const res = await run(python, [
    "-m",
    "pip",
    "install",
    "--disable-pip-version-check",
    "--quiet",
    `hat-event==${HAT_EVENT_VERSION}`,
  ], true);
  if (res.code !== 0) {
    throw new SetupError(
      `pip install hat-event==${HAT_EVENT_VERSION} failed (exit ${res.code})`,
    );
  }
  const version = await installedVersion(python);
  if (version !== HAT_EVENT_VERSION) {
    throw new SetupError(
      `after install, hat.event.eventer ${
        version === null ? "does not import" : `is version ${version}`
      } (expected ${HAT_EVENT_VERSION})`,
    );
  }
  console.log(`venv ${venv} ready (hat-event ${HAT_EVENT_VERSION})`);
  return python;
}

if (import.meta.main) {
  try {
    await setup();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    console.error(`interop setup: ${message.split("\n")[0]}`);
    Deno.exit(1);
  }
}
