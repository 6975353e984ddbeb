/**
 * How the JSON byte parser (read.ts) makes the objects of a shape
 * (`_shapes.ts`), with no code made from the keys it reads.
 *
 * @module
 */

import type { JsonObject } from "./_shapes.ts";
import type { JsonValue } from "./value.ts";

/**
 * Builds an object of a shape's keys from the values at `v[b]` on (the
 * parser passes null first: see `Part`).
 */
export type Make = (o: null, v: JsonValue[], b: number) => JsonObject;

/** A constructor of plain objects (see {@linkcode newRoot}). */
export type ObjectRoot = new () => JsonObject;

/**
 * A constructor of plain objects (the prototype and constructor of `{}`)
 * with hidden classes of their own.
 *
 * V8 keeps the hidden classes that objects of one constructor pass
 * through as a tree, and a class with ~1,536 branches (keys added to it)
 * takes no more: objects given another key then get a class each, and
 * every access to them is slow, until a full GC drops the branches of
 * objects no longer alive. Keys read off the wire must not fill the tree
 * of `{}`, which the whole process shares; the parser's own constructors
 * are replaced before theirs fill (`_shapes.ts`).
 */
export function newRoot(): ObjectRoot {
  function JsonObject(): void {}
  JsonObject.prototype = Object.prototype;
  return JsonObject as unknown as ObjectRoot;
}

// Objects of a shape are built by assigning its keys in order to a fresh
// object of one constructor: V8 takes them through the same chain of
// hidden classes, so they share one, as objects of one literal would.
// Each key is assigned at a store site of its own, and a site that sees
// one key (and class) stays monomorphic, several times faster than one
// that sees many (measured: payloads of several kinds parse ~23 %
// slower). So the keys are assigned by parts of up to PART_KEYS keys, and
// the parts of the first shapes built get a lane each, code of their own
// for good; the others share one. A shape of one part is built by its
// part alone: a call in between, to the parts of many shapes, cost ~20 %
// per payload. Lanes are taken when a shape is built, not once it proved
// busy: a shape moved from the shared part to lanes would leave the
// parser's call of its builder polymorphic, measured slower than either.

/** Keys one part assigns. */
const PART_KEYS = 8;

/**
 * Assigns `k[i]` the value `v[b + i]` on `o`, for `i` below `n`, `o` a
 * fresh object of `root` if null; returns `o`.
 */
type Part = (o: JsonObject | null, v: JsonValue[], b: number) => JsonObject;
type PartCode = (k: readonly string[], n: number, root: ObjectRoot) => Part;

// The same code as many times as there are lanes, so that V8 keeps their
// store sites apart, and once more for the shared part.
const LANES: PartCode[] = [
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
  (k, n, root) => {
    const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
    return (o, v, b) => {
      const obj = o ?? new root();
      obj[k0] = v[b];
      if (n > 1) obj[k1] = v[b + 1];
      if (n > 2) obj[k2] = v[b + 2];
      if (n > 3) obj[k3] = v[b + 3];
      if (n > 4) obj[k4] = v[b + 4];
      if (n > 5) obj[k5] = v[b + 5];
      if (n > 6) obj[k6] = v[b + 6];
      if (n > 7) obj[k7] = v[b + 7];
      return obj;
    };
  },
];

const SHARED: PartCode = (k, n, root) => {
  const [k0, k1, k2, k3, k4, k5, k6, k7] = k;
  return (o, v, b) => {
    const obj = o ?? new root();
    obj[k0] = v[b];
    if (n > 1) obj[k1] = v[b + 1];
    if (n > 2) obj[k2] = v[b + 2];
    if (n > 3) obj[k3] = v[b + 3];
    if (n > 4) obj[k4] = v[b + 4];
    if (n > 5) obj[k5] = v[b + 5];
    if (n > 6) obj[k6] = v[b + 6];
    if (n > 7) obj[k7] = v[b + 7];
    return obj;
  };
};

// The key sequences that took lanes, for the life of the process (a lane
// given other keys would see more than one key per site): their lanes,
// one per part, and the constructor of their objects, whose hidden
// classes are one chain, which cannot fill. A shape built again (in a new
// tree) gets its lanes back.
const laneOwners = new Map<string, { lanes: number[]; root: ObjectRoot }>();
let lanesTaken = 0;

/** Lanes there are, and lanes taken. */
export const lanes = {
  count: LANES.length,
  get taken(): number {
    return lanesTaken;
  },
};

/**
 * The builder of objects of `keys`, with lanes (taken now if enough are
 * left), else with the shared part and objects of `root`; or null when
 * there is none: "__proto__" is left to the general path, which defines
 * it as JSON.parse does, and so is a repeated key, for clarity.
 */
export function buildMake(
  keys: readonly string[],
  root: ObjectRoot,
): Make | null {
  if (new Set(keys).size !== keys.length || keys.includes("__proto__")) {
    return null;
  }
  const owner = laneOwner(keys);
  const r = owner ? owner.root : root;
  const parts: Part[] = [];
  for (let i = 0; i * PART_KEYS < keys.length; i++) {
    const k = keys.slice(i * PART_KEYS, (i + 1) * PART_KEYS);
    parts.push((owner ? LANES[owner.lanes[i]] : SHARED)(k, k.length, r));
  }
  const [p0, p1, p2, p3] = parts;
  switch (parts.length) {
    case 1:
      return p0;
    case 2:
      return (_, v, b) => p1(p0(null, v, b), v, b + PART_KEYS);
    case 3:
      return (_, v, b) => {
        const o = p0(null, v, b);
        p1(o, v, b + PART_KEYS);
        return p2(o, v, b + 2 * PART_KEYS);
      };
    case 4:
      return (_, v, b) => {
        const o = p0(null, v, b);
        p1(o, v, b + PART_KEYS);
        p2(o, v, b + 2 * PART_KEYS);
        return p3(o, v, b + 3 * PART_KEYS);
      };
  }
  return (_, v, b) => {
    const o = p0(null, v, b);
    for (let i = 1; i < parts.length; i++) parts[i](o, v, b + i * PART_KEYS);
    return o;
  };
}

// The lanes of `keys` (taken by a shape of the same keys in an earlier
// tree, or now, if enough are left), or null. Keys of shapes are printable
// ASCII: "\0" joins them unambiguously.
function laneOwner(
  keys: readonly string[],
): { lanes: number[]; root: ObjectRoot } | null {
  const id = keys.join("\0");
  let owner = laneOwners.get(id);
  const need = Math.ceil(keys.length / PART_KEYS);
  if (owner === undefined && lanesTaken + need <= LANES.length) {
    const taken = Array.from({ length: need }, (_, i) => lanesTaken + i);
    owner = { lanes: taken, root: newRoot() };
    laneOwners.set(id, owner);
    lanesTaken += need;
  }
  return owner ?? null;
}
