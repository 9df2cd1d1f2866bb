/** What the manager reports through `onEvent`. */
export type ManagerEventType =
  | "certificate_obtaining"
  | "certificate_obtained"
  | "certificate_renewed"
  | "certificate_failed"
  | "certificate_revoked"
  | "certificate_queued"
  | "account_created";

/** One manager event. Never carries key material. */
export interface ManagerEvent {
  /** What happened. */
  type: ManagerEventType;
  /** The certificate's storage id (certificate events). */
  id?: string;
  /** The certificate's names (for certificate events). */
  names?: string[];
  /** The CA directory URL. */
  issuer?: string;
  /** Expiry of the new certificate (obtained / renewed). */
  notAfter?: Date;
  /** What went wrong (failed). */
  error?: unknown;
  /** When the next attempt may run (failed). */
  nextAttemptAt?: Date;
  /** When the new certificate should be renewed (obtained / renewed). */
  renewAt?: Date;
  /** Place in this process's queue for the CA's budget, 1 = next (queued). */
  position?: number;
  /** `certificate_queued`: a `renewal`, a `first` issuance, or a `retry` (a further newOrder of an issuance under way). */
  queuedAs?: "renewal" | "first" | "retry";
  /** When the queued order is expected to be sent: an estimate (queued). */
  estimatedAt?: Date;
  /** The CA limit's bucket that holds the order back, and until when (queued, when known). */
  blockedBy?: { kind: "orders" | "domain" | "nameset"; subject: string; retryAt: Date };
}
