import { EdgecertError } from "../errors.ts";
import type { Fence, WriteConditions } from "./storage.ts";
import { assertValidKey } from "./keys.ts";

/**
 * The checks every backend shares for {@link WriteConditions}: their shape, the local-clock check of
 * a fencing {@link Lease}, and the refusal errors. The backend-side check (is the lock still held
 * with this token, is the version still this one) stays in each backend, atomic with its write.
 */

/** Why a backend refused a conditional write. */
export type WriteRefusal = "conflict" | "lease_lost";

/**
 * The error for a write the backend refused. A lost lease wins over a version conflict when both
 * hold: the writer must stop, not re-read and retry.
 */
export function refusedWrite(reason: WriteRefusal, op: "put" | "delete", key: string, when: WriteConditions | undefined): EdgecertError {
  if (reason === "lease_lost") {
    const fence = when?.fence;
    return new EdgecertError("lease_lost", `${op} of "${key}" refused: lease on "${fence?.name}" (token ${fence?.token}) lapsed or was taken over`);
  }
  const wanted = when?.ifVersion === null ? "absent" : `at version ${String(when?.ifVersion)}`;
  return new EdgecertError("conflict", `${op} of "${key}" refused: the key is no longer ${wanted}`);
}

/** Checks the shape of `when`; `invalid_input` for a version that is not a string or null, or a malformed fence. */
export function checkConditions(when: WriteConditions | undefined): void {
  if (when === undefined) return;
  const v = when.ifVersion;
  if (v !== undefined && v !== null && (typeof v !== "string" || v.length === 0)) {
    throw new EdgecertError("invalid_input", `ifVersion must be a version string or null, got ${String(v)}`);
  }
  const f = when.fence;
  if (f !== undefined && (typeof f !== "object" || f === null || typeof f.name !== "string" || !Number.isSafeInteger(f.token) || f.token < 1)) {
    throw new EdgecertError("invalid_input", "fence must be { name, token } of a lease");
  }
  if (f !== undefined) assertValidKey(f.name, "fence lock name");
}

/**
 * Checks `when` ({@link checkConditions}) and, when the fence is a {@link Lease} (it has `expiresAt`),
 * refuses with `lease_lost` once the local clock is past its expiry: a caller never sends a write its
 * own clock already knows is late. The backend's check still decides.
 */
export function checkConditionsLocally(when: WriteConditions | undefined): void {
  checkConditions(when);
  const fence = when?.fence as (Fence & { readonly expiresAt?: unknown }) | undefined;
  if (fence && typeof fence.expiresAt === "number" && Date.now() >= fence.expiresAt) throw leaseLost(fence, "its lease expired by the local clock");
}

/** True when a key whose current version is `current` (undefined: absent) satisfies `ifVersion`. */
export function versionMatches(current: string | undefined, ifVersion: string | null | undefined): boolean {
  if (ifVersion === undefined) return true;
  if (ifVersion === null) return current === undefined;
  return current === ifVersion;
}

/** Throws `EdgecertError("conflict")` unless {@link versionMatches}. */
export function checkVersion(key: string, current: string | undefined, ifVersion: string | null | undefined): void {
  if (!versionMatches(current, ifVersion)) throw conflict(key, current, ifVersion);
}

/** The refusal of a write whose `ifVersion` did not hold. */
export function conflict(key: string, current: string | undefined, ifVersion: string | null | undefined): EdgecertError {
  const wanted = ifVersion === null ? "absent" : `at version ${JSON.stringify(ifVersion)}`;
  const found = current === undefined ? "it is absent" : `it is at version ${JSON.stringify(current)}`;
  return new EdgecertError("conflict", `write of ${JSON.stringify(key)} refused: expected it ${wanted}, but ${found}`);
}

/** The refusal of a write whose fence no longer holds its lock. */
export function leaseLost(fence: Fence, why = "the lease lapsed, was released or was taken over"): EdgecertError {
  return new EdgecertError("lease_lost", `write fenced by lock ${JSON.stringify(fence.name)} (token ${fence.token}) refused: ${why}`);
}
