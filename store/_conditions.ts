/**
 * The `conditions` storage rule: whether an event is stored, with the
 * matching semantics of the reference's LMDB backend
 * (`hat/event/backends/lmdb/conditions.py`).
 *
 * @module
 */

import {
  type EventPayload,
  type EventType,
  Subscription,
} from "../common/event/mod.ts";
import type { JsonValue } from "../common/json/mod.ts";
import type { Condition, JsonPath, StorageCondition } from "./storage_rules.ts";

/** A condition compiled: whether a payload meets it. */
type Matcher = (payload: EventPayload | null | undefined) => boolean;

/**
 * The conditions of a store: an event is stored when it meets every
 * condition whose subscriptions match its type (none: it is stored).
 * The rules are checked before (see `checkStorageRules`).
 */
export class StorageConditions {
  readonly #rules: { subscription: Subscription; matches: Matcher }[];

  /** Conditions of `rules` (none: every event is stored). */
  constructor(rules: readonly StorageCondition[] | undefined) {
    this.#rules = (rules ?? []).map((rule) => ({
      subscription: new Subscription(rule.subscriptions),
      matches: compile(rule.condition),
    }));
  }

  /** True when there is no condition: every event is stored. */
  get empty(): boolean {
    return this.#rules.length === 0;
  }

  /** Whether an event of `type` may need its payload read. */
  concerns(type: EventType): boolean {
    for (const rule of this.#rules) {
      if (rule.subscription.matches(type)) return true;
    }
    return false;
  }

  /** Whether an event of `type` with `payload` is stored. */
  matches(type: EventType, payload: EventPayload | null | undefined): boolean {
    for (const rule of this.#rules) {
      if (rule.subscription.matches(type) && !rule.matches(payload)) {
        return false;
      }
    }
    return true;
  }
}

function compile(c: Condition): Matcher {
  switch (c.type) {
    case "all": {
      const all = c.conditions.map(compile);
      return (p) => all.every((m) => m(p));
    }
    case "any": {
      const any = c.conditions.map(compile);
      return (p) => any.some((m) => m(p));
    }
    case "json":
      return compileJson(
        flattenPath(c.dataPath ?? []),
        c.dataType,
        "dataValue" in c,
        c.dataValue as JsonValue,
      );
  }
}

// The reference's `json` condition: a JSON payload whose value at the
// path (null when the path leads nowhere, as hat.json.get's default) has
// the type and equals the value, each when given.
function compileJson(
  path: readonly (string | number)[],
  dataType: string | undefined,
  hasValue: boolean,
  value: JsonValue,
): Matcher {
  return (payload) => {
    if (payload?.kind !== "json") return false;
    const data = valueAt(payload.data, path);
    if (dataType !== undefined && jsonType(data) !== dataType) return false;
    return !hasValue || pythonEquals(value, data);
  };
}

/** A path as a flat list of keys and indexes (hat.json.flatten). */
export function flattenPath(path: JsonPath): (string | number)[] {
  if (!Array.isArray(path)) return [path as string | number];
  return (path as readonly JsonPath[]).flatMap(flattenPath);
}

// hat.json.get: a key into an object that has it, an index into an array
// (negative ones from the end, as Python's); anything else gives null.
function valueAt(data: JsonValue, path: readonly (string | number)[]) {
  for (const key of path) {
    if (typeof key === "string") {
      if (
        typeof data !== "object" || data === null || Array.isArray(data) ||
        !Object.hasOwn(data, key)
      ) return null;
      data = (data as Record<string, JsonValue>)[key];
    } else {
      if (!Array.isArray(data)) return null;
      const i = key < 0 ? data.length + key : key;
      if (i < 0 || i >= data.length) return null;
      data = data[i];
    }
  }
  return data;
}

// The `dataType` of a value, as the reference's isinstance checks tell.
function jsonType(v: JsonValue): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return "boolean";
    case "string":
      return "string";
    case "number":
    case "bigint":
      return "number";
    default:
      return Array.isArray(v) ? "array" : "object";
  }
}

/**
 * Python's `==` on JSON values, as the reference compares `dataValue`:
 * numbers by value whatever their form (`1 == 1.0`, a `bigint` exactly),
 * `true == 1` and `false == 0` (Python's bools are integers), arrays
 * element by element, objects by keys and values in any order.
 */
export function pythonEquals(a: JsonValue, b: JsonValue): boolean {
  if (a === null || b === null) return a === b;
  const na = numeric(a);
  const nb = numeric(b);
  if (na !== undefined || nb !== undefined) {
    // Loose equality compares a number and a bigint by exact value.
    // deno-lint-ignore eqeqeq
    return na !== undefined && nb !== undefined && na == nb;
  }
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) {
      return false;
    }
    for (let i = 0; i < a.length; i++) {
      if (!pythonEquals(a[i], b[i])) return false;
    }
    return true;
  }
  const oa = a as Record<string, JsonValue>;
  const ob = b as Record<string, JsonValue>;
  const keys = Object.keys(oa);
  if (keys.length !== Object.keys(ob).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(ob, key) || !pythonEquals(oa[key], ob[key])) {
      return false;
    }
  }
  return true;
}

// A number, bigint or boolean as a number (booleans are 0 and 1, as in
// Python); undefined for anything else.
function numeric(v: JsonValue): number | bigint | undefined {
  switch (typeof v) {
    case "number":
    case "bigint":
      return v;
    case "boolean":
      return v ? 1 : 0;
    default:
      return undefined;
  }
}
