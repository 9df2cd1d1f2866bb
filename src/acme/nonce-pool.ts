import { abortError } from "./retry.ts";

type Waiter = { resolve: (nonce: string | null) => void; reject: (err: unknown) => void; signal: AbortSignal | undefined };

/**
 * Replay nonces (RFC 8555 §6.5), spent so that no request is made just for a nonce when one is
 * coming: every response's `Replay-Nonce` refills the pool, and a caller that finds the pool empty
 * while signed requests (or nonce fetches) are in flight waits for their nonces instead of sending
 * a newNonce request. Only when nothing in flight can deliver one does a caller fetch a fresh nonce
 * itself. Concurrent signed requests are therefore paced by the nonces in circulation: one per session
 * unless {@link reserve} adds more (what a client does when the CA is far away).
 */
export class NoncePool {
  private readonly pool: string[] = [];
  private readonly waiters: Waiter[] = [];
  /**
   * One abort listener per caller's signal, however many of its requests wait: an issuance's lanes
   * share one signal, and Node warns (MaxListenersExceededWarning) past 10 listeners on it.
   */
  private readonly watched = new Map<AbortSignal, { onAbort: () => void; waiting: number }>();
  /** Signed requests holding a nonce. */
  private inFlight = 0;
  /** Nonce fetches under way (a caller's own, or reserved ones). */
  private fetching = 0;
  private readonly maxSize: number;

  constructor(
    private readonly fetchNonce: (signal?: AbortSignal) => Promise<string>,
    options: { maxSize?: number } = {},
  ) {
    this.maxSize = options.maxSize ?? 64;
  }

  /** Nonces pooled, held by requests in flight, or being fetched: what can pace concurrent requests. */
  get circulating(): number {
    return this.pool.length + this.inFlight + this.fetching;
  }

  /** Takes a nonce for one signed request; pair every call with exactly one {@link release}. */
  async acquire(signal?: AbortSignal): Promise<string> {
    const pooled = this.pool.pop();
    if (pooled !== undefined) {
      this.inFlight++;
      return pooled;
    }
    if (this.inFlight + this.fetching > 0) {
      const handed = await this.wait(signal);
      if (handed !== null) {
        this.inFlight++;
        return handed;
      }
    }
    this.fetching++;
    try {
      const nonce = await this.fetchNonce(signal);
      this.inFlight++;
      return nonce;
    } finally {
      this.fetching--;
      this.wakeIfStarved();
    }
  }

  /** Returns a request's slot, with the `Replay-Nonce` its response carried (or null). */
  release(nonce: string | null): void {
    this.inFlight--;
    if (nonce) this.add(nonce);
    else this.wakeIfStarved();
  }

  /** Adds a nonce seen outside a signed request (e.g. from a newNonce request or a GET). */
  add(nonce: string): void {
    const waiter = this.waiters.shift();
    if (waiter) return waiter.resolve(nonce);
    this.pool.push(nonce);
    if (this.pool.length > this.maxSize) this.pool.shift();
  }

  /**
   * Brings the nonces in circulation up to `count` with `fetchOnce` (one newNonce request each, all at
   * once). Fetched nonces go to waiting callers or the pool; a failed fetch is dropped (a caller that
   * then finds nothing in flight fetches its own). Returns how many fetches were started and a promise
   * that settles when they did.
   */
  reserve(count: number, fetchOnce: () => Promise<string | null>): { started: number; settled: Promise<void> } {
    const missing = Math.max(0, count - this.circulating);
    const fetches: Promise<void>[] = [];
    for (let i = 0; i < missing; i++) {
      this.fetching++;
      fetches.push(
        fetchOnce()
          .then(
            (nonce) => {
              if (nonce) this.add(nonce);
            },
            () => undefined,
          )
          .finally(() => {
            this.fetching--;
            this.wakeIfStarved();
          }),
      );
    }
    return { started: missing, settled: Promise.all(fetches).then(() => undefined) };
  }

  /** Drops every pooled nonce (e.g. after the directory changed). */
  clear(): void {
    this.pool.length = 0;
  }

  /** Nothing in flight can deliver a nonce any more: let one waiter fetch its own. */
  private wakeIfStarved(): void {
    if (this.inFlight + this.fetching === 0 && this.pool.length === 0 && this.waiters.length > 0) {
      this.waiters.shift()!.resolve(null);
    }
  }

  private wait(signal?: AbortSignal): Promise<string | null> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const waiter: Waiter = {
        resolve: (nonce) => {
          this.unwatch(signal);
          resolve(nonce);
        },
        reject,
        signal,
      };
      if (signal) this.watch(signal);
      this.waiters.push(waiter);
    });
  }

  private watch(signal: AbortSignal): void {
    const entry = this.watched.get(signal);
    if (entry) {
      entry.waiting++;
      return;
    }
    const onAbort = () => {
      this.watched.delete(signal);
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const waiter = this.waiters[i]!;
        if (waiter.signal !== signal) continue;
        this.waiters.splice(i, 1);
        waiter.reject(abortError(signal));
      }
    };
    signal.addEventListener("abort", onAbort, { once: true });
    this.watched.set(signal, { onAbort, waiting: 1 });
  }

  private unwatch(signal: AbortSignal | undefined): void {
    const entry = signal && this.watched.get(signal);
    if (!entry || --entry.waiting > 0) return;
    signal.removeEventListener("abort", entry.onAbort);
    this.watched.delete(signal);
  }
}
