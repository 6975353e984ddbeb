/**
 * A small tmpfs, mounted for a test, that the test can fill up for real:
 * a full disk without mocks. Mounting needs root (or CAP_SYS_ADMIN);
 * {@linkcode TMPFS_UNAVAILABLE} says why it is not possible here, so tests
 * can be ignored with that reason.
 *
 * @module
 */

/** A mounted tmpfs; unmounted and removed on dispose. */
export interface Tmpfs extends Disposable {
  /** Mount point. */
  readonly dir: string;
  /**
   * Take every free byte of the filesystem with filler files.
   *
   * @returns Bytes written.
   */
  fill(): number;
  /** Remove the filler files: the space returns. */
  free(): void;
}

function run(args: string[]): { ok: boolean; stderr: string } {
  try {
    const out = new Deno.Command(args[0], {
      args: args.slice(1),
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    return { ok: out.success, stderr: new TextDecoder().decode(out.stderr) };
  } catch (e) {
    return { ok: false, stderr: (e as Error).message };
  }
}

/**
 * Mount a tmpfs of `size` bytes on a new temporary directory.
 *
 * @param size Size in bytes (rounded up to pages by the kernel).
 * @throws {Error} When mounting fails.
 */
export function mountTmpfs(size: number): Tmpfs {
  const dir = Deno.makeTempDirSync({ prefix: "tmpfs_" });
  const mounted = run([
    "mount",
    "-t",
    "tmpfs",
    "-o",
    `size=${size}`,
    "tmpfs",
    dir,
  ]);
  if (!mounted.ok) {
    Deno.removeSync(dir);
    throw new Error(`cannot mount a tmpfs: ${mounted.stderr.trim()}`);
  }
  let fillers = 0;
  const chunk = new Uint8Array(64 * 1024).fill(0x55);
  const tmpfs: Tmpfs = {
    dir,
    fill() {
      let written = 0;
      using file = Deno.openSync(`${dir}/filler-${fillers++}`, {
        write: true,
        create: true,
      });
      // Down to single bytes, so not even a page is left.
      for (let size = chunk.length; size >= 1; size >>= 2) {
        for (;;) {
          try {
            written += file.writeSync(chunk.subarray(0, size));
          } catch {
            break;
          }
        }
      }
      return written;
    },
    free() {
      for (const entry of Deno.readDirSync(dir)) {
        if (entry.name.startsWith("filler-")) {
          Deno.removeSync(`${dir}/${entry.name}`);
        }
      }
    },
    [Symbol.dispose]() {
      run(["umount", "-l", dir]);
      Deno.removeSync(dir, { recursive: true });
    },
  };
  return tmpfs;
}

function probe(): string | null {
  try {
    mountTmpfs(64 * 1024)[Symbol.dispose]();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Why a tmpfs cannot be mounted here (not root, no `mount`, no
 * `--allow-run`), or null when it can.
 */
export const TMPFS_UNAVAILABLE: string | null = probe();

if (TMPFS_UNAVAILABLE !== null) {
  console.warn(
    `skipping the full-disk tests (they mount a small tmpfs): ${TMPFS_UNAVAILABLE}`,
  );
}
