/**
 * The certificate manager: what to issue and renew, when, under which lock; resumable orders.
 * @module
 */
export { CertificateManager, type CertificateManagerOptions, type RenewDueResult } from "./certificate-manager.ts";
export type { IssuerOptions } from "./accounts.ts";
export type { BudgetQueue } from "./ca-budgets.ts";
export { isOlderCertificate } from "./certificate-store.ts";
export type { ManagerEvent, ManagerEventType } from "./events.ts";
export { hostAllowList, type HostPolicy } from "./host-policy.ts";
export { DEFAULT_LOCK_TTL_MS, LEASE_SEND_MARGIN, heartbeatIntervalMs, type Sleep } from "./lock-runner.ts";
export { failureOf, type CertificateFailure, type ManagedCertificate } from "./managed-certificate.ts";
export { covers, lookupNames } from "./name-index.ts";
export type { OnDemandLimits } from "./on-demand-gate.ts";
export { pickServedCertificate, rankCovering, type ServingCandidate } from "./pick-served-certificate.ts";
export type { AccountRecord, CertificateRecord, PendingOrderRecord, RenewalFailure, RenewalState } from "./records.ts";
export {
  failureAfter,
  isDue,
  MAX_RENEW_BEFORE_FRACTION,
  nextAttemptAfterFailure,
  nextCheckAt,
  renewAtFromAri,
  renewAtFromLifetime,
  spreadRenewAt,
  RENEWAL_SPREAD_FRACTION,
  retryAfterOf,
  type RenewBefore,
} from "./renewal-schedule.ts";
export { StorageHttp01Solver } from "./storage-http01-solver.ts";

/** Storage key prefixes that hold private keys: wrap these with encryption at rest. */
export const SENSITIVE_PREFIXES = ["accounts/", "certificates/", "orders/"] as const;
