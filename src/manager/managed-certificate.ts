import type { CertificateRecord, RenewalFailure } from "./records.ts";
import { failureOfState, nextCheckAt } from "./renewal-schedule.ts";

/** A certificate ready to serve. */
export interface ManagedCertificate {
  /** The certificate's id in storage. */
  id: string;
  /** The names it covers. */
  names: string[];
  /** Leaf first, PEM. */
  chainPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
  /** Serial number, hex. */
  serialNumber: string;
  /** The issuer's distinguished name. */
  issuer: string;
  /** CA directory URL that issued it. */
  directoryUrl: string;
  /** When it is due for renewal. */
  renewAt: Date;
  /**
   * When a scheduler should look at it again: its renewal time, or sooner to re-ask the CA's ARI
   * window — never before a failed renewal's backoff ends.
   */
  nextCheckAt: Date;
  /** Set while renewing it is failing: the manager's one failure state (it is still served meanwhile). */
  failure?: CertificateFailure;
}

/** {@link RenewalFailure} with dates, as {@link ManagedCertificate} and {@link failureOf} report it. */
export interface CertificateFailure {
  /** Failed attempts in a row. */
  failures: number;
  /** The last error. */
  lastError: string;
  /** The earliest next attempt. */
  nextAttemptAt: Date;
}

/** The dated view of a failure state. */
export function toCertificateFailure(failure: RenewalFailure): CertificateFailure {
  return { failures: failure.failures, lastError: failure.lastError, nextAttemptAt: new Date(failure.nextAttemptAt) };
}

/** The serving view of a stored record. */
export function toManaged(r: CertificateRecord): ManagedCertificate {
  const managed: ManagedCertificate = {
    id: r.id,
    names: r.identifiers.map((i) => i.value),
    chainPem: r.chainPem,
    keyPem: r.keyPem,
    notBefore: new Date(r.notBefore),
    notAfter: new Date(r.notAfter),
    serialNumber: r.serialNumber,
    issuer: r.issuer,
    directoryUrl: r.directoryUrl,
    renewAt: new Date(r.renewal.renewAt),
    nextCheckAt: new Date(nextCheckAt(r.renewal)),
  };
  const failure = failureOfState(r.renewal);
  if (failure) managed.failure = toCertificateFailure(failure);
  return managed;
}

const failures = new WeakMap<object, CertificateFailure>();

/** Attaches the manager's failure state to the error an attempt threw. */
export function attachFailure(error: unknown, failure: RenewalFailure): void {
  if (typeof error === "object" && error !== null) failures.set(error, toCertificateFailure(failure));
}

/**
 * The manager's failure state for an error thrown by `manage` / `maintain` / `renew` /
 * `getCertificate`: attempts failed in a row, the message, and the earliest next attempt (backoff and
 * the CA's `Retry-After`). A scheduler should not try again before `nextAttemptAt`.
 */
export function failureOf(error: unknown): CertificateFailure | undefined {
  return typeof error === "object" && error !== null ? failures.get(error) : undefined;
}
