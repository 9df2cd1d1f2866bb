/**
 * How challenge selection treats dns-persist-01: first when its persistent record is already in place,
 * never when it is not and another type can do (a failed validation costs rate limit).
 * @experimental draft-ietf-acme-dns-persist (revision: `DNS_PERSIST_DRAFT` in rules.ts).
 * @module
 */
import type { ChallengeContext, Solver } from "../solver.ts";
import type { AcmeAuthorization, AcmeChallenge } from "../types.ts";
import { DNS_PERSIST_01, parseDnsPersistChallenge } from "./rules.ts";
import type { DnsPersist01Solver } from "./solver.ts";

/** How challenge selection should treat dns-persist-01 for one authorization. @experimental */
export type DnsPersistPreference =
  /** Not offered, or offered malformed (ignored, §3.1), or no dns-persist-01 solver. */
  | "unavailable"
  /** The solver sees an acceptable record: pick dns-persist-01. */
  | "prefer"
  /** The record is not in place: pick another type when there is one. */
  | "avoid"
  /** The solver cannot tell (a custom solver): rank it like any other type. */
  | "neutral";

/**
 * Decides whether to prefer dns-persist-01 for `authz` (used by challenge selection). A malformed
 * dns-persist-01 challenge, or a failed record check, never breaks selection: it yields "unavailable" or
 * "avoid" and is logged.
 * @experimental
 */
export async function dnsPersistPreference(
  authz: AcmeAuthorization,
  solver: Solver | undefined,
  ctx: Omit<ChallengeContext, "keyAuthorization"> & { keyAuthorization?: string },
): Promise<DnsPersistPreference> {
  const challenge = authz.challenges.find((c) => c.type === DNS_PERSIST_01);
  if (!challenge || !solver) return "unavailable";
  const full: ChallengeContext = { ...ctx, keyAuthorization: ctx.keyAuthorization ?? "" };
  try {
    parseDnsPersistChallenge(challenge);
  } catch (err) {
    ctx.logger.log("warn", "dns_persist.malformed_challenge", { name: ctx.identifier.value, error: (err as Error).message });
    return "unavailable";
  }
  const probe = (solver as Partial<Pick<DnsPersist01Solver, "recordsInPlace">>).recordsInPlace;
  if (typeof probe !== "function") return "neutral";
  try {
    return (await probe.call(solver, challenge, full)) ? "prefer" : "avoid";
  } catch (err) {
    ctx.logger.log("warn", "dns_persist.check_failed", { name: ctx.identifier.value, error: (err as Error).message });
    return "avoid";
  }
}

/** What {@link selectWithDnsPersist} needs from the generic challenge selection. @experimental */
export interface DnsPersistSelectionInput {
  /** The authorization to choose a challenge for. */
  authorization: AcmeAuthorization;
  /** Whether dns-persist-01 may be used for this identifier (a solver exists, not avoided, not an IP). */
  allowed: boolean;
  /** The dns-persist-01 solver, if any. */
  solver: Solver | undefined;
  /** The generic selection, optionally with one more type to avoid. */
  pick: (alsoAvoid?: string) => AcmeChallenge | undefined;
  /** Identifier, signal and logger for the record check. */
  ctx: Omit<ChallengeContext, "keyAuthorization">;
}

/**
 * The challenge to solve for one authorization, dns-persist-01 aware: dns-persist-01 when its record is
 * in place; otherwise the generic choice without it; dns-persist-01 anyway when nothing else is usable
 * (its solver then names the record to create before anything is sent to the CA).
 * @experimental
 */
export async function selectWithDnsPersist(input: DnsPersistSelectionInput): Promise<AcmeChallenge | undefined> {
  const offered = input.authorization.challenges.find((c) => c.type === DNS_PERSIST_01);
  if (!offered || !input.allowed) return input.pick(DNS_PERSIST_01);
  const preference = await dnsPersistPreference(input.authorization, input.solver, input.ctx);
  if (preference === "prefer") return offered;
  if (preference === "neutral") return input.pick();
  return input.pick(DNS_PERSIST_01) ?? (preference === "avoid" ? offered : undefined);
}
