/**
 * A small, fast, seeded pseudo-random number generator shared across the package (random inputs,
 * random attention patterns). The generator is xoshiro128** (Blackman & Vigna), whose 128-bit
 * state is filled from the seed by splitmix32. Same seed, same sequence, on every platform.
 *
 * Not cryptographically secure.
 */
import { describeValue } from './describe.js';

const TWO32 = 4294967296;
const TWO53 = 9007199254740992;

/** splitmix32 step: advances `state` by the golden-ratio increment and returns [newState, output]. */
function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [state, z >>> 0];
}

/** murmur3's 32-bit finalizer: a bijective avalanche mix of a 32-bit integer. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Low and high 32-bit words of an integral number (two's complement for negatives). */
function words(x: number): [number, number] {
  if (!Number.isFinite(x)) x = 0;
  x = Math.trunc(x);
  const lo = x >>> 0; // ToUint32 is modulo 2^32, so this is the low word even for |x| ≥ 2^32
  const hi = Math.floor(x / TWO32) >>> 0;
  return [lo, hi];
}

/**
 * A seeded PRNG (xoshiro128** seeded through splitmix32).
 *
 * The seed may be any finite number; it is truncated to an integer and both its low and high
 * 32-bit words feed the state, so every safe integer gives its own stream.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | undefined;

  constructor(seed: number) {
    const [lo, hi] = words(seed);
    let st = lo ^ Math.imul(hi, 0x9e3779b1) ^ fmix32(hi);
    let out: number;
    [st, out] = splitmix32(st);
    this.s0 = out | 0;
    [st, out] = splitmix32(st);
    this.s1 = out | 0;
    [st, out] = splitmix32(st);
    this.s2 = out | 0;
    [st, out] = splitmix32(st);
    this.s3 = out | 0;
    // splitmix32 outputs are a bijection of distinct states, so all four cannot be zero, but be safe.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next uniformly distributed unsigned 32-bit integer in [0, 2^32). */
  nextU32(): number {
    const s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    // result = rotl(s1 * 5, 7) * 9
    const t5 = Math.imul(s1, 5);
    const result = Math.imul((t5 << 7) | (t5 >>> 25), 9);
    const t = s1 << 9;
    let n2 = s2 ^ s0;
    let n3 = s3 ^ s1;
    const n1 = s1 ^ n2;
    const n0 = s0 ^ n3;
    n2 ^= t;
    n3 = (n3 << 11) | (n3 >>> 21);
    this.s0 = n0;
    this.s1 = n1;
    this.s2 = n2;
    this.s3 = n3;
    return result >>> 0;
  }

  /** Next uniform double in [0, 1), with 53 random bits (uses two 32-bit draws). */
  next(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / TWO53;
  }

  /**
   * Next standard normal deviate (mean 0, variance 1), by the Box–Muller transform. Deviates are
   * produced in pairs; the second one of a pair is returned by the following call.
   */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u1 = 1 - this.next(); // (0, 1]: log is finite
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /**
   * Uniform integer in [0, n), without modulo bias (rejection sampling). `n` must be a positive
   * safe integer; up to 2^32 uses one 32-bit draw per attempt, beyond that 53-bit draws.
   */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new RangeError(`Rng.int: n must be a positive safe integer, got ${describeValue(n)}`);
    }
    if (n <= TWO32) {
      const limit = TWO32 - (TWO32 % n); // largest multiple of n not above 2^32
      for (;;) {
        const x = this.nextU32();
        if (x < limit) return x % n;
      }
    }
    const limit = TWO53 - (TWO53 % n);
    for (;;) {
      const x = this.next() * TWO53;
      if (x < limit) return x % n;
    }
  }
}

/**
 * Hashes a list of integers to an unsigned 32-bit value (murmur3-style mixing of each 32-bit word,
 * then the murmur3 finalizer). Meant for deterministic per-element draws such as
 * `new Rng(hashInts(seed, i))`. Inputs are truncated to integers; both 32-bit words of each value
 * are mixed, so values beyond 2^32 (and negative values) hash distinctly. Order matters.
 */
export function hashInts(...xs: number[]): number {
  let h = 0x6a09e667 ^ xs.length;
  const mixWord = (k: number): void => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  };
  for (const x of xs) {
    const [lo, hi] = words(x);
    mixWord(lo);
    mixWord(hi);
  }
  return fmix32(h ^ (xs.length * 8));
}
