import { abortError } from "./retry.ts";

type Waiter = { resolve: (nonce: string | null) => void; reject: (err: unknown) => void };

/**
 * Replay nonces (RFC 8555 §6.5), spent so that no request is made just for a nonce when one is
 * coming: every response's `Replay-Nonce` refills the pool, and a caller that finds the pool empty
 * while signed requests are in flight waits for their nonces instead of sending `HEAD newNonce`.
 * Only when nothing in flight can deliver one does a caller fetch a fresh nonce itself. Concurrent
 * signed requests are therefore paced by the nonces the CA hands out — one HEAD per session.
 */
export class NoncePool {
  private readonly pool: string[] = [];
  private readonly waiters: Waiter[] = [];
  private inFlight = 0;
  private readonly maxSize: number;

  constructor(
    private readonly fetchNonce: (signal?: AbortSignal) => Promise<string>,
    options: { maxSize?: number } = {},
  ) {
    this.maxSize = options.maxSize ?? 32;
  }

  /** Takes a nonce for one signed request; pair every call with exactly one {@link release}. */
  async acquire(signal?: AbortSignal): Promise<string> {
    const pooled = this.pool.pop();
    if (pooled !== undefined) {
      this.inFlight++;
      return pooled;
    }
    if (this.inFlight > 0) {
      const handed = await this.wait(signal);
      if (handed !== null) {
        this.inFlight++;
        return handed;
      }
    }
    this.inFlight++;
    try {
      return await this.fetchNonce(signal);
    } catch (err) {
      this.release(null);
      throw err;
    }
  }

  /** Returns a request's slot, with the `Replay-Nonce` its response carried (or null). */
  release(nonce: string | null): void {
    this.inFlight--;
    if (nonce) this.add(nonce);
    else if (this.inFlight === 0 && this.waiters.length > 0) {
      // Nothing in flight can deliver a nonce any more: let one waiter fetch its own.
      this.waiters.shift()!.resolve(null);
    }
  }

  /** Adds a nonce seen outside a signed request (e.g. from HEAD newNonce or a GET). */
  add(nonce: string): void {
    const waiter = this.waiters.shift();
    if (waiter) return waiter.resolve(nonce);
    this.pool.push(nonce);
    if (this.pool.length > this.maxSize) this.pool.shift();
  }

  /** Drops every pooled nonce (e.g. after the directory changed). */
  clear(): void {
    this.pool.length = 0;
  }

  private wait(signal?: AbortSignal): Promise<string | null> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const waiter: Waiter = {
        resolve: (nonce) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(nonce);
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortError(signal!));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }
}
