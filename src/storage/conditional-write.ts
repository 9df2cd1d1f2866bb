import { EdgecertError } from "../errors.ts";
import type { WriteConditions } from "./storage.ts";
import { assertValidKey } from "./keys.ts";

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
