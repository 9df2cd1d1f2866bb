/**
 * Machine-readable reason carried by every {@link EdgecertError}.
 *
 * - `invalid_input`: a caller-supplied value is malformed (names, options, PEM text...).
 * - `invalid_identifier`: an ACME identifier (DNS name or IP address) is not acceptable.
 * - `unsupported_key`: the key type or algorithm is not supported (or not by this runtime).
 * - `malformed_pem` / `malformed_der`: encoded data could not be decoded.
 * - `bad_response`: the ACME server answered with something that is not valid protocol.
 * - `network`: the request failed in transport (connection reset, timeout, truncated body).
 * - `acme_problem`: the ACME server answered with a problem document (see `AcmeProblem`).
 * - `timeout`: a bounded wait or retry loop ran out.
 * - `aborted`: the caller's `AbortSignal` fired.
 * - `challenge_failed`: a challenge solver or validation failed.
 * - `storage`: a storage backend failed or a lock could not be acquired.
 * - `conflict`: a conditional write was refused because the record changed since it was read.
 * - `lease_lost`: a write fenced by a lease was refused because that lease lapsed or was taken over.
 * - `not_acme_directory`: the directory URL does not answer with an ACME directory (wrong path, a web
 *   page, JSON without `newNonce` / `newAccount` / `newOrder`).
 * - `tls_untrusted`: the CA's TLS certificate is not trusted by this runtime's `fetch` (private or test
 *   CA, expired certificate, wrong host name). Not retried.
 * - `invalid_contact`: an account contact is not one `mailto:` address (RFC 8555 §7.3).
 * - `terms_not_agreed`: the CA has terms of service and `termsOfServiceAgreed: true` was not given.
 * - `invalid_signature`: a received webhook's signature or timestamp does not verify (`verifyWebhook`).
 * - `budget_spent`: the CA's rate limits, kept as a fleet-wide budget, hold an order back longer than the
 *   caller waits; nothing was sent (see `BudgetSpentError.retryAfterMs`).
 * - `caa_forbidden`: a name's CAA records (RFC 8659 / RFC 8657) do not let this CA, account or validation
 *   method issue for it; found before any order was sent.
 */
export type EdgecertErrorCode =
  | "invalid_input"
  | "invalid_identifier"
  | "unsupported_key"
  | "malformed_pem"
  | "malformed_der"
  | "bad_response"
  | "network"
  | "acme_problem"
  | "timeout"
  | "aborted"
  | "challenge_failed"
  | "storage"
  | "conflict"
  | "lease_lost"
  | "not_acme_directory"
  | "tls_untrusted"
  | "invalid_contact"
  | "terms_not_agreed"
  | "invalid_signature"
  | "caa_forbidden"
  | "budget_spent";

/** Base class of every error edgecert throws on purpose. Check `code` rather than the message. */
export class EdgecertError extends Error {
  /** Why it failed; stable across releases, unlike the message. */
  readonly code: EdgecertErrorCode;
  /**
   * An error with a code and an actionable message.
   * @param code Why it failed.
   * @param message What failed and what to do about it.
   * @param options `cause`: the underlying error, when there is one.
   */
  constructor(code: EdgecertErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EdgecertError";
    this.code = code;
  }
}

/** True when `err` is an {@link EdgecertError}, optionally with the given code. */
export function isEdgecertError(err: unknown, code?: EdgecertErrorCode): err is EdgecertError {
  return err instanceof EdgecertError && (code === undefined || err.code === code);
}
