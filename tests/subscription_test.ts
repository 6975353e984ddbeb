import assert from "node:assert/strict";
import {
  InvalidQueryTypeError,
  matchesQueryType,
  Subscription,
} from "../common/event/mod.ts";
import type { EventType } from "../common/event/mod.ts";

interface SubscriptionVector {
  queryTypes: string[][];
  normalized: string[][];
  matches: [string[], boolean][];
  other: string[][];
  union: string[][];
  intersection: string[][];
  isdisjoint: boolean;
}

const VECTORS_URL = new URL(
  "../../shared/vectors/subscription.json",
  import.meta.url,
);

async function readVectors(): Promise<SubscriptionVector[] | null> {
  try {
    return JSON.parse(await Deno.readTextFile(VECTORS_URL));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function compareTypes(a: EventType, b: EventType): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return a.length - b.length;
}

function sorted(types: Iterable<EventType>): EventType[] {
  return [...types].map((t) => [...t]).sort(compareTypes);
}

const vectors = await readVectors();

if (vectors === null) {
  Deno.test({
    name: "subscription vectors absent (../shared/vectors missing)",
    ignore: true,
    fn() {},
  });
} else {
  Deno.test(`subscription vectors (${vectors.length} cases)`, async (t) => {
    assert.ok(vectors.length > 0);
    for (const [i, v] of vectors.entries()) {
      await t.step(`case ${i}: ${JSON.stringify(v.queryTypes)}`, () => {
        const sub = new Subscription(v.queryTypes);
        const other = new Subscription(v.other);
        assert.deepEqual(sorted(sub.getQueryTypes()), sorted(v.normalized));
        for (const [eventType, expected] of v.matches) {
          assert.equal(
            sub.matches(eventType),
            expected,
            `matches(${JSON.stringify(eventType)})`,
          );
          assert.equal(
            v.queryTypes.some((q) => matchesQueryType(eventType, q)),
            expected,
            `matchesQueryType(${JSON.stringify(eventType)})`,
          );
        }
        assert.deepEqual(
          sorted(sub.union(other).getQueryTypes()),
          sorted(v.union),
          "union",
        );
        assert.deepEqual(
          sorted(sub.intersection(other).getQueryTypes()),
          sorted(v.intersection),
          "intersection",
        );
        assert.equal(sub.isDisjoint(other), v.isdisjoint, "isdisjoint");
        assert.equal(other.isDisjoint(sub), v.isdisjoint, "isdisjoint swapped");
      });
    }
  });
}

Deno.test("a * before the last segment is an invalid query type", () => {
  for (const queryType of [["*", "a"], ["a", "*", "b"], ["*", "*"]]) {
    assert.throws(
      () => new Subscription([queryType]),
      (e: unknown) =>
        e instanceof InvalidQueryTypeError &&
        e.name === "InvalidQueryTypeError" && e.message.includes('"*"'),
    );
    assert.throws(
      () => matchesQueryType(["a", "b"], queryType),
      InvalidQueryTypeError,
    );
  }
  // The reference accepts this one because ["a", "*"] masks it; we do not.
  assert.throws(
    () => new Subscription([["a", "*"], ["a", "*", "b"]]),
    InvalidQueryTypeError,
  );
});

Deno.test("the empty query type matches only the empty event type", () => {
  const sub = new Subscription([[]]);
  assert.deepEqual(sub.getQueryTypes(), [[]]);
  assert.ok(sub.matches([]));
  assert.ok(!sub.matches(["a"]));
  assert.ok(matchesQueryType([], []));
  assert.ok(!matchesQueryType(["a"], []));
  assert.ok(matchesQueryType([], ["*"]));
  assert.ok(!new Subscription([]).matches([]));
  assert.deepEqual(new Subscription([]).getQueryTypes(), []);
});

Deno.test("getQueryTypes normalises in the reference's order", () => {
  const sub = new Subscription([
    ["b"],
    ["a"],
    ["?"],
    ["a", "*"],
    ["a", "c"],
    [],
  ]);
  // Order checked against hat-event 0.9.44 (C and Python implementations).
  assert.deepEqual(sub.getQueryTypes(), [[], ["b"], ["a", "*"], ["?"]]);
  assert.deepEqual(new Subscription([["*"], ["a"], []]).getQueryTypes(), [[
    "*",
  ]]);
});

Deno.test("matches: ? is one segment, * zero or more, literal ? and *", () => {
  const sub = new Subscription([["?"], ["a", "b"], ["c", "?", "*"]]);
  assert.ok(sub.matches(["x"]));
  assert.ok(sub.matches(["a", "b"]));
  assert.ok(!sub.matches(["x", "b"]));
  assert.ok(!sub.matches(["a", "c"]));
  assert.ok(!sub.matches(["a", "b", "c"]));
  assert.ok(sub.matches(["c", "d"]));
  assert.ok(sub.matches(["c", "d", "e", "f"]));
  assert.ok(!sub.matches([]));
  // Event segments "?" and "*" are plain text, matched by a query "?".
  assert.ok(sub.matches(["?"]));
  assert.ok(sub.matches(["*"]));
  assert.ok(!new Subscription([["a"]]).matches(["?"]));
  assert.ok(!new Subscription([["a"]]).matches(["*"]));
});

Deno.test("matches backtracks between a literal and ?", () => {
  const sub = new Subscription([["a", "b"], ["?", "c"], ["a", "?", "d"]]);
  assert.ok(sub.matches(["a", "b"]));
  assert.ok(sub.matches(["a", "c"]));
  assert.ok(sub.matches(["z", "c"]));
  assert.ok(sub.matches(["a", "q", "d"]));
  assert.ok(!sub.matches(["z", "b"]));
  assert.ok(!sub.matches(["a", "q"]));
});

Deno.test("matches agrees with matchesQueryType on pathological subscriptions", () => {
  // n query types with the literal at a different depth: determinising
  // needs 2^n states, so the matcher falls back to walking the trie.
  const n = 16;
  const queryTypes: string[][] = [];
  for (let i = 0; i < n; i++) {
    queryTypes.push(Array.from({ length: n }, (_, j) => j === i ? "a" : "?"));
    queryTypes.push(Array.from({ length: n }, (_, j) => j === i ? "b" : "?"));
  }
  const sub = new Subscription(queryTypes);
  const eventTypes = [
    Array(n).fill("x"),
    Array.from({ length: n }, (_, j) => j === 7 ? "b" : "x"),
    Array.from({ length: n }, (_, j) => j % 2 ? "a" : "x"),
    Array(n - 1).fill("a"),
  ];
  for (const eventType of eventTypes) {
    assert.equal(
      sub.matches(eventType),
      queryTypes.some((q) => matchesQueryType(eventType, q)),
    );
  }
});

Deno.test("union", () => {
  const a = new Subscription([["a", "b"], ["c"]]);
  const b = new Subscription([["a", "?"]]);
  const c = new Subscription([["c", "*"]]);
  assert.deepEqual(
    sorted(a.union(b, c).getQueryTypes()),
    sorted([["a", "b"], ["a", "?"], ["c", "*"]]),
  );
  assert.deepEqual(a.union().getQueryTypes(), a.getQueryTypes());
  assert.deepEqual(
    a.union(new Subscription([["*"]])).getQueryTypes(),
    [["*"]],
  );
});

Deno.test("intersection, including the reference's * quirk", () => {
  const a = new Subscription([["a", "?"], ["b", "*"]]);
  const b = new Subscription([["?", "x"], ["b", "c", "d"]]);
  assert.deepEqual(
    sorted(a.intersection(b).getQueryTypes()),
    sorted([["a", "x"], ["b", "x"], ["b", "c", "d"]]),
  );
  assert.deepEqual(
    sorted(a.intersection(b, new Subscription([["b", "?"]])).getQueryTypes()),
    [["b", "x"]],
  );
  assert.deepEqual(a.intersection().getQueryTypes(), a.getQueryTypes());
  // As in hat-event 0.9.44: "*" matches zero segments, yet [a, *] ∩ [a]
  // is empty while isDisjoint reports an overlap.
  const star = new Subscription([["a", "*"]]);
  const plain = new Subscription([["a"]]);
  assert.deepEqual(star.intersection(plain).getQueryTypes(), []);
  assert.ok(!star.isDisjoint(plain));
});

Deno.test("isDisjoint (and its deprecated alias isdisjoint)", () => {
  const cases: [EventType[], EventType[], boolean][] = [
    [[["a"]], [["b"]], true],
    [[["a"]], [["?"]], false],
    [[["a", "b"]], [["?", "c"]], true],
    [[["a", "b"]], [["?", "b"]], false],
    [[["*"]], [[]], false],
    [[["*"]], [], true],
    [[[]], [["a"]], true],
    [[["a", "*"]], [["a"]], false],
    [[["?", "?"]], [["a"]], true],
  ];
  for (const [x, y, expected] of cases) {
    const sx = new Subscription(x);
    const sy = new Subscription(y);
    assert.equal(sx.isDisjoint(sy), expected, `${JSON.stringify([x, y])}`);
    assert.equal(sy.isDisjoint(sx), expected, `${JSON.stringify([y, x])}`);
    // The Python name stays, deprecated, for now.
    assert.equal(sx.isdisjoint(sy), expected);
  }
  // Branches emptied by an intersection are dropped, as the reference's
  // default (C) implementation does.
  const empty = new Subscription([["a", "b"]]).intersection(
    new Subscription([["a", "c"]]),
  );
  assert.ok(empty.isDisjoint(new Subscription([["*"]])));
});
