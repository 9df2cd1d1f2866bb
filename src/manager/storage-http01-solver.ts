import type { ChallengeContext, Solver } from "../acme/solver.ts";
import type { AcmeChallenge } from "../acme/types.ts";
import type { Fence, Storage } from "../storage/storage.ts";
import { keys } from "./storage-keys.ts";

/**
 * An http-01 solver whose live tokens are kept in the manager's storage, so every instance sharing it
 * can answer the CA (which validates from several places). Use a strongly consistent storage for
 * tokens (memory, files, a Durable Object) — not KV, whose writes take time to reach other locations.
 */
export class StorageHttp01Solver implements Solver {
  /**
   * A solver whose tokens live in `storage`.
   * @param storage Where tokens are written (shared with whoever answers http-01).
   */
  constructor(private readonly storage: Storage) {}

  async present(challenge: AcmeChallenge, ctx: ChallengeContext): Promise<void> {
    await this.storage.put(keys.httpToken(challenge.token), ctx.keyAuthorization);
  }

  async cleanup(challenge: AcmeChallenge): Promise<void> {
    await this.storage.delete(keys.httpToken(challenge.token));
  }

  /**
   * This solver for an order the manager records (its order intent): every token write is fenced by
   * `fence` (the certificate lock the order runs under), and `beforePresent` is called with each token
   * before it is written, so the intent lists it first. Its cleanup removes nothing: the tokens go with
   * the intent, when the order is done or abandoned. An issuance that stops early — it lost its lease,
   * or failed in a way a rerun resumes — may leave the CA validating what it answered, and the rerun
   * that continues the order needs the token still published (RFC 8555 §8.3): removed at cleanup, the
   * authorization would fail and the order be lost.
   */
  fenced(fence: Fence, beforePresent: (token: string) => Promise<void>): Solver {
    const when = { fence: { name: fence.name, token: fence.token } };
    return {
      present: async (challenge, ctx) => {
        await beforePresent(challenge.token);
        await this.storage.put(keys.httpToken(challenge.token), ctx.keyAuthorization, when);
      },
      cleanup: async () => undefined,
    };
  }

  /** Whether this solver keeps its tokens in `storage`. */
  uses(storage: Storage): boolean {
    return this.storage === storage;
  }

  /** The key authorization for a token, or undefined. Tokens are base64url (RFC 8555 §8.1). */
  async response(token: string): Promise<string | undefined> {
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(token)) return undefined;
    const value = await this.storage.get(keys.httpToken(token));
    return value === undefined ? undefined : new TextDecoder().decode(value);
  }
}
