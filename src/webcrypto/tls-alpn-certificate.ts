import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  Certificate,
  Extension,
  Extensions,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from "@peculiar/asn1-x509";
import { toArrayBuffer } from "./bytes.ts";
import { commonNameSubject, subjectAltNameExtension } from "./x509-names.ts";
import { exportPrivateKeyPem, exportSpki, generateKeyPair } from "./keys.ts";
import { pemEncode } from "./pem.ts";
import { signForX509, x509SignatureAlgorithm } from "./x509-signature.ts";
import type { Bytes, CryptoKeyPair } from "./web-types.ts";

/** The ALPN protocol name a tls-alpn-01 validation negotiates (RFC 8737 §6.2). */
export const ACME_TLS_ALPN_PROTOCOL = "acme-tls/1";

/** OID of the acmeIdentifier extension (RFC 8737 §6.1). */
export const ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31";

/** Options for {@link createTlsAlpn01Certificate}. */
export interface TlsAlpn01CertificateOptions {
  /** The identifier being validated. */
  identifier: { type: "dns" | "ip"; value: string };
  /** The challenge's key authorization (`token.thumbprint`). */
  keyAuthorization: string;
  /** Key pair for the certificate; a fresh P-256 key by default. */
  keyPair?: CryptoKeyPair;
}

/** A self-signed tls-alpn-01 certificate with its key, ready for a TLS server. */
export interface TlsAlpn01Certificate {
  /** The self-signed certificate, PEM. */
  certificatePem: string;
  /** The same, DER. */
  certificateDer: Bytes;
  /** Its key, PKCS#8 PEM. */
  privateKeyPem: string;
  /** Its key pair. */
  keyPair: CryptoKeyPair;
}

/**
 * Creates the self-signed certificate a server presents for a tls-alpn-01 challenge: one SAN for the
 * identifier and the critical acmeIdentifier extension holding SHA-256 of the key authorization
 * (RFC 8737 §3; IP identifiers per RFC 8738 §6).
 */
export async function createTlsAlpn01Certificate(options: TlsAlpn01CertificateOptions): Promise<TlsAlpn01Certificate> {
  const keyPair = options.keyPair ?? (await generateKeyPair("ES256"));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(options.keyAuthorization));
  // RFC 8737 §3: extnValue is the DER encoding of an OCTET STRING holding the digest; critical.
  const acmeIdentifier = new Extension({
    extnID: ACME_IDENTIFIER_OID,
    critical: true,
    extnValue: new OctetString(AsnConvert.serialize(new OctetString(digest))),
  });
  const { type, value } = options.identifier;
  const san = subjectAltNameExtension(type === "dns" ? [value] : [], type === "ip" ? [value] : []);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive, no leading zero (RFC 5280 §4.1.2.2)
  const now = Date.now();
  const name = commonNameSubject("edgecert tls-alpn-01");
  const spki = await exportSpki(keyPair.publicKey);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(serial),
    issuer: name,
    subject: name,
    validity: new Validity({
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 7 * 86400_000),
    }),
    subjectPublicKeyInfo: AsnConvert.parse(spki, SubjectPublicKeyInfo),
    extensions: new Extensions([san, acmeIdentifier]),
  });
  // RFC 5280 §4.1.2.3: the TBS signature field must equal the outer signatureAlgorithm.
  tbs.signature = x509SignatureAlgorithm(keyPair.privateKey);
  const { algorithm, signature } = await signForX509(keyPair.privateKey, new Uint8Array(AsnConvert.serialize(tbs)));
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: signature });
  const certificateDer = new Uint8Array(AsnConvert.serialize(cert));
  return {
    certificatePem: pemEncode("CERTIFICATE", certificateDer),
    certificateDer,
    privateKeyPem: await exportPrivateKeyPem(keyPair.privateKey),
    keyPair,
  };
}
