/**
 * The certificate manager: what to issue and renew, when, under which lock; resumable orders.
 * @module
 */
export {
  CertificateManager,
  type CertificateManagerOptions,
  type IssuerOptions,
  type ManagedCertificate,
  type RenewDueResult,
} from "./certificate-manager.ts";
export type { ManagerEvent, ManagerEventType } from "./events.ts";
export { hostAllowList, type HostPolicy } from "./host-policy.ts";
export type { AccountRecord, CertificateRecord, PendingOrderRecord, RenewalState } from "./records.ts";
export { isDue, nextAttemptAfterFailure, renewAtFromAri, renewAtFromLifetime, type RenewBefore } from "./renewal-schedule.ts";
export { StorageHttp01Solver } from "./storage-http01-solver.ts";

/** Storage key prefixes that hold private keys: wrap these with encryption at rest. */
export const SENSITIVE_PREFIXES = ["accounts/", "certificates/", "orders/"] as const;
