/**
 * Object shapes of the JSON byte parser (read.ts): the key sequences of
 * objects parsed before, as a bounded tree.
 *
 * @module
 */

import type { JsonValue } from "./value.ts";

/** A JSON object as the parser builds it. */
export type JsonObject = { [key: string]: JsonValue };

// Object shapes: the key sequences of objects parsed before, as a tree.
// Payloads of one kind repeat their keys in the same order, so an object
// whose keys follow a known path is matched byte by byte (no hashing or
// interning) and built by one object literal, several times cheaper than
// a keyed store per property. Where one shape repeats at a nesting depth
// (a batch of payloads of one kind), the next object there is matched
// against it whole first: its separators and keys compared as one run of
// bytes per value, with no lookup per key.
export interface Shape {
  /** The last key of this path ("" at the root). */
  readonly key: string;
  /** Its (ASCII) bytes and closing quote, for matching input. */
  readonly quoted: Uint8Array;
  /** Keys of the path, in order. */
  readonly keys: readonly string[];
  /** Paths one key longer (a few: the rest take the general path). */
  readonly next: Shape[];
  /** Objects of exactly these keys parsed before `make` was decided. */
  seen: number;
  /** The literal building such objects: undefined until built, null if it cannot be. */
  make: ((values: JsonValue[], base: number) => JsonObject) | null | undefined;
  /**
   * With `make`: the bytes before each value as json.dumps writes them,
   * `{"k0": ` and then `, "k1": ` and so on, for matching a whole object.
   */
  seps: Uint8Array[] | null;
  /**
   * With `seps`: each one as words, as storeWords lays them out. Every
   * separator is at least 5 bytes (`{"": `).
   */
  sepWords: Uint32Array[] | null;
  /**
   * With `seps`: per key, the string its value was the last time it was
   * a string of 4 to {@linkcode VALUE_BYTES} bytes with its quotes
   * (else null), those bytes as words (`VALUE_WORDS` per key, as
   * `sepWords` lays them out) and their count. The same value comes back
   * payload after payload (`"good"`): compared as words, it needs neither
   * hashing nor a lookup.
   */
  valueStrings: (string | null)[] | null;
  valueWords: Uint32Array | null;
  valueLengths: Uint8Array | null;
  /** Per key, its string values that were not the remembered one in a row. */
  valueMisses: Uint8Array | null;
}

/** Most bytes of a shape's remembered string value (see `valueStrings`). */
export const VALUE_BYTES = 32;
/** Words of a remembered string value. */
export const VALUE_WORDS = VALUE_BYTES / 4;
/** Misses in a row after which a key's string values are not remembered. */
export const VALUE_MISSES = 4;
// Built after this many objects of the shape: one-off shapes never compile.
const SHAPE_BUILD_AFTER = 4;

const MAX_SHAPES = 1024;
const MAX_SHAPE_KEYS = 32;
const MAX_SHAPE_NEXT = 8;
let shapeCount = 0;
let compiledCount = 0;

/** The empty path. */
export const ROOT_SHAPE: Shape = newShape("", [], new Uint8Array([0x22]));

/**
 * Per nesting depth, the shape that objects there had the last two times,
 * when it was the same both times: the next object at that depth is first
 * matched against it whole.
 */
export const hotShapes: (Shape | null)[] = [];
/** Per nesting depth, the shape of the last object there. */
export const lastShapes: (Shape | null)[] = [];

/**
 * The shape tree of the JSON parser in this process: its bounds (what
 * does not fit takes the parser's general path), what it holds, and a
 * way to empty it. The tree is module state, as the other caches (see
 * `sbs/string_cache.ts` for why).
 */
export const jsonShapes = {
  /** Shapes (key paths) kept at most. */
  maxShapes: MAX_SHAPES,
  /** Keys of one shape at most. */
  maxKeys: MAX_SHAPE_KEYS,
  /** Shapes one key longer than one shape at most. */
  maxNext: MAX_SHAPE_NEXT,
  /** Shapes made. */
  get count(): number {
    return shapeCount;
  },
  /** Shapes compiled into an object literal. */
  get compiled(): number {
    return compiledCount;
  },
  /** Forget every shape (and the counts). */
  clear(): void {
    ROOT_SHAPE.next.length = 0;
    hotShapes.length = 0;
    lastShapes.length = 0;
    shapeCount = 0;
    compiledCount = 0;
  },
};

/** The shape one key longer than `shape`, made; null past the limits. */
export function nextShape(shape: Shape, key: string): Shape | null {
  if (
    shape.next.length >= MAX_SHAPE_NEXT || shapeCount >= MAX_SHAPES ||
    shape.keys.length >= MAX_SHAPE_KEYS
  ) return null;
  shapeCount++;
  const quoted = new Uint8Array(key.length + 1);
  for (let i = 0; i < key.length; i++) quoted[i] = key.charCodeAt(i);
  quoted[key.length] = 0x22;
  const next = newShape(key, [...shape.keys, key], quoted);
  shape.next.push(next);
  return next;
}

/**
 * An object of exactly `shape`'s keys was built by the general path:
 * after a few, the shape gets its literal (`make`) and what matching a
 * whole object needs.
 */
export function shapeSeen(shape: Shape): void {
  if (shape.make !== undefined || ++shape.seen < SHAPE_BUILD_AFTER) return;
  shape.make = buildShape(shape.keys);
  if (!shape.make) return;
  compiledCount++;
  shape.seps = buildSeps(shape.keys);
  shape.sepWords = buildSepWords(shape.seps);
  shape.valueStrings = shape.keys.map(() => null);
  shape.valueWords = new Uint32Array(shape.keys.length * VALUE_WORDS);
  shape.valueLengths = new Uint8Array(shape.keys.length);
  shape.valueMisses = new Uint8Array(shape.keys.length);
}

function newShape(
  key: string,
  keys: readonly string[],
  quoted: Uint8Array,
): Shape {
  return {
    key,
    quoted,
    keys,
    next: [],
    seen: 0,
    make: undefined,
    seps: null,
    sepWords: null,
    valueStrings: null,
    valueWords: null,
    valueLengths: null,
    valueMisses: null,
  };
}

// `{"k0": v[b], "k1": v[b + 1], ...}`. Keys here are printable ASCII
// without quotes or backslashes (interned by fastString), so
// JSON.stringify quotes them as JS string literals. "__proto__" in a
// literal would set the prototype, and a repeated key is left to the
// general path for clarity: neither gets a literal.
function buildShape(keys: readonly string[]): Shape["make"] {
  if (new Set(keys).size !== keys.length || keys.includes("__proto__")) {
    return null;
  }
  const fields = keys.map((k, i) => `${JSON.stringify(k)}: v[b + ${i}]`);
  try {
    return new Function("v", "b", `return {${fields.join(", ")}};`) as Shape[
      "make"
    ];
  } catch {
    return null; // code generation disallowed: the general path serves
  }
}

function buildSeps(keys: readonly string[]): Uint8Array[] {
  return keys.map((key, i) => {
    const text = (i === 0 ? "{" : ", ") + JSON.stringify(key) + ": ";
    return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
  });
}

function buildSepWords(seps: readonly Uint8Array[]): Uint32Array[] {
  return seps.map((sep) => {
    const words = new Uint32Array(((sep.length - 1) >> 2) + 1);
    storeWords(new DataView(sep.buffer), sep.byteOffset, sep.length, words, 0);
    return words;
  });
}

// Bytes of `n` >= 4 as little-endian 32-bit words: those at offsets 0, 4,
// ... before the last 4 bytes, then the word of the last 4 bytes
// (overlapping the one before it when `n` is not a multiple of 4).
export function storeWords(
  view: DataView,
  at: number,
  n: number,
  words: Uint32Array,
  o: number,
): void {
  for (let x = 0; x + 4 < n; x += 4) words[o++] = view.getUint32(at + x, true);
  words[o] = view.getUint32(at + n - 4, true);
}
