import { dns01RecordName, dns01TxtValue } from "../challenge-helpers.ts";
import type { ChallengeContext, Solver } from "../solver.ts";
import type { AcmeChallenge } from "../types.ts";

/** Callbacks a dns-01 solver is built from; `name` is the full record name, e.g. `_acme-challenge.example.com`. */
export interface Dns01Callbacks {
  /** Publishes a TXT `value` at `name` (add it beside others: a wildcard and its base share the name). */
  setTxt(name: string, value: string, ctx: ChallengeContext): Promise<void>;
  /** Removes that one TXT `value` at `name`. */
  removeTxt(name: string, value: string, ctx: ChallengeContext): Promise<void>;
  /** Optionally wait until the record is visible to the CA (propagation). */
  waitTxt?(name: string, value: string, ctx: ChallengeContext): Promise<void>;
}

/**
 * A dns-01 solver (RFC 8555 §8.4) from two callbacks. A wildcard and its base name share one record
 * name with two values, so callbacks must add and remove single values, not replace the record set.
 */
export function dns01Solver(callbacks: Dns01Callbacks): Solver {
  const record = async (challenge: AcmeChallenge, ctx: ChallengeContext) => ({
    name: dns01RecordName(ctx.identifier.value),
    value: await dns01TxtValue(ctx.keyAuthorization),
  });
  const solver: Solver = {
    async present(challenge, ctx) {
      const { name, value } = await record(challenge, ctx);
      await callbacks.setTxt(name, value, ctx);
    },
    async cleanup(challenge, ctx) {
      const { name, value } = await record(challenge, ctx);
      await callbacks.removeTxt(name, value, ctx);
    },
  };
  if (callbacks.waitTxt) {
    const waitTxt = callbacks.waitTxt;
    solver.wait = async (challenge, ctx) => {
      const { name, value } = await record(challenge, ctx);
      await waitTxt(name, value, ctx);
    };
  }
  return solver;
}
