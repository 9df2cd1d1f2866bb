/** Statuses of ACME objects (RFC 8555 §7.1.6). */
export type AcmeStatus =
  | "pending"
  | "ready"
  | "processing"
  | "valid"
  | "invalid"
  | "deactivated"
  | "expired"
  | "revoked";

/** An identifier in an order or authorization: a DNS name (RFC 8555 §9.7.7) or an IP address (RFC 8738). */
export interface AcmeIdentifier {
  /**  "ip";|`dns` (RFC 8555) or `ip` (RFC 8738). */
  type: "dns" | "ip";
  /** The DNS name (A-labels) or IP address. */
  value: string;
}

/** The directory object (RFC 8555 §7.1.1), with ARI (RFC 9773) and profiles. */
export interface AcmeDirectory {
  /** URL for `HEAD newNonce`. */
  newNonce: string;
  /** URL to create or find an account. */
  newAccount: string;
  /** URL to create an order. */
  newOrder: string;
  /** URL for pre-authorization, when the CA offers it. */
  newAuthz?: string;
  /** URL to revoke a certificate. */
  revokeCert: string;
  /** URL to roll the account key over. */
  keyChange: string;
  /** ARI endpoint (RFC 9773 §4). */
  renewalInfo?: string;
  /** Metadata: terms of service, website, CAA identities, EAB requirement, profiles. */
  meta?: {
    termsOfService?: string;
    website?: string;
    caaIdentities?: string[];
    externalAccountRequired?: boolean;
    /** Profile name → description (draft-ietf-acme-profiles). */
    profiles?: Record<string, string>;
  };
}

/** An account object (RFC 8555 §7.1.2) plus its URL. */
export interface AcmeAccount {
  /** The account URL (`kid`). */
  url: string;
  /**  "deactivated" | "revoked";|The account's status. */
  status: "valid" | "deactivated" | "revoked";
  /** Its contact URLs. */
  contact?: string[];
  /** Whether the terms were agreed to. */
  termsOfServiceAgreed?: boolean;
  /** URL of its orders list (RFC 8555 §7.1.2.1). */
  orders?: string;
  /** The EAB the account was bound with, as the CA returns it. */
  externalAccountBinding?: unknown;
}

/** A problem as embedded in ACME objects (RFC 8555 §6.7, RFC 7807). */
export interface AcmeProblemDocument {
  /** The problem type URN. */
  type?: string;
  /** A short summary. */
  title?: string;
  /** The human-readable detail. */
  detail?: string;
  /** The HTTP status. */
  status?: number;
  /** A URL about this occurrence. */
  instance?: string;
  /** Per-identifier problems (RFC 8555 §6.7.1). */
  subproblems?: Array<{ type?: string; detail?: string; identifier?: AcmeIdentifier }>;
  /** The identifier it concerns. */
  identifier?: AcmeIdentifier;
}

/** An order object (RFC 8555 §7.1.3) plus its URL. */
export interface AcmeOrder {
  /** The order URL. */
  url: string;
  /** The order's status. */
  status: AcmeStatus;
  /** When the order expires (RFC 3339). */
  expires?: string;
  /** What the certificate will cover. */
  identifiers: AcmeIdentifier[];
  /** Requested start of validity. */
  notBefore?: string;
  /** Requested end of validity. */
  notAfter?: string;
  /** Why the order is invalid. */
  error?: AcmeProblemDocument;
  /** URLs of its authorizations. */
  authorizations: string[];
  /** URL to finalize it with a CSR. */
  finalize: string;
  /** URL of the issued certificate, once valid. */
  certificate?: string;
  /** draft-ietf-acme-profiles. */
  profile?: string;
  /** RFC 9773 §5. */
  replaces?: string;
  /** Milliseconds the server asked us to wait before polling again (Retry-After), if any. */
  retryAfterMs?: number;
}

/** A challenge object (RFC 8555 §7.1.5, §8). */
export interface AcmeChallenge {
  /** The challenge type, e.g. `http-01`. */
  type: string;
  /** The challenge URL. */
  url: string;
  /** The challenge's status. */
  status: AcmeStatus;
  /** The token the key authorization is built from. */
  token: string;
  /** When it was validated (RFC 3339). */
  validated?: string;
  /** Why validation failed. */
  error?: AcmeProblemDocument;
  /** Milliseconds the server asked us to wait before checking again (Retry-After, RFC 8555 §8.2), if any. */
  retryAfterMs?: number;
}

/** An authorization object (RFC 8555 §7.1.4) plus its URL. */
export interface AcmeAuthorization {
  /** The authorization URL. */
  url: string;
  /** The identifier it authorizes (without `*.` for a wildcard). */
  identifier: AcmeIdentifier;
  /** The authorization's status. */
  status: AcmeStatus;
  /** When it expires (RFC 3339). */
  expires?: string;
  /** The challenges on offer (types this client cannot read are left out). */
  challenges: AcmeChallenge[];
  /** Whether it is for a wildcard of the identifier. */
  wildcard?: boolean;
  /** The response's `Retry-After`, in ms. */
  retryAfterMs?: number;
}

/** A downloaded certificate chain (RFC 8555 §7.4.2). */
export interface CertificateChain {
  /** URL the chain was fetched from. */
  url: string;
  /** The full PEM chain, leaf first. */
  pem: string;
  /** URLs of alternate chains (`Link: rel="alternate"`). */
  alternateUrls: string[];
}

/** A renewal window suggested by the CA (RFC 9773 §4.2). */
export interface RenewalInfo {
  /** When the CA suggests renewing. */
  suggestedWindow: { start: Date; end: Date };
  /** A page that explains the window (e.g. a mass revocation). */
  explanationURL?: string;
  /** When to ask again (Retry-After), in milliseconds. */
  retryAfterMs?: number;
}

/** CRL reason codes usable in revocation requests (RFC 5280 §5.3.1, RFC 8555 §7.6). */
export const RevocationReason = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
/** One of the {@link RevocationReason} codes. */
export type RevocationReasonCode = (typeof RevocationReason)[keyof typeof RevocationReason];
