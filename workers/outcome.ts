import { EdgecertError } from "../src/errors.ts";
import { ConfigError } from "./config.ts";

/**
 * Why a Worker operation failed, as a stable code the admin API maps to a status: the CA refused or
 * failed (`ca_error`, 502), the CA budget (CA_LIMITS) holds the order back and nothing was sent
 * (`budget_spent`, 429), the certificate has nothing to act on yet (`not_issued`, 409), storage holds
 * records the configured keys cannot open (`storage_key_mismatch`, 503), a variable is wrong
 * (`configuration_error`, 503).
 */
export type FailureCode = "ca_error" | "budget_spent" | "not_issued" | "storage_key_mismatch" | "configuration_error";

/** An operation's failure, as it crosses the Durable Object boundary (plain data, no class). */
export interface Failure {
  code: FailureCode;
  message: string;
}

/** Whether `err` is a sealed record that none of the configured keys opens. */
export function isKeyMismatch(err: unknown): boolean {
  return err instanceof EdgecertError && err.code === "storage" && /^encrypted value .* cannot be opened/.test(err.message);
}

/** The failure code for an error thrown by an ACME operation. */
export function failureOf(err: unknown): Failure {
  const message = (err instanceof Error ? err.message : String(err)).slice(0, 500);
  if (err instanceof ConfigError) return { code: "configuration_error", message };
  if (isKeyMismatch(err)) return { code: "storage_key_mismatch", message: keyMismatchMessage(message) };
  return { code: err instanceof EdgecertError && err.code === "budget_spent" ? "budget_spent" : "ca_error", message };
}

/** What to do about a record the keys cannot open. */
export function keyMismatchMessage(detail: string): string {
  if (/not a sealed value/.test(detail)) {
    return `${detail} — a record stored in clear is refused while encryption is on: if it was written before encryption was turned on, set STORAGE_ENCRYPTION_READ_CLEAR = "true" and POST /admin/storage/reseal until clearValuesRemaining is 0, then empty it again`;
  }
  return `${detail} — STORAGE_ENCRYPTION_KEY does not open what storage holds: after a rotation, set the old key as STORAGE_ENCRYPTION_KEY_PREVIOUS`;
}
