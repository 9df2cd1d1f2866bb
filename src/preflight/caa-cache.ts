import { untilAborted } from "../abort.ts";
import type { CaaLookup } from "../dns/doh-query.ts";

/** Options for {@link CaaCache}. */
export interface CaaCacheOptions {
  /**
   * Shortest reuse of an answer, in ms: one with a smaller TTL (0 included) is kept this long.
   * Default 60 000 (one minute).
   */
  readonly minTtlMs?: number;
  /** Longest reuse of an answer, in ms, whatever its TTL. Default 3 600 000 (one hour). */
  readonly maxTtlMs?: number;
  /** Owner names kept at most; beyond it the least recently used is dropped. Default 10 000. */
  readonly maxEntries?: number;
  /** Clock (tests). Default `Date.now`. */
  readonly now?: () => number;
}

interface Entry {
  readonly answer: Promise<CaaLookup>;
  /** Epoch ms after which the answer is asked again; Infinity while the query is in flight. */
  expiresAt: number;
}

/** Default bounds of {@link CaaCache}. */
export const CAA_CACHE_DEFAULTS = { minTtlMs: 60_000, maxTtlMs: 3_600_000, maxEntries: 10_000 } as const;

/**
 * CAA answers per owner name, reused across orders for their DNS TTL, so names under one registered
 * domain climb the tree (RFC 8659 §3) once per TTL rather than once per order: 10,000 names under
 * `example.com` ask `example.com` and `com` once, not 10,000 times. A TTL is clamped into
 * [`minTtlMs`, `maxTtlMs`]; a negative answer (no records) is kept for its SOA's negative TTL (RFC
 * 2308 §5), and not at all without one; failed lookups (transport errors, RCODEs other than NOERROR and
 * NXDOMAIN) are never kept. Concurrent lookups of one owner share one query.
 *
 * The check is advisory — the CA looks CAA up itself, and may act on what it read for the TTL or 8
 * hours, whichever is greater (CA/Browser Forum Baseline Requirements §3.2.2.8) — and a refusal is
 * always confirmed with fresh lookups (`fresh`), so a cached answer can only let an order go on, never
 * refuse one after its records changed.
 */
export class CaaCache {
  readonly #entries = new Map<string, Entry>();
  readonly #minTtlMs: number;
  readonly #maxTtlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** Lookups answered from the cache, and those sent to the resolver. */
  readonly stats = { hits: 0, misses: 0 };

  /** An empty cache with `options`' bounds. */
  constructor(options: CaaCacheOptions = {}) {
    this.#minTtlMs = Math.max(0, options.minTtlMs ?? CAA_CACHE_DEFAULTS.minTtlMs);
    this.#maxTtlMs = Math.max(this.#minTtlMs, options.maxTtlMs ?? CAA_CACHE_DEFAULTS.maxTtlMs);
    this.#maxEntries = Math.max(1, Math.floor(options.maxEntries ?? CAA_CACHE_DEFAULTS.maxEntries));
    this.#now = options.now ?? Date.now;
  }

  /** Owner names held now (in flight included). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The answer for `owner`: a live cached one unless `fresh`, else `query()`'s (kept by the rules
   * above). `query` should not take the caller's signal, since other callers may share its answer:
   * `signal` ends only this caller's wait.
   */
  lookup(owner: string, query: () => Promise<CaaLookup>, options: { fresh?: boolean; signal?: AbortSignal } = {}): Promise<CaaLookup> {
    const now = this.#now();
    const hit = this.#entries.get(owner);
    let answer: Promise<CaaLookup>;
    if (hit && !options.fresh && hit.expiresAt > now) {
      this.stats.hits++;
      // Most recently used goes to the end: eviction takes from the front.
      this.#entries.delete(owner);
      this.#entries.set(owner, hit);
      answer = hit.answer;
    } else {
      this.stats.misses++;
      answer = this.#ask(owner, query);
    }
    return options.signal ? untilAborted(answer, options.signal) : answer;
  }

  #ask(owner: string, query: () => Promise<CaaLookup>): Promise<CaaLookup> {
    const answer = query();
    const entry: Entry = { answer, expiresAt: Infinity };
    this.#entries.delete(owner);
    this.#entries.set(owner, entry);
    while (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    const drop = () => {
      if (this.#entries.get(owner) === entry) this.#entries.delete(owner);
    };
    answer.then((lookup) => {
      const usable = (lookup.rcode === 0 || lookup.rcode === 3) && lookup.ttl !== undefined;
      if (!usable) return drop();
      entry.expiresAt = this.#now() + Math.min(this.#maxTtlMs, Math.max(this.#minTtlMs, lookup.ttl! * 1000));
    }, drop);
    return answer;
  }
}
