/**
 * The arguments of `deno run` that `deno task start` passes, as deno.json
 * spells the task (its V8 flags included), the script as an absolute
 * path: for tests and benchmarks that run the Event Server as the task
 * does, in a process of its own.
 *
 * @module
 */

/** `deno run` arguments of the start task; append the server's flags. */
export function startTaskArgs(): string[] {
  const root = new URL("../", import.meta.url);
  const task = (JSON.parse(
    Deno.readTextFileSync(new URL("deno.json", root)),
  ).tasks.start as string).split(" ");
  if (task[0] !== "deno" || task[1] !== "run") {
    throw new Error(`deno.json's start task is not "deno run ...": ${task}`);
  }
  return [...task.slice(1, -1), new URL(task.at(-1)!, root).pathname];
}
