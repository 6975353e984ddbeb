/**
 * A JSON parser for the texts V8's `JSON.parse` gets wrong: in Deno 2.9.6
 * (V8 15.0), an object key that is exactly one escape sequence (`"\n"`,
 * `"\u00e9"`) can come back as the key of an earlier object of the same
 * shape with another one-escape key (`{"a":1,"\u00e8":2}` parsed after
 * `{"a":1,"\u00e9":2}` gets the key `é`). {@linkcode needsExactParse}
 * finds such keys; {@linkcode exactParse} parses with the same results as
 * `parseJsonText` otherwise gives (integers beyond 2^53 as `bigint`,
 * overflowing numbers refused, `__proto__` an own property).
 *
 * @module
 */

import type { JsonValue } from "./value.ts";

// A key that is one escape, or something that looks like one (a false
// match only costs this slower parser).
const ONE_ESCAPE_KEY = /"\\(?:u[0-9a-fA-F]{4}|["\\/bfnrt])"\s*:/;

/** Whether `text` may hold a key `JSON.parse` gets wrong. */
export function needsExactParse(text: string): boolean {
  return text.includes("\\") && ONE_ESCAPE_KEY.test(text);
}

const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * Parse a JSON text without `JSON.parse`.
 *
 * @throws {SyntaxError} When the text is not JSON, holds a number that
 *   overflows, or nests too deeply for the stack.
 */
export function exactParse(text: string): JsonValue {
  let i = 0;
  const fail = (what = "unexpected character"): never => {
    throw new SyntaxError(`${what} in JSON at position ${i}`);
  };
  const space = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else return;
    }
  };
  const string = (): string => {
    i++; // the opening quote
    let s = "";
    let from = i;
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c) || c < 0x20) fail("bad string");
      if (c === 0x22) {
        s += text.slice(from, i++);
        return s;
      }
      if (c !== 0x5c) {
        i++;
        continue;
      }
      s += text.slice(from, i);
      const e = text[i + 1];
      if (e === "u") {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad escape");
        s += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else {
        const x = ESCAPES[e];
        if (x === undefined) fail("bad escape");
        s += x;
        i += 2;
      }
      from = i;
    }
  };
  const number = (): number | bigint => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text) ?? fail();
    const source = m[0];
    i += source.length;
    const n = Number(source);
    if (m[1] === undefined && m[2] === undefined && !Number.isSafeInteger(n)) {
      return BigInt(source);
    }
    if (!Number.isFinite(n)) {
      throw new SyntaxError(`JSON number ${source.slice(0, 32)} overflows`);
    }
    return n;
  };
  const literal = <T>(word: string, v: T): T => {
    if (!text.startsWith(word, i)) fail();
    i += word.length;
    return v;
  };
  const value = (): JsonValue => {
    space();
    const c = text[i];
    if (c === "{") {
      i++;
      const obj: Record<string, JsonValue> = {};
      space();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        space();
        if (text[i] !== '"') fail();
        const key = string();
        space();
        if (text[i++] !== ":") fail();
        const v = value();
        // As JSON.parse: an own property, even for `__proto__`.
        Object.defineProperty(obj, key, {
          value: v,
          writable: true,
          enumerable: true,
          configurable: true,
        });
        space();
        const d = text[i++];
        if (d === "}") return obj;
        if (d !== ",") fail();
      }
    }
    if (c === "[") {
      i++;
      const arr: JsonValue[] = [];
      space();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        space();
        const d = text[i++];
        if (d === "]") return arr;
        if (d !== ",") fail();
      }
    }
    if (c === '"') return string();
    if (c === "t") return literal("true", true);
    if (c === "f") return literal("false", false);
    if (c === "n") return literal("null", null);
    return number() as JsonValue;
  };
  let result: JsonValue;
  try {
    result = value();
  } catch (e) {
    if (e instanceof RangeError) {
      throw new SyntaxError("JSON nested too deeply");
    }
    throw e;
  }
  space();
  if (i !== text.length) fail();
  return result;
}
