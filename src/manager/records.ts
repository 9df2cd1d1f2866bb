import type { AcmeIdentifier } from "../acme/types.ts";

/** A stored ACME account: one per CA and contact email. */
export interface AccountRecord {
  directoryUrl: string;
  url: string;
  /** PKCS#8 PEM of the account key. */
  keyPem: string;
  email?: string;
  createdAt: string;
}

/** Renewal bookkeeping kept with a certificate. */
export interface RenewalState {
  /** When to renew (epoch ms): inside the ARI window, or at 2/3 of the lifetime. */
  renewAt: number;
  /** The CA's ARI window, when it offers one (RFC 9773). */
  ariWindow?: { start: number; end: number };
  /** When to ask the CA for renewal info again (Retry-After). */
  ariCheckAt?: number;
  /** Consecutive failed attempts, and when the next one may run (the one failure state: see {@link RenewalFailure}). */
  failures: number;
  nextAttemptAt?: number;
  lastError?: string;
}

/**
 * The manager's one failure state for a certificate: how many attempts in a row failed, the last
 * error, and the earliest next attempt (exponential backoff, never sooner than the CA's
 * `Retry-After`). Every view — events, `ManagedCertificate.failure`, a scheduler's index — should show this.
 */
export interface RenewalFailure {
  failures: number;
  lastError: string;
  /** Epoch ms. */
  nextAttemptAt: number;
}

/**
 * A certificate with its key and metadata. Written in one `put`, so a reader never sees a chain
 * without its key.
 */
export interface CertificateRecord {
  id: string;
  identifiers: AcmeIdentifier[];
  directoryUrl: string;
  /** Leaf first, PEM. */
  chainPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  serialNumber: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** ARI id of this certificate, for `replaces` on renewal. */
  ariId?: string;
  /** The profile asked for this certificate (draft-ietf-acme-profiles), asked for again on renewal. */
  profile?: string;
  orderUrl: string;
  issuedAt: string;
  renewal: RenewalState;
}

/**
 * An order in flight, recorded before newOrder (intent) and updated with the order URL as soon as it is
 * known, so a crashed run can resume it instead of ordering again.
 */
export interface PendingOrderRecord {
  id: string;
  identifiers: AcmeIdentifier[];
  directoryUrl: string;
  accountUrl: string;
  /** The certificate key the CSR will be made from (PKCS#8 PEM). */
  keyPem: string;
  /** Set once newOrder answered. */
  orderUrl?: string;
  /**
   * http-01 tokens this order put in storage, recorded before each is presented, so a run that
   * resumes or abandons the order (after a crash) can remove them.
   */
  tokens?: string[];
  createdAt: string;
}

/** Names a certificate covers, for the name → certificate index. */
export interface NameIndexRecord {
  id: string;
}
