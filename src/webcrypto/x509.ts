import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AuthorityKeyIdentifier,
  Certificate,
  Name,
  SubjectAlternativeName,
  id_ce_authorityKeyIdentifier,
  id_ce_subjectAltName,
} from "@peculiar/asn1-x509";
import { EdgecertError } from "../errors.ts";
import { toBytes, toHex } from "./bytes.ts";
import { exportJwk, exportSpki } from "./keys.ts";
import { pemDecode } from "./pem.ts";
import type { Bytes, CryptoKey, CryptoKeyPair } from "./web-types.ts";

/** What edgecert reads out of an X.509 certificate (RFC 5280). */
export interface CertificateInfo {
  /** Serial number, lower-case hex of the DER INTEGER content (leading 00 kept if present). */
  serialNumber: string;
  /** Serial number content octets (for ARI certificate ids, RFC 9773 §4.1). */
  serialBytes: Bytes;
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
  /** DNS names in the SAN extension. */
  dnsNames: string[];
  /** IP addresses in the SAN extension. */
  ipAddresses: string[];
  /** Issuer distinguished name, e.g. `CN=Pebble Intermediate CA 1a2b3c`. */
  issuer: string;
  /** Issuer common name, when present. */
  issuerCommonName?: string;
  /** The subject's distinguished name. */
  subject: string;
  /** The subject's CN, when there is one. */
  subjectCommonName?: string;
  /** Authority key identifier, lower-case hex, when the extension has a keyIdentifier. */
  authorityKeyIdentifier?: string;
  /** Authority key identifier bytes. */
  authorityKeyIdentifierBytes?: Bytes;
  /** DER of the whole certificate. */
  der: Bytes;
  /** DER of the certificate's SubjectPublicKeyInfo. */
  spki: Bytes;
}

const SHORT_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
};

function nameToString(name: Name): { text: string; commonName?: string } {
  let commonName: string | undefined;
  const parts: string[] = [];
  for (const rdn of name) {
    for (const atv of rdn) {
      const value = atv.value.toString();
      if (atv.type === "2.5.4.3" && commonName === undefined) commonName = value;
      parts.push(`${SHORT_NAMES[atv.type] ?? atv.type}=${value}`);
    }
  }
  return commonName === undefined ? { text: parts.join(", ") } : { text: parts.join(", "), commonName };
}

/**
 * Parses a certificate (PEM — the first CERTIFICATE block — or DER). Throws `EdgecertError`
 * (`malformed_pem` / `malformed_der`) on bad input.
 */
export function parseCertificate(input: string | Uint8Array): CertificateInfo {
  const der = typeof input === "string" ? pemDecode(input, "CERTIFICATE").der : toBytes(input);
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(der, Certificate);
  } catch (cause) {
    throw new EdgecertError("malformed_der", "not a DER X.509 certificate", { cause });
  }
  const tbs = cert.tbsCertificate;
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  let aki: Bytes | undefined;
  try {
    for (const ext of tbs.extensions ?? []) {
      if (ext.extnID === id_ce_subjectAltName) {
        for (const gn of AsnConvert.parse(ext.extnValue, SubjectAlternativeName)) {
          if (gn.dNSName !== undefined) dnsNames.push(gn.dNSName);
          if (gn.iPAddress !== undefined) ipAddresses.push(gn.iPAddress);
        }
      } else if (ext.extnID === id_ce_authorityKeyIdentifier) {
        const parsed = AsnConvert.parse(ext.extnValue, AuthorityKeyIdentifier);
        if (parsed.keyIdentifier) aki = new Uint8Array(parsed.keyIdentifier.buffer);
      }
    }
  } catch (cause) {
    throw new EdgecertError("malformed_der", "certificate has a malformed extension", { cause });
  }
  const serialBytes = new Uint8Array(tbs.serialNumber);
  const issuer = nameToString(tbs.issuer);
  const subject = nameToString(tbs.subject);
  const info: CertificateInfo = {
    serialNumber: toHex(serialBytes),
    serialBytes,
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    dnsNames,
    ipAddresses,
    issuer: issuer.text,
    subject: subject.text,
    der,
    spki: new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)),
  };
  if (issuer.commonName !== undefined) info.issuerCommonName = issuer.commonName;
  if (subject.commonName !== undefined) info.subjectCommonName = subject.commonName;
  if (aki) {
    info.authorityKeyIdentifier = toHex(aki);
    info.authorityKeyIdentifierBytes = aki;
  }
  return info;
}

/**
 * Whether `key` (either half of a pair) is the key the certificate was issued for: its public key's
 * SPKI equals the certificate's. Checked before a certificate is stored with a key.
 */
export async function certificateMatchesKey(certificate: string | Uint8Array | CertificateInfo, key: CryptoKey | CryptoKeyPair): Promise<boolean> {
  const info = typeof certificate === "object" && "spki" in certificate ? certificate : parseCertificate(certificate);
  let publicKey: CryptoKey;
  if ("publicKey" in key) publicKey = key.publicKey;
  else if (key.type === "public") publicKey = key;
  else {
    // A private key alone: derive its public half through the JWK, as importPrivateKeyPem does.
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, key_ops: _ops, ...pub } = await exportJwk(key);
    publicKey = await crypto.subtle.importKey("jwk", pub, key.algorithm as unknown as Parameters<typeof crypto.subtle.importKey>[2], true, ["verify"]);
  }
  const spki = new Uint8Array(await exportSpki(publicKey));
  return spki.length === info.spki.length && spki.every((b, i) => b === info.spki[i]);
}
