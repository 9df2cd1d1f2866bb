import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { Attribute, Extension, Extensions, SubjectAlternativeName, SubjectPublicKeyInfo, id_ce_subjectAltName } from "@peculiar/asn1-x509";
import { Attributes, CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import { EdgecertError } from "../errors.ts";
import { concatBytes, toBytes } from "./bytes.ts";
import { encodeDer } from "./der.ts";
import { exportSpki } from "./keys.ts";
import { signForX509 } from "./x509-signature.ts";
import { OID_COMMON_NAME, commonNameSubject, subjectAltNameExtension } from "./x509-names.ts";
import type { Bytes, CryptoKeyPair } from "./web-types.ts";

/** Options for {@link createCsr}. */
export interface CreateCsrOptions {
  /** The certificate key pair; the CSR is signed with its private key. */
  key: CryptoKeyPair;
  /** DNS names (A-labels, wildcards allowed). */
  names?: string[];
  /** IP addresses for RFC 8738 IP identifiers. */
  ipAddresses?: string[];
  /** Subject common name; defaults to the first DNS name when it fits (≤ 64 characters, RFC 5280 ub-common-name). */
  commonName?: string;
  /** Extra extensions to request (e.g. TLS Feature "must-staple"). */
  extensions?: CsrExtension[];
}

/** An X.509 extension to request in a CSR (RFC 5280 §4.1: `Extension`), by OID and DER value. */
export interface CsrExtension {
  /** The extension's OID, e.g. `"1.3.6.1.5.5.7.1.24"` for TLS Feature (RFC 7633). */
  oid: string;
  /** Whether the extension is critical. Default: false. */
  critical?: boolean;
  /** The DER encoding the extension's OCTET STRING wraps (`extnValue`). */
  value: Uint8Array;
}

const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";

/**
 * Creates a PKCS#10 certificate signing request (RFC 2986) with the names in a subjectAltName extension
 * request, as RFC 8555 §7.4 requires. Returns DER.
 */
export async function createCsr(options: CreateCsrOptions): Promise<Bytes> {
  const names = options.names ?? [];
  const ips = options.ipAddresses ?? [];
  if (names.length + ips.length === 0) {
    throw new EdgecertError("invalid_input", "a CSR needs at least one DNS name or IP address");
  }
  const cn = options.commonName ?? (names[0] !== undefined && names[0].length <= 64 ? names[0] : undefined);
  // RFC 5280 §4.2.1.6: the SAN is critical when the subject is empty.
  const san = subjectAltNameExtension(names, ips, !cn);
  const extra = (options.extensions ?? []).map(
    (e) => new Extension({ extnID: e.oid, critical: e.critical ?? false, extnValue: new OctetString(toBytes(e.value)) }),
  );
  const extensions = new Extensions([san, ...extra]);
  const spki = await exportSpki(options.key.publicKey);
  const info = new CertificationRequestInfo({
    version: 0,
    subject: commonNameSubject(cn),
    subjectPKInfo: AsnConvert.parse(spki, SubjectPublicKeyInfo),
    attributes: new Attributes([
      new Attribute({ type: OID_EXTENSION_REQUEST, values: [AsnConvert.serialize(extensions)] }),
    ]),
  });
  const infoDer = new Uint8Array(AsnConvert.serialize(info));
  const { algorithm, signature } = await signForX509(options.key.privateKey, infoDer);
  // RFC 2986 §4.2: SEQUENCE { info, signatureAlgorithm, BIT STRING signature } — assembled from the bytes
  // just signed rather than serializing the info a second time.
  const bitString = new Uint8Array(signature.byteLength + 1);
  bitString.set(new Uint8Array(signature), 1);
  return encodeDer(0x30, concatBytes(infoDer, new Uint8Array(AsnConvert.serialize(algorithm)), encodeDer(0x03, bitString)));
}

/** The names a CSR asks for: SAN DNS names and IP addresses, or the subject CN when there is no SAN. */
export function readCsrNames(der: Uint8Array): { dnsNames: string[]; ipAddresses: string[] } {
  let csr: CertificationRequest;
  try {
    csr = AsnConvert.parse(toBytes(der), CertificationRequest);
  } catch (cause) {
    throw new EdgecertError("malformed_der", "not a DER PKCS#10 certificate request", { cause });
  }
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  try {
    for (const attr of csr.certificationRequestInfo.attributes ?? []) {
      if (attr.type !== OID_EXTENSION_REQUEST) continue;
      for (const value of attr.values) {
        for (const ext of AsnConvert.parse(value, Extensions)) {
          if (ext.extnID !== id_ce_subjectAltName) continue;
          for (const gn of AsnConvert.parse(ext.extnValue, SubjectAlternativeName)) {
            if (gn.dNSName !== undefined) dnsNames.push(gn.dNSName);
            if (gn.iPAddress !== undefined) ipAddresses.push(gn.iPAddress);
          }
        }
      }
    }
  } catch (cause) {
    throw new EdgecertError("malformed_der", "the CSR has a malformed extension request", { cause });
  }
  if (dnsNames.length + ipAddresses.length === 0) {
    for (const rdn of csr.certificationRequestInfo.subject) {
      for (const atv of rdn) if (atv.type === OID_COMMON_NAME) dnsNames.push(atv.value.toString());
    }
  }
  if (dnsNames.length + ipAddresses.length === 0) throw new EdgecertError("invalid_input", "the CSR names no identifier");
  return { dnsNames, ipAddresses };
}
