import { EdgecertError } from "../errors.ts";
import { toBytes, toHex } from "./bytes.ts";
import { DER, decodeDerTime, encodeDer, readDerChildren, readDerWhole, type DerElement } from "./der.ts";
import { readExtensions } from "./x509-extensions.ts";
import { OID_COMMON_NAME, OID_SUBJECT_ALT_NAME, readName, readSubjectAltNames } from "./x509-names.ts";
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

/** id-ce-authorityKeyIdentifier (RFC 5280 §4.2.1.1). */
const OID_AUTHORITY_KEY_IDENTIFIER = "2.5.29.35";

function nameToString(name: DerElement): { text: string; commonName?: string } {
  let commonName: string | undefined;
  const parts: string[] = [];
  for (const { type, value } of readName(name)) {
    if (type === OID_COMMON_NAME && commonName === undefined) commonName = value;
    parts.push(`${SHORT_NAMES[type] ?? type}=${value}`);
  }
  return commonName === undefined ? { text: parts.join(", ") } : { text: parts.join(", "), commonName };
}

/** The fields of a TBSCertificate (RFC 5280 §4.1) that edgecert reads, with their tags checked. */
function readTbs(der: Bytes) {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
  const [tbs, algorithm, signature, extra] = readDerChildren(readDerWhole(der, DER.SEQUENCE, "Certificate").value);
  if (tbs?.tag !== DER.SEQUENCE || algorithm?.tag !== DER.SEQUENCE || signature?.tag !== DER.BIT_STRING || extra) throw new Error("not SEQUENCE { tbsCertificate, signatureAlgorithm, BIT STRING }");
  const fields = readDerChildren(tbs.value);
  // version [0] EXPLICIT DEFAULT v1, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo,
  // issuerUniqueID [1], subjectUniqueID [2], extensions [3] EXPLICIT
  const at = fields[0]?.tag === 0xa0 ? 1 : 0;
  const [serial, sigAlg, issuer, validity, subject, spki] = fields.slice(at, at + 6);
  const tags = [serial?.tag, sigAlg?.tag, issuer?.tag, validity?.tag, subject?.tag, spki?.tag];
  if (tags.join() !== [DER.INTEGER, DER.SEQUENCE, DER.SEQUENCE, DER.SEQUENCE, DER.SEQUENCE, DER.SEQUENCE].join()) throw new Error("a TBSCertificate missing a field");
  const rest = fields.slice(at + 6);
  // Each optional field at most once, in order: [1] 0x81, [2] 0x82 (IMPLICIT BIT STRING), [3] 0xa3.
  if (rest.some((f, i) => ![0x81, 0x82, 0xa3].includes(f.tag) || (i > 0 && f.tag <= rest[i - 1]!.tag))) throw new Error("a TBSCertificate with unexpected fields");
  const [notBefore, notAfter, more] = readDerChildren(validity!.value);
  if (!notBefore || !notAfter || more) throw new Error("a Validity that is not two times");
  const extensions = rest.find((f) => f.tag === 0xa3);
  return { serial: serial!, issuer: issuer!, subject: subject!, spki: spki!, notBefore, notAfter, extensions: extensions && readDerWhole(extensions.value, DER.SEQUENCE, "extensions") };
}

/**
 * Parses a certificate (PEM — the first CERTIFICATE block — or DER). Throws `EdgecertError`
 * (`malformed_pem` / `malformed_der`) on bad input.
 */
export function parseCertificate(input: string | Uint8Array): CertificateInfo {
  const der = typeof input === "string" ? pemDecode(input, "CERTIFICATE").der : toBytes(input);
  let tbs: ReturnType<typeof readTbs>;
  let validity: { notBefore: Date; notAfter: Date };
  let issuer: ReturnType<typeof nameToString>;
  let subject: ReturnType<typeof nameToString>;
  try {
    tbs = readTbs(der);
    validity = { notBefore: decodeDerTime(tbs.notBefore), notAfter: decodeDerTime(tbs.notAfter) };
    issuer = nameToString(tbs.issuer);
    subject = nameToString(tbs.subject);
  } catch (cause) {
    throw new EdgecertError("malformed_der", "not a DER X.509 certificate", { cause });
  }
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  let aki: Bytes | undefined;
  try {
    for (const ext of tbs.extensions ? readExtensions(tbs.extensions) : []) {
      if (ext.oid === OID_SUBJECT_ALT_NAME) {
        const san = readSubjectAltNames(ext.value);
        dnsNames.push(...san.dnsNames);
        ipAddresses.push(...san.ipAddresses);
      } else if (ext.oid === OID_AUTHORITY_KEY_IDENTIFIER) {
        // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... }
        const keyIdentifier = readDerChildren(readDerWhole(ext.value, DER.SEQUENCE, "authorityKeyIdentifier").value).find((f) => f.tag === 0x80);
        if (keyIdentifier) aki = keyIdentifier.value.slice();
      }
    }
  } catch (cause) {
    throw new EdgecertError("malformed_der", "certificate has a malformed extension", { cause });
  }
  const serialBytes = tbs.serial.value.slice();
  const info: CertificateInfo = {
    serialNumber: toHex(serialBytes),
    serialBytes,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    dnsNames,
    ipAddresses,
    issuer: issuer.text,
    subject: subject.text,
    der,
    spki: encodeDer(tbs.spki.tag, tbs.spki.value),
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
