import { EdgecertError } from "../errors.ts";
import { base64urlEncode } from "../webcrypto/base64url.ts";
import type { CertificateInfo } from "../webcrypto/x509.ts";

/** Shortest and longest wait before asking for renewal info again (RFC 9773 §4.3: about a minute to a day). */
export const ARI_RETRY_AFTER_BOUNDS_MS = { min: 60_000, max: 86_400_000 } as const;

/**
 * A CA's `Retry-After` for renewal info, held to RFC 9773 §4.3's advice: values under a minute count
 * as a minute, values over a day as a day (a CA mistake must neither hammer it nor stop checking).
 */
export function clampAriRetryAfter(ms: number): number {
  return Math.min(ARI_RETRY_AFTER_BOUNDS_MS.max, Math.max(ARI_RETRY_AFTER_BOUNDS_MS.min, ms));
}

/**
 * The ARI certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial number octets)
 * (RFC 9773 §4.1). Used for `renewalInfo` lookups and the `replaces` field of a new order.
 */
export function ariCertificateId(cert: Pick<CertificateInfo, "authorityKeyIdentifierBytes" | "serialBytes">): string {
  if (!cert.authorityKeyIdentifierBytes) {
    throw new EdgecertError("invalid_input", "the certificate has no Authority Key Identifier, so it has no ARI id");
  }
  return `${base64urlEncode(cert.authorityKeyIdentifierBytes)}.${base64urlEncode(cert.serialBytes)}`;
}
