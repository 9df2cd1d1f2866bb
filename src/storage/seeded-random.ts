/**
 * mulberry32: a tiny, fast, deterministic PRNG returning numbers in [0, 1), so that randomized tests
 * (the storage conformance's seeded cases, fault injection, fuzzing) reproduce from a seed.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
