import { EdgecertError } from "../errors.ts";
import { base64urlEncode } from "../webcrypto/base64url.ts";
import type { CertificateInfo } from "../webcrypto/x509.ts";

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
