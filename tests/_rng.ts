// A small seeded PRNG (mulberry32) so that every fuzz and load run can be
// replayed exactly from the seed it prints.

/** Deterministic pseudo-random numbers from a 32-bit seed. */
export class Rng {
  #state: number;
  /** The seed this generator started from. */
  readonly seed: number;

  /** @param seed Any 32-bit unsigned integer. */
  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** Next unsigned 32-bit integer. */
  u32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/**
 * Seed from the environment variable `name` (decimal or 0x-hex), else a
 * fresh random one. Needs `--allow-env` to honour the override.
 */
export function seedFromEnv(name: string): number {
  let text: string | undefined;
  try {
    text = Deno.env.get(name);
  } catch {
    // No env permission: use a fresh seed.
  }
  if (text) {
    const seed = Number(text);
    if (!Number.isInteger(seed)) throw new Error(`${name}=${text}: not a seed`);
    return seed >>> 0;
  }
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
