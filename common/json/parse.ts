/**
 * JSON text parsed as the reference's peers mean it: integers beyond
 * 2^53 - 1 as `bigint`, and numbers no encoder could write back refused.
 *
 * @module
 */

import type { JsonValue } from "./value.ts";
import { exactParse, needsExactParse } from "./_exact_parse.ts";

function bigintReviver(
  _key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  if (
    typeof value === "number" && !Number.isSafeInteger(value) &&
    context?.source !== undefined && /^-?\d+$/.test(context.source)
  ) {
    return BigInt(context.source);
  }
  return value;
}

// A number can overflow to ±Infinity only with a 3-digit exponent or a
// 309+ digit run (which has a 16+ digit run). JSON cannot carry Infinity back out, so such a payload
// would be accepted here and then refused by every encoder (found by
// fuzzing: `-32E5011537189626`).
const NEEDS_REVIVER = /\d{16}|[eE][+-]?\d{3}/;

function finiteReviver(
  key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  const v = bigintReviver(key, value, context);
  if (typeof v === "number" && !Number.isFinite(v)) {
    const source = String(context?.source ?? v);
    throw new SyntaxError(`JSON number ${source.slice(0, 32)} overflows`);
  }
  return v;
}

/**
 * Parse JSON payload text. Integers beyond 2^53 - 1 become `bigint`
 * instead of silently rounded numbers.
 *
 * @throws {SyntaxError} When the text is not JSON, or holds a number
 * beyond the float range (which no JSON encoder could write back).
 */
export function parseJsonText(text: string): JsonValue {
  // Only texts with a 16+ digit run or a 3-digit exponent can hold an
  // unsafe integer or an overflowing number; the checking reviver costs
  // several times a plain parse, so one scan decides whether to pay it.
  // A key that is one escape: V8's JSON.parse may give another object's
  // key (see _exact_parse.ts).
  if (needsExactParse(text)) return exactParse(text);
  return NEEDS_REVIVER.test(text)
    ? JSON.parse(text, finiteReviver as (k: string, v: unknown) => unknown)
    : JSON.parse(text);
}
