/**
 * Object shapes of the JSON byte parser (read.ts): the key sequences of
 * objects parsed before, as a bounded tree.
 *
 * @module
 */

import { buildMake, lanes, type Make, newRoot } from "./_builders.ts";
import type { JsonValue } from "./value.ts";

/** A JSON object as the parser builds it. */
export type JsonObject = { [key: string]: JsonValue };

// Object shapes: the key sequences of objects parsed before, as a tree.
// Payloads of one kind repeat their keys in the same order, so an object
// whose keys follow a known path is matched byte by byte (no hashing or
// interning) and built by the shape's builder (`make`), several times
// cheaper than the general path's store per property. Where one shape
// repeats at a nesting depth (a batch of payloads of one kind), the next
// object there is matched against it whole first: its separators and keys
// compared as one run of bytes per value, with no lookup per key.
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
  /** Builds such objects: undefined until made, null if there is none. */
  make: Make | null | undefined;
  /**
   * With `make`: the bytes before each value as json.dumps writes them,
   * `{"k0": ` and then `, "k1": ` and so on, for matching a whole object:
   * their counts (5 to 38: `{"": ` to `, "` and a key of 32 bytes and
   * `": `), and as words, as storeWords lays them out,
   * {@linkcode SEP_WORDS} per key.
   */
  sepLengths: Uint8Array | null;
  sepWords: Uint32Array | null;
  /**
   * With `sepWords`: per key, the string its value was the last time it was
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

/** Words of a separator (see `sepWords`). */
export const SEP_WORDS = 10;
/** Most bytes of a shape's remembered string value (see `valueStrings`). */
export const VALUE_BYTES = 32;
/** Words of a remembered string value. */
export const VALUE_WORDS = VALUE_BYTES / 4;
/** Misses in a row after which a key's string values are not remembered. */
export const VALUE_MISSES = 4;
// Built after this many objects of the shape: one-off shapes get no builder.
const SHAPE_BUILD_AFTER = 4;

const MAX_SHAPES = 1024;
const MAX_SHAPE_KEYS = 32;
const MAX_SHAPE_NEXT = 8;
// Objects finding no room in the tree after which it is weighed (noRoom).
const MISS_WINDOW = 256;
/** Nesting depths with a hot shape (the byte parser bails deeper). */
export const SHAPE_DEPTHS = 64;

// This generation's tree: its shapes, and those of them with a builder.
let shapeCount = 0;
let builtCount = 0;
// Since the process started (or clear()).
let madeCount = 0;
let missedCount = 0;
let resetCount = 0;
// Objects that found no room, and served[0] then, since the tree was last
// weighed.
let windowMissed = 0;
let windowServed = 0;

/**
 * Objects built by a shape's builder, counted by the parser (read.ts) as
 * it builds them: what the tree is weighed by.
 */
export const served: Float64Array = new Float64Array(1);

// Constructors of the objects the parser builds (see newRoot), each
// replaced before the tree of hidden classes of its objects can fill: the
// shared builders', every ROOT_SHAPES shapes built (each adds at most one
// branch to a class); the general path's, with each new tree and every
// ROOT_OBJECTS objects whose keys the tree does not hold. (A lane's holds
// one chain.)
const ROOT_SHAPES = 1024;
const ROOT_OBJECTS = 1024;
let shapeRoot = newRoot();
let shapeRootBuilt = 0;
let generalRoot = newRoot();
let generalRootObjects = 0;

/** The empty path. */
export const ROOT_SHAPE: Shape = newShape("", [], new Uint8Array([0x22]));

/**
 * Per nesting depth, the shape that objects there had the last two times,
 * when it was the same both times: the next object at that depth is first
 * matched against it whole.
 */
export const hotShapes: (Shape | null)[] = new Array(SHAPE_DEPTHS).fill(null);
/** Per nesting depth, the shape of the last object there. */
export const lastShapes: (Shape | null)[] = new Array(SHAPE_DEPTHS).fill(null);

/**
 * The shape tree of the JSON parser in this process: its bounds, what it
 * holds and has done, and a way to empty it. The tree is module state, as
 * the other caches (see `sbs/string_cache.ts` for why).
 *
 * Bounds: at most `maxShapes` shapes (key paths) of at most `maxKeys`
 * keys of up to 32 bytes, at most `maxNext` of them one key longer than
 * any one shape, each keeping per key the bytes before its value and one
 * remembered string value of up to 32 bytes: at most `maxBytes` of heap
 * (3.1 MiB measured for 1,024 shapes of ~31 keys of 32 bytes), a few KiB
 * for a handful of payload kinds. An object that does not fit takes the
 * parser's general path: the same result, slower.
 *
 * Eviction: each time `missWindow` objects found no room (a full tree,
 * or a path with `maxNext` longer ones already), the tree is weighed
 * against the objects its builders built meanwhile; if those are fewer,
 * it holds what the traffic no longer sends (or never did: a peer sending
 * key sets at random), and it starts over empty (`resets`). Payload kinds
 * in use are learned again within a few objects each; after a flood of
 * new key sets, the traffic that follows gets its shapes back within
 * `missWindow` + 6 objects.
 *
 * Builders: the objects of a shape are built by assigning its keys in
 * order, with no code made from them, by parts of up to 8 keys. The
 * parts of the first shapes built get a lane each (`lanes` of them),
 * code of their own whose store sites V8 keeps monomorphic, for the life
 * of the process (`clear` does not free them); the others share one part,
 * whose sites see many keys: payloads of several kinds built by it parse
 * ~23 % slower (measured).
 */
export const jsonShapes = {
  /** Shapes (key paths) kept at most. */
  maxShapes: MAX_SHAPES,
  /** Keys of one shape at most. */
  maxKeys: MAX_SHAPE_KEYS,
  /** Shapes one key longer than one shape at most. */
  maxNext: MAX_SHAPE_NEXT,
  /** Heap the tree holds at most (bytes; see the bounds above). */
  maxBytes: 4 << 20,
  /** Objects finding no room after which the tree is weighed. */
  missWindow: MISS_WINDOW,
  /** Lanes: code assigning up to 8 keys of one shape (see `lanesTaken`). */
  lanes: lanes.count,
  /** Shapes in the tree now. */
  get count(): number {
    return shapeCount;
  },
  /** Shapes in the tree now with a builder. */
  get built(): number {
    return builtCount;
  },
  /** Shapes made. */
  get made(): number {
    return madeCount;
  },
  /** Objects built by a shape's builder. */
  get served(): number {
    return served[0];
  },
  /** Objects whose keys found no room in the tree. */
  get missed(): number {
    return missedCount;
  },
  /** Times the tree was emptied because it no longer served the traffic. */
  get resets(): number {
    return resetCount;
  },
  /** Lanes taken, each by a key sequence for the life of the process. */
  get lanesTaken(): number {
    return lanes.taken;
  },
  /** Forget every shape, and zero the counts. */
  clear(): void {
    emptyTree();
    madeCount = 0;
    missedCount = 0;
    resetCount = 0;
    served[0] = 0;
    windowMissed = 0;
    windowServed = 0;
  },
};

function emptyTree(): void {
  generalRoot = newRoot();
  generalRootObjects = 0;
  ROOT_SHAPE.next.length = 0;
  hotShapes.fill(null);
  lastShapes.fill(null);
  shapeCount = 0;
  builtCount = 0;
}

/**
 * The shape one key longer than `shape`, made; null past the limits (and
 * counted as no room, unless it is `maxKeys`: such objects never fit).
 */
export function nextShape(shape: Shape, key: string): Shape | null {
  if (shape.keys.length >= MAX_SHAPE_KEYS) return null;
  if (shape.next.length >= MAX_SHAPE_NEXT || shapeCount >= MAX_SHAPES) {
    return noRoom();
  }
  shapeCount++;
  madeCount++;
  const quoted = new Uint8Array(key.length + 1);
  for (let i = 0; i < key.length; i++) quoted[i] = key.charCodeAt(i);
  quoted[key.length] = 0x22;
  const k = propertyKey(key);
  const next = newShape(k, [...shape.keys, k], quoted);
  shape.next.push(next);
  return next;
}

// An object found no room. The tree never forgets a shape otherwise, so
// once full, kinds of payload new to it would take the general path for
// the life of the process: a peer sending key sets at random could do
// that to every later client. Weighing it every MISS_WINDOW misses costs
// nothing on the way of objects that fit, and empties it only when most
// objects miss. Parsing continues on the old tree's shapes that parents
// of the current object hold, detached: they are garbage once done.
function noRoom(): null {
  missedCount++;
  if (++windowMissed >= MISS_WINDOW) {
    if (served[0] - windowServed < windowMissed) {
      emptyTree();
      resetCount++;
    }
    windowMissed = 0;
    windowServed = served[0];
  }
  return null;
}

/**
 * An object of exactly `shape`'s keys was built by the general path:
 * after a few, the shape gets its builder (`make`) and what matching a
 * whole object needs.
 */
export function shapeSeen(shape: Shape): void {
  if (shape.make !== undefined || ++shape.seen < SHAPE_BUILD_AFTER) return;
  if (++shapeRootBuilt > ROOT_SHAPES) {
    shapeRoot = newRoot();
    shapeRootBuilt = 1;
  }
  shape.make = buildMake(shape.keys, shapeRoot);
  if (!shape.make) return;
  builtCount++;
  buildSeps(shape);
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
    sepLengths: null,
    sepWords: null,
    valueStrings: null,
    valueWords: null,
    valueLengths: null,
    valueMisses: null,
  };
}

/**
 * A fresh object for the parser's general path, which then assigns it
 * `shape`'s keys (null: keys the tree has no shape for).
 */
export function generalObject(shape: Shape | null): JsonObject {
  if (shape === null && ++generalRootObjects > ROOT_OBJECTS) {
    generalRoot = newRoot();
    generalRootObjects = 1;
  }
  return new generalRoot();
}

// `key` as V8's property keys are (an internalized string): a store with a
// key that is not one looks it up in the string table each time, and a
// store site that saw one key compares the next with it by identity.
// An object made with no prototype holds its keys in a dictionary, not in
// hidden classes: this adds no branch to any (see newRoot).
function propertyKey(key: string): string {
  const dictionary = Object.create(null);
  dictionary[key] = 0;
  return Object.keys(dictionary)[0];
}

// Keys here are printable ASCII of up to 32 bytes without quotes or
// backslashes (fastObject takes no others into shapes), so JSON.stringify
// writes them as json.dumps does.
function buildSeps(shape: Shape): void {
  const keys = shape.keys;
  const lengths = new Uint8Array(keys.length);
  const words = new Uint32Array(keys.length * SEP_WORDS);
  const bytes = new Uint8Array(SEP_WORDS * 4);
  const view = new DataView(bytes.buffer);
  keys.forEach((key, i) => {
    const text = (i === 0 ? "{" : ", ") + JSON.stringify(key) + ": ";
    for (let c = 0; c < text.length; c++) bytes[c] = text.charCodeAt(c);
    storeWords(view, 0, text.length, words, i * SEP_WORDS);
    lengths[i] = text.length;
  });
  shape.sepLengths = lengths;
  shape.sepWords = words;
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
