/**
 * One certificate as the admin API shows it (`GET /admin/certificates`, `/admin/certificates/:id`,
 * the answers of POST add and renew): what `summary()` in app.ts builds from the renewal index. One
 * definition for the API, the dashboard that reads it, and the tests. Times are ISO 8601.
 * Imports nothing, so code outside the Worker (tests, under Node's types) can use it too.
 */
export interface CertificateSummary {
  id: string;
  names: string[];
  /** `pending` | `valid` | `failing` | `failed` (see IndexEntry.status). */
  status: string;
  notAfter: string | null;
  /** When the certificate next needs work (issue, renew, retry, or an ARI re-check). */
  nextWorkAt: string;
  failures: number;
  lastError: string | null;
  /** While failing: the earliest next attempt (the manager's backoff and the CA's Retry-After). */
  nextAttemptAt: string | null;
  profile: string | null;
  challenge: string | null;
  /** Issuer of the stored certificate (distinguished name); null before the first issuance, or for an entry last written before the index kept it. */
  issuer: string | null;
  /** While waiting for the CA's budget (CA_LIMITS): the bucket holding it back (`orders …`, `domain …`, `nameset …`); `nextWorkAt` is when it refills. */
  queuedFor: string | null;
}
