import { mapConcurrent } from "../concurrency.ts";
import { IssuanceError } from "../issuance-error.ts";
import type { AcmeProblem } from "../problem.ts";
import type { ChallengeContext, Solver } from "../solver.ts";
import type { AcmeAuthorization, AcmeChallenge, AcmeIdentifier, AcmeOrder } from "../types.ts";
import { DNS_PERSIST_01 } from "../dns-persist/rules.ts";
import { selectWithDnsPersist } from "../dns-persist/selection.ts";
import { allowedChallengeTypes, selectChallenge } from "./challenge-selection.ts";
import { runStep, type IssuanceContext } from "./context.ts";

/** One authorization still to validate, with the challenge chosen for it. */
export interface ChallengeTask {
  authz: AcmeAuthorization;
  /** The identifier as ordered: `*.name` for a wildcard authorization. */
  ordered: AcmeIdentifier;
  challenge: AcmeChallenge;
  solver: Solver;
  ctx: ChallengeContext;
  /** Known valid from a response, so the order need not be asked. */
  valid: boolean;
  /** The CA already said it failed. */
  failed?: AcmeProblem;
  /** When its accept was sent (for the progress event's duration). */
  acceptedAt?: number;
  /** When it was learned to be valid from its accept response. */
  validAt?: number;
  /** Its `authorization_valid` event was sent. */
  reported?: boolean;
}

/** What choosing challenges needs besides the authorizations. */
export interface ChallengePlan {
  solvers: Readonly<Record<string, Solver | undefined>>;
  solverTypes: readonly string[];
  preferred: readonly string[];
  /** Challenge types that already failed, by `type:value` of the ordered identifier. */
  avoid: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Map key of an identifier. */
export const identifierKey = (id: AcmeIdentifier): string => `${id.type}:${id.value}`;

/**
 * Reads every authorization of the order (RFC 8555 §7.5), up to `concurrency` at once (with nonces
 * reserved for that many when the CA is far).
 */
export function fetchAuthorizations(ctx: IssuanceContext, order: AcmeOrder): Promise<AcmeAuthorization[]> {
  return runStep(ctx, "authorizations", async () => {
    await ctx.client.reserveNonces(Math.min(ctx.concurrency, order.authorizations.length), { signal: ctx.signal });
    return mapConcurrent(order.authorizations, ctx.concurrency, (url) => ctx.client.getAuthorization(url, { signal: ctx.signal }));
  });
}

/**
 * One task per authorization that is not valid yet, each with the challenge to solve. Throws when an
 * authorization cannot be validated (not pending, or no solver for any offered type).
 */
export async function planChallenges(ctx: IssuanceContext, authzs: AcmeAuthorization[], plan: ChallengePlan): Promise<ChallengeTask[]> {
  const tasks: ChallengeTask[] = [];
  for (const authz of authzs) {
    const task = await planChallenge(ctx, authz, plan);
    if (task) tasks.push(task);
  }
  return tasks;
}

/**
 * The task for one authorization: undefined when it is valid already. Throws when it cannot be
 * validated (not pending, or no solver for any offered type).
 */
export async function planChallenge(ctx: IssuanceContext, authz: AcmeAuthorization, plan: ChallengePlan): Promise<ChallengeTask | undefined> {
  if (authz.status === "valid") return undefined;
  const identifier = authz.identifier;
  const ordered = authz.wildcard ? { ...identifier, value: `*.${identifier.value}` } : identifier;
  if (authz.status !== "pending") {
    throw new IssuanceError("authorizations", `authorization for ${identifier.value} is ${authz.status}`, { identifier });
  }
  const avoided = plan.avoid.get(identifierKey(ordered));
  const challenge = await selectWithDnsPersist({
    authorization: authz,
    allowed: allowedChallengeTypes(ordered, plan.solverTypes).includes(DNS_PERSIST_01) && !avoided?.has(DNS_PERSIST_01),
    solver: plan.solvers[DNS_PERSIST_01],
    ctx: { identifier, wildcard: authz.wildcard === true, authorization: authz, signal: ctx.signal, logger: ctx.logger },
    pick: (alsoAvoid) =>
      selectChallenge({
        authorization: authz,
        ordered,
        solverTypes: plan.solverTypes,
        preferred: plan.preferred,
        avoided: alsoAvoid ? new Set([...(avoided ?? []), alsoAvoid]) : avoided,
      }),
  });
  const solver = challenge ? plan.solvers[challenge.type] : undefined;
  if (!challenge || !solver) {
    const offered = authz.challenges.map((c) => c.type).join(", ");
    throw new IssuanceError("authorizations", `no usable solver for ${identifier.value} (offered: ${offered})`, {
      code: "challenge_failed",
      identifier,
    });
  }
  const context: ChallengeContext = {
    identifier,
    wildcard: authz.wildcard === true,
    authorization: authz,
    // dns-persist-01 has no token (draft-ietf-acme-dns-persist §3.1).
    keyAuthorization: challenge.token ? await ctx.client.keyAuthorization(challenge.token) : "",
    signal: ctx.signal,
    logger: ctx.logger,
  };
  return { authz, ordered, challenge, solver, ctx: context, valid: challenge.status === "valid" };
}
