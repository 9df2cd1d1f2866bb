/**
 * A guard a caller hands the ACME client so that nothing changes state at the CA once the caller may
 * no longer act: the manager's lock runner supplies one that checks the holder's lease (invariant 9 in
 * the architecture notes). The acme layer only defines and calls it; it knows nothing of locks.
 * @module
 */
import { EdgecertError } from "../errors.ts";

/** The request a {@link SendGuard} is asked about. */
export interface GuardedRequest {
  /** Always `POST`: only signed requests with a payload change state at the CA (RFC 8555 §6.3). */
  readonly method: "POST";
  /** The resource the request is for (newOrder, a challenge, a finalize URL, ...). */
  readonly url: string;
}

/**
 * Called synchronously right before each state-changing request is handed to `fetch` — newAccount,
 * account update and deactivation, keyChange, newOrder, challenge accept, authorization deactivation,
 * finalize, revokeCert — and on every resend of one. Throwing keeps the request from being sent; the
 * call then rejects with a {@link SendRefusedError} carrying what was thrown, which is never retried
 * and never read as "may have reached the CA".
 *
 * Read-only requests (directory, newNonce, POST-as-GET) are not guarded: they change nothing.
 */
export type SendGuard = (request: GuardedRequest) => void;

/**
 * A state-changing request a {@link SendGuard} stopped: nothing was sent. Its code is the guard's
 * error's when that is an `EdgecertError` (the manager's is `lease_lost`), else `lease_lost`; the
 * guard's error is the `cause`.
 */
export class SendRefusedError extends EdgecertError {
  /**
   * The refusal of a request to `url`, carrying what the guard threw.
   * @param url The request that was not sent.
   * @param cause What the guard threw.
   */
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(cause instanceof EdgecertError ? cause.code : "lease_lost", `not sent: POST ${url}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "SendRefusedError";
  }
}

/** Runs `guard` for a POST to `url`; throws {@link SendRefusedError} when it refuses. */
export function checkSendGuard(guard: SendGuard | undefined, url: string): void {
  if (!guard) return;
  try {
    guard({ method: "POST", url });
  } catch (err) {
    throw new SendRefusedError(url, err);
  }
}
