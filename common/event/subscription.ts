/**
 * Subscriptions: sets of event types described by query types, where `?`
 * matches any one segment and a final `*` any number of segments (zero
 * included).
 *
 * Normalisation, union, intersection and disjointness follow the reference
 * (`hat.event.common.subscription`) and `vectors/subscription.json`. Where
 * its two implementations disagree: `isDisjoint` is the Python one's (exact;
 * the C one reports an overlap whenever one side ends where the other goes
 * on, and the vectors side with Python), and `intersection` the C one's
 * (it rebuilds every operand from its query types, so the result does not
 * depend on the order the query types were given in).
 *
 * @module
 */

import { EventerError } from "../errors.ts";
import type { EventType } from "./types.ts";

/**
 * A query type has a `*` segment that is not its last segment: code
 * `INVALID_QUERY_TYPE`.
 */
export class InvalidQueryTypeError extends EventerError {
  /** The offending query type. */
  readonly queryType: EventType;

  /**
   * Creates the error for one query type.
   *
   * @param queryType The offending query type.
   * @param field Where it was given (e.g. `params.eventTypes[1]`), if known.
   * @example
   * ```ts
   * import { InvalidQueryTypeError } from "@hat/eventer";
   * import assert from "node:assert/strict";
   * const e = new InvalidQueryTypeError(["*", "a"]);
   * assert.equal(e.name, "InvalidQueryTypeError");
   * assert.equal(e.code, "INVALID_QUERY_TYPE");
   * ```
   */
  constructor(queryType: EventType, field?: string) {
    super(
      `${field === undefined ? "" : `${field} is an `}invalid query type ${
        JSON.stringify(queryType)
      }: "*" is only allowed as the last segment`,
      { code: "INVALID_QUERY_TYPE" },
    );
    this.name = "InvalidQueryTypeError";
    this.queryType = queryType;
  }
}

/**
 * Tells whether an event type matches one query type.
 *
 * @param eventType The event type.
 * @param queryType The query type (`?` any one segment, final `*` any
 * number of segments).
 * @returns True when `eventType` matches.
 * @throws {InvalidQueryTypeError} If `queryType` has a `*` before its last
 * segment.
 * @example
 * ```ts
 * import { matchesQueryType } from "./subscription.ts";
 * import assert from "node:assert/strict";
 * assert.ok(matchesQueryType(["a", "b", "c"], ["?", "*"]));
 * assert.ok(!matchesQueryType(["a"], []));
 * ```
 */
export function matchesQueryType(
  eventType: EventType,
  queryType: EventType,
): boolean {
  assertQueryType(queryType);
  let n = queryType.length;
  const isVariable = n > 0 && queryType[n - 1] === "*";
  if (isVariable) n--;
  if (eventType.length < n || (eventType.length > n && !isVariable)) {
    return false;
  }
  for (let i = 0; i < n; i++) {
    if (queryType[i] !== "?" && queryType[i] !== eventType[i]) return false;
  }
  return true;
}

/**
 * Trie node of normalised query types, in the reference's shape: `leaf`
 * ends a query type here; a `*` child is then the only child and the node
 * itself is never a leaf (the `*` covers it).
 */
interface Node {
  leaf: boolean;
  children: Map<string, Node>;
}

/**
 * State of the deterministic matcher compiled from the trie: one state per
 * set of trie nodes an event type prefix can reach, so `matches` follows a
 * single path. `next` holds literal segments, already merged with `?`.
 */
interface MatchState {
  /** Everything from here on matches. */
  all: boolean;
  /** The event type may end here. */
  leaf: boolean;
  next: Map<string, MatchState>;
  /** Where any segment not in `next` leads (the `?` children). */
  other: MatchState | null;
}

const MATCH_ALL: MatchState = {
  all: true,
  leaf: true,
  next: new Map(),
  other: null,
};

/**
 * Set of event types defined by query types.
 *
 * @example
 * ```ts
 * import { Subscription } from "@hat/eventer";
 * import assert from "node:assert/strict";
 * const sub = new Subscription([["a", "?"], ["b", "*"]]);
 * assert.ok(sub.matches(["a", "x"]));
 * assert.ok(sub.matches(["b"]));
 * assert.ok(!sub.matches(["a"]));
 * ```
 */
export class Subscription {
  readonly #root: Node;
  #matcher: MatchState | null = null;
  #fallback = false;

  /**
   * Creates a subscription from query types.
   *
   * @param queryTypes Query types; duplicates and types covered by a `*`
   * of another are dropped.
   * @throws {InvalidQueryTypeError} If a query type has a `*` before its
   * last segment.
   * @example
   * ```ts
   * import { Subscription } from "@hat/eventer";
   * import assert from "node:assert/strict";
   * assert.deepEqual(new Subscription([["a"], ["*"]]).getQueryTypes(), [["*"]]);
   * ```
   */
  constructor(queryTypes: Iterable<EventType>) {
    const root = newNode();
    for (const queryType of queryTypes) {
      // Checked up front: the reference lets a bad type through when an
      // earlier `*` already covers its prefix.
      assertQueryType(queryType);
      addQueryType(root, queryType);
    }
    this.#root = root;
  }

  /**
   * Returns the normalised query types, in the order of the reference's
   * Python implementation (its C implementation orders them differently;
   * compare as sets).
   *
   * @returns Fresh arrays; the empty type `[]` first when present.
   * @example
   * ```ts
   * import { Subscription } from "@hat/eventer";
   * import assert from "node:assert/strict";
   * const sub = new Subscription([["a"], ["a", "*"], ["b"], ["b"]]);
   * assert.deepEqual(sub.getQueryTypes(), [["a", "*"], ["b"]]);
   * ```
   */
  getQueryTypes(): EventType[] {
    const result: string[][] = [];
    collectQueryTypes(this.#root, [], result);
    return result;
  }

  /**
   * Tells whether an event type belongs to the subscription, in time
   * linear in its length and without allocating.
   *
   * @param eventType The event type.
   * @returns True when some query type matches it.
   * @example
   * ```ts
   * import { Subscription } from "@hat/eventer";
   * import assert from "node:assert/strict";
   * assert.ok(new Subscription([["a", "*"]]).matches(["a"]));
   * ```
   */
  matches(eventType: EventType): boolean {
    let state = this.#matcher ?? this.#compile();
    if (this.#fallback) return matchesNode(this.#root, eventType, 0);
    for (let i = 0; i < eventType.length; i++) {
      if (state.all) return true;
      const next = state.next.get(eventType[i]) ?? state.other;
      if (next === null) return false;
      state = next;
    }
    return state.leaf;
  }

  /**
   * Returns a subscription of the event types in this or any other.
   *
   * @param others Subscriptions to join.
   * @returns The union.
   * @example
   * ```ts
   * import { Subscription } from "@hat/eventer";
   * import assert from "node:assert/strict";
   * const sub = new Subscription([["a"]]).union(new Subscription([["b"]]));
   * assert.deepEqual(sub.getQueryTypes(), [["a"], ["b"]]);
   * ```
   */
  union(...others: Subscription[]): Subscription {
    let node = this.#root;
    for (const other of others) node = unionNodes(node, other.#root);
    return fromNode(node);
  }

  /**
   * Returns a subscription of the event types this has in common with all
   * others, computed as the reference does: a `*` against a type ending at
   * the same depth yields nothing (`[a, *]` ∩ `[a]` is empty), although
   * {@linkcode Subscription.isDisjoint} says they overlap.
   *
   * @param others Subscriptions to intersect with.
   * @returns The intersection.
   * @example
   * ```ts
   * import { Subscription } from "@hat/eventer";
   * import assert from "node:assert/strict";
   * const sub = new Subscription([["a", "?"]]).intersection(new Subscription([["?", "b"]]));
   * assert.deepEqual(sub.getQueryTypes(), [["a", "b"]]);
   * ```
   */
  intersection(...others: Subscription[]): Subscription {
    let node = this.#root;
    for (const other of others) node = intersectNodes(node, other.#root);
    return fromNode(node);
  }

  /**
   * Tells whether no event type belongs to both subscriptions.
   *
   * @param other The other subscription.
   * @returns True when the subscriptions share no event type.
   * @example
   * ```ts
   * import { Subscription } from "@hat/eventer";
   * import assert from "node:assert/strict";
   * assert.ok(new Subscription([["a"]]).isDisjoint(new Subscription([["b"]])));
   * assert.ok(!new Subscription([["?"]]).isDisjoint(new Subscription([["b"]])));
   * ```
   */
  isDisjoint(other: Subscription): boolean {
    return disjointNodes(this.#root, other.#root);
  }

  /**
   * The reference's (Python) name of {@linkcode Subscription.isDisjoint}.
   *
   * @deprecated Use {@linkcode Subscription.isDisjoint}; this alias goes
   * in a later version.
   * @param other The other subscription.
   * @returns True when the subscriptions share no event type.
   */
  isdisjoint(other: Subscription): boolean {
    return this.isDisjoint(other);
  }

  #compile(): MatchState {
    const compiler = new Compiler(countNodes(this.#root));
    try {
      this.#matcher = compiler.compile([this.#root]);
    } catch (e) {
      if (e !== TOO_MANY_STATES) throw e;
      // Pathological mixes of `?` and literals (e.g. n types with the
      // literal at a different depth each) determinise to 2^n states;
      // walk the trie instead.
      this.#matcher = MATCH_ALL;
      this.#fallback = true;
    }
    return this.#matcher;
  }
}

function assertQueryType(queryType: EventType): void {
  for (let i = 0; i < queryType.length - 1; i++) {
    if (queryType[i] === "*") throw new InvalidQueryTypeError(queryType);
  }
}

function newNode(): Node {
  return { leaf: false, children: new Map() };
}

function addQueryType(root: Node, queryType: EventType): void {
  let node = root;
  for (const segment of queryType) {
    if (node.children.has("*")) return;
    if (segment === "*") {
      node.leaf = false;
      node.children.clear();
      node.children.set("*", { leaf: true, children: new Map() });
      return;
    }
    let child = node.children.get(segment);
    if (child === undefined) {
      child = newNode();
      node.children.set(segment, child);
    }
    node = child;
  }
  if (!node.children.has("*")) node.leaf = true;
}

function collectQueryTypes(
  node: Node,
  prefix: string[],
  result: string[][],
): void {
  if (node.leaf && !node.children.has("*")) result.push([...prefix]);
  for (const [segment, child] of node.children) {
    prefix.push(segment);
    collectQueryTypes(child, prefix, result);
    prefix.pop();
  }
}

/** Rebuilds through query types, as the reference does after set operations:
 * that drops branches that lead to no query type. */
function fromNode(node: Node): Subscription {
  const queryTypes: string[][] = [];
  collectQueryTypes(node, [], queryTypes);
  return new Subscription(queryTypes);
}

function unionNodes(first: Node, second: Node): Node {
  const leaf = first.leaf || second.leaf;
  if (first.children.has("*") || second.children.has("*")) {
    return {
      leaf,
      children: new Map([["*", { leaf: true, children: new Map() }]]),
    };
  }
  const children = new Map(first.children);
  for (const [segment, child] of second.children) {
    const prev = children.get(segment);
    children.set(segment, prev ? unionNodes(prev, child) : child);
  }
  return { leaf, children };
}

function intersectNodes(first: Node, second: Node): Node {
  const leaf = first.leaf && second.leaf;
  if (first.children.has("*")) return { leaf, children: second.children };
  if (second.children.has("*")) return { leaf, children: first.children };
  const children = new Map<string, Node>();
  const add = (segment: string, a: Node, b: Node) => {
    const result = intersectNodes(a, b);
    const prev = children.get(segment);
    children.set(segment, prev ? unionNodes(prev, result) : result);
  };
  // Same pairs, operand order and insertion order as the reference: each
  // of first's children against second's, then each of second's against
  // first's (the pairs met twice are merged by union).
  for (
    const [mine, theirs] of [
      [first.children, second.children],
      [second.children, first.children],
    ]
  ) {
    for (const [segment, child] of mine) {
      if (segment === "?") {
        for (const [otherSegment, otherChild] of theirs) {
          add(otherSegment, child, otherChild);
        }
        continue;
      }
      const same = theirs.get(segment);
      if (same) add(segment, child, same);
      const any = theirs.get("?");
      if (any) add(segment, child, any);
    }
  }
  return { leaf, children };
}

function disjointNodes(first: Node, second: Node): boolean {
  if (first.leaf && second.leaf) return false;
  if (
    (first.children.has("*") && (second.children.size > 0 || second.leaf)) ||
    (second.children.has("*") && (first.children.size > 0 || first.leaf))
  ) {
    return false;
  }
  const firstAny = first.children.get("?");
  if (firstAny) {
    for (const child of second.children.values()) {
      if (!disjointNodes(firstAny, child)) return false;
    }
  }
  const secondAny = second.children.get("?");
  if (secondAny) {
    for (const [segment, child] of first.children) {
      if (segment !== "?" && !disjointNodes(secondAny, child)) return false;
    }
  }
  for (const [segment, child] of first.children) {
    if (segment === "?") continue;
    const other = second.children.get(segment);
    if (other && !disjointNodes(child, other)) return false;
  }
  return true;
}

/** Backtracking walk of the trie, used only when determinising is too big. */
function matchesNode(node: Node, eventType: EventType, index: number): boolean {
  if (node.children.has("*")) return true;
  if (index >= eventType.length) return node.leaf;
  const child = node.children.get(eventType[index]);
  if (child && matchesNode(child, eventType, index + 1)) return true;
  const any = node.children.get("?");
  return any !== undefined && matchesNode(any, eventType, index + 1);
}

function countNodes(node: Node): number {
  let count = 1;
  for (const child of node.children.values()) count += countNodes(child);
  return count;
}

const TOO_MANY_STATES = new Error("too many matcher states");

/** Subset construction over trie nodes, memoised by the set of node ids. */
class Compiler {
  readonly #ids = new Map<Node, number>();
  readonly #states = new Map<string, MatchState>();
  readonly #maxStates: number;

  constructor(nodeCount: number) {
    this.#maxStates = 1024 + 8 * nodeCount;
  }

  compile(nodes: Node[]): MatchState {
    if (nodes.some((node) => node.children.has("*"))) return MATCH_ALL;
    const ids = [...new Set(nodes.map((node) => this.#id(node)))];
    const key = ids.sort((a, b) => a - b).join(",");
    const known = this.#states.get(key);
    if (known) return known;
    if (this.#states.size >= this.#maxStates) throw TOO_MANY_STATES;

    const state: MatchState = {
      all: false,
      leaf: nodes.some((node) => node.leaf),
      next: new Map(),
      other: null,
    };
    this.#states.set(key, state);

    const anys: Node[] = [];
    const literals = new Map<string, Node[]>();
    for (const node of nodes) {
      for (const [segment, child] of node.children) {
        if (segment === "?") {
          anys.push(child);
          continue;
        }
        const group = literals.get(segment);
        if (group) group.push(child);
        else literals.set(segment, [child]);
      }
    }
    if (anys.length > 0) state.other = this.compile(anys);
    for (const [segment, group] of literals) {
      state.next.set(segment, this.compile([...group, ...anys]));
    }
    return state;
  }

  #id(node: Node): number {
    let id = this.#ids.get(node);
    if (id === undefined) {
      id = this.#ids.size;
      this.#ids.set(node, id);
    }
    return id;
  }
}
