/**
 * The check of a store's `storage` option: every rule as the reference's
 * LMDB backend schema allows it (`hat-event://backends/lmdb.yaml`), and
 * nothing this store does not do yet.
 *
 * @module
 */

import type { StorageRules } from "./storage_rules.ts";

const RULES = ["conditions", "latest", "timeseries", "cleanupPeriod"];
const LIMITS = ["minEntries", "maxEntries", "duration", "size"];
const DATA_TYPES = ["null", "boolean", "string", "number", "array", "object"];

/**
 * Check storage rules (absent: the defaults).
 *
 * @param rules The `storage` option.
 * @param field Its name, for the messages.
 * @throws {TypeError} For a rule the schema does not allow, or one not
 * supported, naming the field, e.g.
 * `storage.conditions[0].condition.dataType must be one of ...`.
 */
export function checkStorageRules(
  rules: unknown,
  field = "storage",
): asserts rules is StorageRules | undefined {
  if (rules === undefined) return;
  checkObject(rules, field, RULES);
  const { conditions, latest, timeseries, cleanupPeriod } = rules as Record<
    string,
    unknown
  >;
  if (timeseries !== undefined) {
    const f = `${field}.timeseries`;
    checkArray(timeseries, f).forEach((p, i) => {
      checkObject(p, `${f}[${i}]`, ["orderBy", "subscriptions", "limit"]);
      const { orderBy, subscriptions, limit } = p as Record<string, unknown>;
      if (orderBy !== "timestamp" && orderBy !== "sourceTimestamp") {
        throw new TypeError(
          `${f}[${i}].orderBy must be "timestamp" or "sourceTimestamp", ` +
            `got ${describe(orderBy)}`,
        );
      }
      checkQueryTypes(subscriptions, `${f}[${i}].subscriptions`);
      if (limit !== undefined) {
        const at = `${f}[${i}].limit`;
        checkObject(limit, at, LIMITS);
        for (const name of LIMITS) {
          const value = (limit as Record<string, unknown>)[name];
          if (value === undefined) continue;
          const integer = name === "minEntries" || name === "maxEntries";
          if (
            typeof value !== "number" || value < 0 ||
            !(integer ? Number.isSafeInteger(value) : Number.isFinite(value))
          ) {
            throw new TypeError(
              `${at}.${name} must be ${
                integer ? "an integer" : "a number"
              } >= 0, got ${describe(value)}`,
            );
          }
        }
      }
    });
  }
  if (
    cleanupPeriod !== undefined &&
    (typeof cleanupPeriod !== "number" || !Number.isFinite(cleanupPeriod) ||
      cleanupPeriod <= 0)
  ) {
    throw new TypeError(
      `${field}.cleanupPeriod must be a number of milliseconds > 0, got ${
        describe(cleanupPeriod)
      }`,
    );
  }
  if (conditions !== undefined) {
    const f = `${field}.conditions`;
    checkArray(conditions, f).forEach((c, i) => {
      checkObject(c, `${f}[${i}]`, ["subscriptions", "condition"]);
      const { subscriptions, condition } = c as Record<string, unknown>;
      checkQueryTypes(subscriptions, `${f}[${i}].subscriptions`);
      checkCondition(condition, `${f}[${i}].condition`);
    });
  }
  if (latest !== undefined) {
    checkObject(latest, `${field}.latest`, ["subscriptions"]);
    checkQueryTypes(
      (latest as Record<string, unknown>).subscriptions,
      `${field}.latest.subscriptions`,
    );
  }
}

function checkCondition(c: unknown, field: string): void {
  const type = (c as { type?: unknown } | null)?.type;
  if (type === "all" || type === "any") {
    checkObject(c, field, ["type", "conditions"]);
    const { conditions } = c as Record<string, unknown>;
    checkArray(conditions, `${field}.conditions`).forEach((d, i) =>
      checkCondition(d, `${field}.conditions[${i}]`)
    );
    return;
  }
  if (type !== "json") {
    checkObject(c, field, ["type"]);
    throw new TypeError(
      `${field}.type must be "all", "any" or "json", got ${describe(type)}`,
    );
  }
  checkObject(c, field, ["type", "dataPath", "dataType", "dataValue"]);
  const { dataPath, dataType, dataValue } = c as Record<string, unknown>;
  if (dataPath !== undefined) checkPath(dataPath, `${field}.dataPath`);
  if (dataType !== undefined && !DATA_TYPES.includes(dataType as string)) {
    throw new TypeError(
      `${field}.dataType must be one of ${DATA_TYPES.join(", ")}, got ${
        describe(dataType)
      }`,
    );
  }
  if ("dataValue" in (c as object)) checkJson(dataValue, `${field}.dataValue`);
}

// hat.json's Path: a key, an integer index, or an array of paths.
function checkPath(path: unknown, field: string): void {
  if (typeof path === "string" || Number.isSafeInteger(path)) return;
  if (!Array.isArray(path)) {
    throw new TypeError(
      `${field} must be a string, an integer or an array of them, got ${
        describe(path)
      }`,
    );
  }
  path.forEach((p, i) => checkPath(p, `${field}[${i}]`));
}

function checkJson(v: unknown, field: string, depth = 0): void {
  if (depth > 1000) throw new TypeError(`${field} is nested too deep`);
  switch (typeof v) {
    case "string":
    case "boolean":
    case "bigint":
      return;
    case "number":
      if (Number.isFinite(v)) return;
      break;
    case "object":
      if (v === null) return;
      if (Array.isArray(v)) {
        v.forEach((x, i) => checkJson(x, `${field}[${i}]`, depth + 1));
        return;
      }
      if (Object.getPrototypeOf(v) === Object.prototype) {
        for (const [k, x] of Object.entries(v)) {
          checkJson(x, `${field}.${k}`, depth + 1);
        }
        return;
      }
  }
  throw new TypeError(`${field} must be a JSON value, got ${describe(v)}`);
}

function checkQueryTypes(types: unknown, field: string): void {
  checkArray(types, field).forEach((t, i) => {
    if (
      !Array.isArray(t) || t.some((s) => typeof s !== "string") ||
      t.slice(0, -1).includes("*")
    ) {
      throw new TypeError(
        `${field}[${i}] must be a query type (an array of strings, "*" ` +
          `only last), got ${JSON.stringify(t) ?? describe(t)}`,
      );
    }
  });
}

function checkObject(v: unknown, field: string, keys: string[]): void {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new TypeError(`${field} must be an object, got ${describe(v)}`);
  }
  for (const key of Object.keys(v)) {
    if (!keys.includes(key)) {
      throw new TypeError(
        `${field}.${key} is not a rule (${field} has ${keys.join(", ")})`,
      );
    }
  }
}

function checkArray(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) {
    throw new TypeError(`${field} must be an array, got ${describe(v)}`);
  }
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}
