/**
 * Builds and signs an X.509 v3 certificate (RFC 5280 §4.1) from DER parts: the tls-alpn-01 certificate,
 * and the certificates the tests' stand-in CAs issue.
 * @module
 */
import { DER, derSequence, encodeDer, encodeDerTime } from "./der.ts";
import { signX509, x509SignatureAlgorithm } from "./x509-signature.ts";
import type { Bytes, CryptoKey } from "./web-types.ts";

/** What a certificate says, as DER where X.509 has a structure for it. */
export interface CertificateFields {
  /** The serial's INTEGER content octets (positive: the first octet below 0x80, RFC 5280 §4.1.2.2). */
  serial: Bytes;
  /** Issuer Name, DER. */
  issuer: Bytes;
  /** Subject Name, DER. */
  subject: Bytes;
  notBefore: Date;
  notAfter: Date;
  /** The subject's SubjectPublicKeyInfo, DER (`crypto.subtle.exportKey("spki", …)`). */
  spki: Bytes;
  /** Extension DERs (./x509-extensions.ts), in order. */
  extensions?: Bytes[];
  /** The issuer's private key, which signs the certificate. */
  signer: CryptoKey;
}

/** DER of the certificate `fields` describe, signed by `fields.signer`. */
export function buildCertificate(fields: CertificateFields): Promise<Bytes> {
  const tbs = derSequence(
    encodeDer(0xa0, encodeDer(DER.INTEGER, new Uint8Array([2]))), // [0] EXPLICIT version v3
    encodeDer(DER.INTEGER, fields.serial),
    // RFC 5280 §4.1.2.3: the same AlgorithmIdentifier as the outer signatureAlgorithm.
    x509SignatureAlgorithm(fields.signer),
    fields.issuer,
    derSequence(encodeDerTime(fields.notBefore), encodeDerTime(fields.notAfter)),
    fields.subject,
    fields.spki,
    ...(fields.extensions?.length ? [encodeDer(0xa3, derSequence(...fields.extensions))] : []), // [3] EXPLICIT
  );
  return signX509(fields.signer, tbs);
}
