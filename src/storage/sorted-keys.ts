import { compareKeys } from "./list-page.ts";

/** Keys per chunk before it splits: inserts move at most this many, lookups stay two binary searches. */
const CHUNK = 512;

/**
 * A set of keys kept in key order (UTF-16 code units, see `compareKeys`), for listing a page from
 * anywhere in O(log n + page) and adding or removing a key in O(log n + chunk): sorted chunks of at
 * most 2 × {@link CHUNK} keys. (Sorting every key for every page made a list cost O(n log n): the CA
 * budget's queue lists once per token, 100,000 orders deep.)
 */
export class SortedKeys {
  readonly #chunks: string[][] = [];

  /** Adds `key` (a no-op when present). */
  add(key: string): void {
    if (this.#chunks.length === 0) {
      this.#chunks.push([key]);
      return;
    }
    const c = this.#chunkFor(key);
    const chunk = this.#chunks[c]!;
    const i = lowerBound(chunk, key);
    if (chunk[i] === key) return;
    chunk.splice(i, 0, key);
    if (chunk.length > 2 * CHUNK) this.#chunks.splice(c + 1, 0, chunk.splice(CHUNK));
  }

  /** Removes `key` (a no-op when absent). */
  delete(key: string): void {
    if (this.#chunks.length === 0) return;
    const c = this.#chunkFor(key);
    const chunk = this.#chunks[c]!;
    const i = lowerBound(chunk, key);
    if (chunk[i] !== key) return;
    chunk.splice(i, 1);
    if (chunk.length === 0) this.#chunks.splice(c, 1);
  }

  /** The keys from the first one not below `from`, in order. */
  *from(from: string): Generator<string> {
    if (this.#chunks.length === 0) return;
    let c = this.#chunkFor(from);
    let i = lowerBound(this.#chunks[c]!, from);
    for (; c < this.#chunks.length; c++, i = 0) {
      const chunk = this.#chunks[c]!;
      for (; i < chunk.length; i++) yield chunk[i]!;
    }
  }

  /** The chunk `key` belongs in: the first whose last key is not below it, or the last chunk. */
  #chunkFor(key: string): number {
    let lo = 0;
    let hi = this.#chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const chunk = this.#chunks[mid]!;
      if (compareKeys(chunk[chunk.length - 1]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The index of the first element of sorted `a` not below `key`. */
function lowerBound(a: readonly string[], key: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeys(a[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
