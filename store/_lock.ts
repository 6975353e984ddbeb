/**
 * One database, one store: an exclusive lock on the database file itself,
 * whatever path (relative, symlink, hard link) leads to it.
 *
 * The lock is `flock` on the file's inode (Deno's `FsFile.lock`), taken
 * before SQLite opens the file. SQLite's own locks are POSIX record locks
 * (`fcntl`), which `flock` does not touch; but POSIX drops all of a
 * process's record locks on a file when the process closes any descriptor
 * of it. So a descriptor opened here on a file that another store of this
 * process has open is never closed while that store is: it is parked with
 * the holder's lock and closed after it. On Windows, where locks are
 * mandatory and would stop SQLite reading, the lock is a `<path>-lock`
 * file beside the real path (symlinks resolved; hard links not covered).
 *
 * @module
 */

import { DatabaseInUseError, StoreError } from "./errors.ts";

/** A held lock; release it after closing the database. */
export interface DatabaseLock {
  /** Release the lock. */
  release(): void;
}

interface Held {
  file: Deno.FsFile;
  parked: Deno.FsFile[];
}

// Databases locked by this process, by device and inode.
const held = new Map<string, Held>();

/**
 * Lock the database at `path` for this store, creating the file if
 * missing.
 *
 * @param path Database file path.
 * @returns The lock.
 * @throws {DatabaseInUseError} When another store (in any process) holds it.
 * @throws {StoreError} When the file cannot be opened.
 */
export function lockDatabase(path: string): DatabaseLock {
  const lockPath = Deno.build.os === "windows"
    ? `${realPath(path)}-lock`
    : path;
  const before = inodeKey(() => Deno.statSync(lockPath));
  if (before !== null && held.has(before)) throw new DatabaseInUseError(path);
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(lockPath, { read: true, write: true, create: true });
  } catch (e) {
    throw new StoreError(
      `cannot open database ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const key = inodeKey(() => file.statSync());
  const other = key === null ? undefined : held.get(key);
  if (other) {
    // Replaced under our feet by a file this process has open.
    other.parked.push(file);
    throw new DatabaseInUseError(path);
  }
  let locked = false;
  try {
    locked = file.tryLockSync(true);
  } finally {
    if (!locked) file.close();
  }
  if (!locked) throw new DatabaseInUseError(path);
  const entry: Held = { file, parked: [] };
  if (key !== null) held.set(key, entry);
  return {
    release() {
      if (key !== null && held.get(key) === entry) held.delete(key);
      entry.file.close();
      for (const f of entry.parked) f.close();
    },
  };
}

function inodeKey(stat: () => Deno.FileInfo): string | null {
  try {
    const { dev, ino } = stat();
    return ino === null ? null : `${dev}:${ino}`;
  } catch {
    return null;
  }
}

function realPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}
