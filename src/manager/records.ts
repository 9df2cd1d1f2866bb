import type { AcmeIdentifier } from "../acme/types.ts";

/** A stored ACME account: one per CA and contact email. */
export interface AccountRecord {
  /** The CA's directory URL. */
  directoryUrl: string;
  /** The account URL (`kid`). */
  url: string;
  /** PKCS#8 PEM of the account key. */
  keyPem: string;
  /** The contact email it was created with. */
  email?: string;
  /** When it was created (ISO 8601). */
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
  /** Epoch ms of the earliest next attempt after a failure. */
  nextAttemptAt?: number;
  /** The last failure's message. */
  lastError?: string;
}

/**
 * The manager's one failure state for a certificate: how many attempts in a row failed, the last
 * error, and the earliest next attempt (exponential backoff, never sooner than the CA's
 * `Retry-After`). Every view — events, `ManagedCertificate.failure`, a scheduler's index — should show this.
 */
export interface RenewalFailure {
  /** Failed attempts in a row. */
  failures: number;
  /** The last error. */
  lastError: string;
  /** Epoch ms. */
  nextAttemptAt: number;
}

/**
 * A certificate with its key and metadata. Written in one `put`, so a reader never sees a chain
 * without its key.
 */
export interface CertificateRecord {
  /** The certificate's id. */
  id: string;
  /** What it covers. */
  identifiers: AcmeIdentifier[];
  /** The CA that issued it. */
  directoryUrl: string;
  /** Leaf first, PEM. */
  chainPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  /** Serial number, hex. */
  serialNumber: string;
  /** The issuer's distinguished name. */
  issuer: string;
  /** Start of validity (ISO 8601). */
  notBefore: string;
  /** End of validity (ISO 8601). */
  notAfter: string;
  /** ARI id of this certificate, for `replaces` on renewal. */
  ariId?: string;
  /** The profile asked for this certificate (draft-ietf-acme-profiles), asked for again on renewal. */
  profile?: string;
  /** The order it came from. */
  orderUrl: string;
  /** When it was stored (ISO 8601). */
  issuedAt: string;
  /** Renewal bookkeeping. */
  renewal: RenewalState;
}

/**
 * An order in flight, recorded before newOrder (intent) and updated with the order URL as soon as it is
 * known, so a crashed run can resume it instead of ordering again.
 */
export interface PendingOrderRecord {
  /** The certificate id it is for. */
  id: string;
  /** What it orders. */
  identifiers: AcmeIdentifier[];
  /** The CA. */
  directoryUrl: string;
  /** The account that orders. */
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
  /** When the intent was recorded (ISO 8601). */
  createdAt: string;
}

/** One name's entry in the name → certificates index: every stored certificate listing exactly that name. */
export interface NameIndexRecord {
  /** Certificate ids, sorted (may name one whose record is already gone: readers skip it). */
  ids?: string[];
  /** The only id of an entry written before issue 23; kept (the last of `ids`) for processes still reading it. */
  id?: string;
}
