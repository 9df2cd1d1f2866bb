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
  type: "dns" | "ip";
  value: string;
}

/** The directory object (RFC 8555 §7.1.1), with ARI (RFC 9773) and profiles. */
export interface AcmeDirectory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  newAuthz?: string;
  revokeCert: string;
  keyChange: string;
  /** ARI endpoint (RFC 9773 §4). */
  renewalInfo?: string;
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
  url: string;
  status: "valid" | "deactivated" | "revoked";
  contact?: string[];
  termsOfServiceAgreed?: boolean;
  orders?: string;
  externalAccountBinding?: unknown;
}

/** A problem as embedded in ACME objects (RFC 8555 §6.7, RFC 7807). */
export interface AcmeProblemDocument {
  type?: string;
  title?: string;
  detail?: string;
  status?: number;
  instance?: string;
  subproblems?: Array<{ type?: string; detail?: string; identifier?: AcmeIdentifier }>;
  identifier?: AcmeIdentifier;
}

/** An order object (RFC 8555 §7.1.3) plus its URL. */
export interface AcmeOrder {
  url: string;
  status: AcmeStatus;
  expires?: string;
  identifiers: AcmeIdentifier[];
  notBefore?: string;
  notAfter?: string;
  error?: AcmeProblemDocument;
  authorizations: string[];
  finalize: string;
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
  type: string;
  url: string;
  status: AcmeStatus;
  token: string;
  validated?: string;
  error?: AcmeProblemDocument;
  /** Milliseconds the server asked us to wait before checking again (Retry-After, RFC 8555 §8.2), if any. */
  retryAfterMs?: number;
}

/** An authorization object (RFC 8555 §7.1.4) plus its URL. */
export interface AcmeAuthorization {
  url: string;
  identifier: AcmeIdentifier;
  status: AcmeStatus;
  expires?: string;
  challenges: AcmeChallenge[];
  wildcard?: boolean;
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
  suggestedWindow: { start: Date; end: Date };
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
