/**
 * Fleet-wide throttle of dashboard sign-ins: at most {@link MAX_SIGN_IN_ATTEMPTS} failed attempts per
 * {@link SIGN_IN_WINDOW_MS}, counted in one record of the Worker's strongly consistent storage (one
 * Durable Object), so every isolate and location shares the count. An attempt is counted *before* the
 * token is compared (compare-and-set on the record's version), so concurrent guesses cannot overrun the
 * limit; a right token clears the count. While the limit is reached every attempt, right or wrong, is
 * refused with the time left: a guess that would have been right proves nothing.
 * @module
 */
import { isEdgecertError } from "../../src/errors.ts";
import type { Storage } from "../../src/storage/storage.ts";

const KEY = "dashboard/sign-in-attempts";
/** Attempts not yet cleared by a right token that one window allows. */
export const MAX_SIGN_IN_ATTEMPTS = 10;
/** The window the attempts are counted in. */
export const SIGN_IN_WINDOW_MS = 15 * 60 * 1000;
const CAS_ATTEMPTS = 8;

interface Count {
  windowStart: number;
  attempts: number;
}

/** Sign-in attempts against the limit. */
export class SignInThrottle {
  constructor(private readonly storage: Storage) {}

  /**
   * Counts one attempt. Returns undefined when it may go ahead, or the seconds until the window ends
   * (for `Retry-After`) when the limit is reached. Contention beyond a few retries is itself a flood:
   * it is refused like one.
   */
  async attempt(now: number): Promise<number | undefined> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const entry = await this.storage.getEntry(KEY);
      const stored = entry ? (JSON.parse(new TextDecoder().decode(entry.value)) as Count) : undefined;
      const current = stored && now - stored.windowStart < SIGN_IN_WINDOW_MS && now >= stored.windowStart ? stored : { windowStart: now, attempts: 0 };
      const retryAfter = Math.max(1, Math.ceil((current.windowStart + SIGN_IN_WINDOW_MS - now) / 1000));
      if (current.attempts >= MAX_SIGN_IN_ATTEMPTS) return retryAfter;
      try {
        await this.storage.put(KEY, JSON.stringify({ ...current, attempts: current.attempts + 1 }), { ifVersion: entry?.version ?? null });
        return undefined;
      } catch (err) {
        if (!isEdgecertError(err, "conflict")) throw err;
      }
    }
    return Math.ceil(SIGN_IN_WINDOW_MS / 1000);
  }

  /** A right token: the attempts counted so far were the operator's, not a guesser's. */
  async clear(): Promise<void> {
    await this.storage.delete(KEY);
  }
}
