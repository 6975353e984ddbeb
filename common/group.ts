/**
 * Lifetimes as AbortSignal-driven groups, and the `Resource` shape every
 * connection, client and server implements.
 *
 * Closing a group aborts its signal, closes its children and waits for
 * its tasks to settle. Tasks are ordinary async functions that receive
 * the group's signal and must end when it aborts.
 *
 * @module
 */

/** Called with an exception that escaped a task; the group then closes. */
export type ExceptionCb = (error: unknown) => void;

/** Options of {@linkcode Group}. */
export interface GroupOptions {
  /** Close this group when the parent closes. */
  parent?: Group;
  /** Receives task exceptions (default: logged with `console.error`). */
  exceptionCb?: ExceptionCb;
}

function defaultExceptionCb(error: unknown): void {
  console.error("group task failed:", error);
}

/**
 * A set of tasks and child groups sharing one lifetime.
 *
 * @example
 * ```ts
 * import { Group } from "./group.ts";
 * await using group = new Group();
 * group.spawn(async (signal) => {
 *   while (!signal.aborted) await new Promise((r) => setTimeout(r, 10));
 * });
 * ```
 */
export class Group implements AsyncDisposable {
  #controller = new AbortController();
  #tasks = new Set<Promise<unknown>>();
  #children = new Set<Group>();
  #exceptionCb: ExceptionCb;
  #closed = Promise.withResolvers<void>();
  #isClosed = false;
  #closing = Promise.withResolvers<void>();

  /**
   * Create a group, optionally as a child of another.
   *
   * @param options Parent group and exception callback.
   */
  constructor(options: GroupOptions = {}) {
    const parent = options.parent;
    this.#exceptionCb = options.exceptionCb ??
      (parent ? parent.#exceptionCb : defaultExceptionCb);
    if (parent) {
      if (!parent.isOpen) {
        throw new Error("cannot create a child of a closing group");
      }
      parent.#children.add(this);
      this.#closed.promise.then(() => parent.#children.delete(this));
    }
  }

  /** Aborted when the group starts closing. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True until the group starts closing. */
  get isOpen(): boolean {
    return !this.#controller.signal.aborted;
  }

  /** True once the group started closing (also when closed). */
  get isClosing(): boolean {
    return this.#controller.signal.aborted;
  }

  /** True once every task settled and every child closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /**
   * Run `fn` as a task of this group. If it throws while the group is
   * open, the exception is reported and the group closes.
   *
   * @param fn The task; it receives the group's signal.
   * @returns The task's own promise (already observed: not awaiting it
   * never produces an unhandled rejection).
   * @throws {Error} When the group is closing.
   */
  spawn<T>(fn: (signal: AbortSignal) => Promise<T> | T): Promise<T> {
    if (!this.isOpen) throw new Error("group is closing");
    const task = (async () => await fn(this.#controller.signal))();
    this.#tasks.add(task);
    task.then(
      () => this.#tasks.delete(task),
      (e) => {
        this.#tasks.delete(task);
        if (this.isOpen) {
          this.#exceptionCb(e);
          this.close();
        }
      },
    );
    return task;
  }

  /** A new child group, closed when this one closes. */
  child(options: Omit<GroupOptions, "parent"> = {}): Group {
    return new Group({ ...options, parent: this });
  }

  /** Start closing: abort the signal and close children; returns at once. */
  close(): void {
    if (!this.isOpen) return;
    this.#controller.abort();
    this.#closing.resolve();
    this.#finish();
  }

  async #finish(): Promise<void> {
    for (const child of this.#children) child.close();
    // New tasks cannot start once closing, so this loop terminates.
    while (this.#tasks.size || this.#children.size) {
      await Promise.allSettled([
        ...this.#tasks,
        ...[...this.#children].map((c) => c.waitClosed()),
      ]);
    }
    this.#isClosed = true;
    this.#closed.resolve();
  }

  /** Close and wait until closed. */
  async asyncClose(): Promise<void> {
    this.close();
    await this.#closed.promise;
  }

  /** Resolves when the group starts closing. */
  waitClosing(): Promise<void> {
    return this.#closing.promise;
  }

  /** Resolves when the group is closed. */
  waitClosed(): Promise<void> {
    return this.#closed.promise;
  }

  /** Same as {@linkcode Group.asyncClose}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.asyncClose();
  }
}

/**
 * Something whose lifetime is a {@linkcode Group}: connections, clients
 * and servers. Every member forwards to the group.
 */
export abstract class Resource implements AsyncDisposable {
  /** The group owning this resource's tasks and children. */
  abstract get group(): Group;

  /** True until closing starts. */
  get isOpen(): boolean {
    return this.group.isOpen;
  }

  /** True once closing started. */
  get isClosing(): boolean {
    return this.group.isClosing;
  }

  /** True once fully closed. */
  get isClosed(): boolean {
    return this.group.isClosed;
  }

  /** Resolves when closing starts. */
  waitClosing(): Promise<void> {
    return this.group.waitClosing();
  }

  /** Resolves when fully closed. */
  waitClosed(): Promise<void> {
    return this.group.waitClosed();
  }

  /** Start closing; returns at once. */
  close(): void {
    this.group.close();
  }

  /** Close and wait until fully closed. */
  asyncClose(): Promise<void> {
    return this.group.asyncClose();
  }

  /** Same as `asyncClose`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.group.asyncClose();
  }
}
