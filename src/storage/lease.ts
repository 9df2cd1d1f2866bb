import { EdgecertError } from "../errors.ts";
import type { Lease } from "./storage.ts";
import { checkTtl } from "./lock-wait.ts";

/** What a backend does to keep or give up one lease it granted. */
export interface LeaseControl {
  /**
   * Extends the lease to `ttlMs` from now and returns the new expiry (epoch ms); throws
   * `EdgecertError("storage")` when the lease lapsed or was taken over.
   */
  renew(ttlMs: number): Promise<number>;
  /** Gives the lease up; a no-op when it lapsed or was taken over. */
  release(): Promise<void>;
}

/**
 * The {@link Lease} every backend hands out: checks the local clock before asking the backend, keeps
 * `expiresAt` current, and runs one renew/release at a time so a release never races a renew.
 */
export class HeldLease implements Lease {
  readonly name: string;
  readonly token: number;
  #expiresAt: number;
  readonly #ttlMs: number;
  readonly #control: LeaseControl;
  #released = false;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(name: string, token: number, expiresAt: number, ttlMs: number, control: LeaseControl) {
    this.name = name;
    this.token = token;
    this.#expiresAt = expiresAt;
    this.#ttlMs = ttlMs;
    this.#control = control;
  }

  get expiresAt(): number {
    return this.#expiresAt;
  }

  async renew(ttlMs: number = this.#ttlMs): Promise<void> {
    checkTtl(ttlMs);
    return await this.#serially(async () => {
      if (this.#released) throw new EdgecertError("storage", `lease on "${this.name}" was released`);
      // Past expiry another owner may already hold the name: a lapsed lease is lost, on every backend.
      if (Date.now() >= this.#expiresAt) throw lapsed(this.name, this.token);
      this.#expiresAt = await this.#control.renew(ttlMs);
    });
  }

  async release(): Promise<void> {
    return await this.#serially(async () => {
      if (this.#released) return;
      await this.#control.release();
      this.#released = true;
    });
  }

  #serially(fn: () => Promise<void>): Promise<void> {
    // `await` inside the callback: workerd reports a rejected promise handed to `then` as unhandled.
    const run = this.#queue.then(async () => await fn());
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** The error for renewing a lease that lapsed or was taken over. */
export function lapsed(name: string, token: number): EdgecertError {
  return new EdgecertError("storage", `lease on "${name}" (token ${token}) lapsed or was taken over`);
}
