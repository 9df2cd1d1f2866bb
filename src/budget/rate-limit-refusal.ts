import { AcmeProblem, isRateLimited } from "../acme/problem.ts";
import type { BucketKind } from "./fleet-budget.ts";

/** Which of the budget's buckets a CA's rate-limit refusal speaks of, and for how long. */
export interface RateLimitRefusal {
  /** The bucket kind the refusal speaks of. */
  readonly kind: BucketKind;
  /** For a per-domain refusal, the registered domain the CA named, when it named one. */
  readonly domain?: string;
  /** The CA's `Retry-After` (RFC 8555 §6.6), in ms, when it sent one. */
  readonly retryAfterMs?: number;
  /**
   * The refusal is for a limit the budget keeps no bucket of, and pauses `kind`'s bucket in its place
   * without emptying it: Let's Encrypt's Authorization Failures per Identifier per Account (5 an
   * hour) says nothing of the name set's certificates (5 a week), which an emptied bucket would then
   * hold back for days after the names' validation works again.
   */
  readonly pauseOnly?: true;
}

/**
 * Reads a refusal (`rateLimited`, RFC 8555 §6.7, or HTTP 429) as one of the budget's buckets, from the
 * problem's detail as Let's Encrypt words it (https://letsencrypt.org/docs/rate-limits/): "too many
 * new orders", "too many certificates … already issued for \"example.com\"", "… for this exact set of
 * identifiers", "too many failed authorizations". A detail it does not recognise is read as the
 * account's order limit: pausing the widest bucket never sends what the CA would refuse again.
 * Undefined when `error` is no rate-limit refusal, or is Let's Encrypt's refusal for a paused
 * identifier ("Your account is temporarily prevented from requesting certificates for …", sent as
 * rateLimited after 1,152 consecutive validation failures for a name): no bucket of the budget stands
 * for it — the CA refuses that name until someone unpauses it on its portal, whatever the budget
 * holds, and other names go as before — so it is left to that certificate's own failure backoff
 * rather than pausing (and draining) the account's order bucket for every other customer.
 */
export function rateLimitRefusalOf(error: unknown): RateLimitRefusal | undefined {
  let problem: AcmeProblem | undefined;
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof AcmeProblem && isRateLimited(e)) {
      problem = e;
      break;
    }
  }
  if (!problem) return undefined;
  const detail = problem.detail;
  if (/temporarily prevented from requesting certificates/i.test(detail)) return undefined;
  const retry = problem.retryAfterMs !== undefined ? { retryAfterMs: problem.retryAfterMs } : {};
  if (/exact set of (identifiers|domains|names)|duplicate certificate/i.test(detail)) return { kind: "nameset", ...retry };
  if (/failed authori[sz]ations/i.test(detail)) return { kind: "nameset", pauseOnly: true, ...retry };
  const domain = /certificates?\b.*\balready issued for "?([a-z0-9.*:-]+)"?/i.exec(detail);
  if (domain) return { kind: "domain", domain: domain[1]!.toLowerCase().replace(/^\*\./, ""), ...retry };
  if (/registered domain/i.test(detail)) return { kind: "domain", ...retry };
  return { kind: "orders", ...retry };
}
